import { drizzle } from 'drizzle-orm/d1';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { mayCarryFile, uploadBodyLimit } from './api/uploads.ts';
import { getPath } from 'hono/utils/url';
import type { AppEnv } from './env.ts';
import { notFound, onError } from './errors.ts';
import { broadcasts } from './routes/broadcasts.ts';
import { chats } from './routes/chats.ts';
import { webhookDeliveries } from './routes/webhook-deliveries.ts';
import { contacts } from './routes/contacts.ts';
import { demo } from './routes/demo.ts';
import { devices } from './routes/devices.ts';
import { eventsSocket, eventTickets } from './routes/events.ts';
import { fonnte } from './routes/fonnte.ts';
import { groups } from './routes/groups.ts';
import { healthz } from './routes/healthz.ts';
import { hosts } from './routes/hosts.ts';
import { inbox } from './routes/inbox.ts';
import { link } from './routes/link.ts';
import { media } from './routes/media.ts';
import { messages } from './routes/messages.ts';
import { openApi } from './routes/openapi.ts';
import { send } from './routes/send.ts';
import { stats } from './routes/stats.ts';
import { status } from './routes/status.ts';
import { waGroups } from './routes/wa-groups.ts';
import { serverTiming, timedD1 } from './timing.ts';

const MAX_BODY_BYTES = 1024 * 1024;

// Fonnte's clients build URLs from a base that may end in a slash (`//send`), and its docs write
// `/send/`: outside /api, doubled and trailing slashes are dropped before routing.
const fonntePath = (request: Request) => {
  const path = getPath(request);
  const tidy = path.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
  return tidy.startsWith('/api/') || tidy === '/api' ? path : tidy;
};

const app = new Hono<AppEnv>({ getPath: fonntePath });

const anyBodyLimit = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new HTTPException(413, { message: 'Request body too large: the limit is 1 MB (send media by URL)' });
  },
});

// Session hosts dialling in: before the API's middleware (no Server-Timing on a WebSocket upgrade).
app.route('/link', link);
app.route('/api/events', eventsSocket);
app.use(serverTiming);
// /send takes Fonnte's `file` uploads (up to 4 MB) in multipart bodies; other bodies stay within 1 MB.
app.use((c, next) => (c.req.path === '/send' && mayCarryFile(c) ? uploadBodyLimit(c, next) : anyBodyLimit(c, next)));
app.use((c, next) => {
  c.set('db', drizzle(timedD1(c.env.DB)));
  return next();
});

app.route('/healthz', healthz);
app.route('/send', send);
app.route('/api', messages);
app.route('/api/status', status);
app.route('/api/devices', devices);
// A device's chats and WhatsApp groups, live from its session.
app.route('/api/devices', chats);
app.route('/api/devices', waGroups);
app.route('/api/devices', webhookDeliveries);
app.route('/api/contacts', contacts);
app.route('/api/groups', groups);
app.route('/api/broadcasts', broadcasts);
app.route('/api/hosts', hosts);
app.route('/api/chats', inbox);
app.route('/api/stats', stats);
app.route('/api/media', media);
app.route('/api/events', eventTickets);
app.route('/api/demo', demo);
app.route('/api/openapi.json', openApi(app));
// Fonnte's other endpoints at Fonnte's paths (/validate, /device, /qr …).
app.route('/', fonnte);

app.onError(onError);
app.notFound(notFound);

export default app;
export { HostLink } from './link/host-link.ts';
export { KeyGuard } from './key-guard.ts';
export { EventHub } from './events/hub.ts';
