import { Hono } from 'hono';
import type { AppEnv } from './env.ts';
import { notFound, onError } from './errors.ts';
import { healthz } from './routes/healthz.ts';

const app = new Hono<AppEnv>();

app.route('/healthz', healthz);

app.onError(onError);
app.notFound(notFound);

export default app;
export { HostLink } from './link/host-link.ts';
