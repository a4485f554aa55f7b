import type { ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from './env.ts';

// The single error path: expected failures are thrown as HTTPException and keep their
// status and message (or their own response, for routes whose error body differs, like
// Fonnte's /send); anything else is logged and answered with the seed's 500 shape, so no
// internals (stack traces, SQL) ever reach a client.
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof HTTPException) {
    return err.res ? err.getResponse() : c.json({ error: err.message }, err.status);
  }
  console.error(`${c.req.method} ${c.req.path} failed:`, err);
  return c.json({ error: 'Internal Server Error' }, 500);
};

export const notFound: NotFoundHandler<AppEnv> = (c) => c.json({ error: 'Not found' }, 404);
