// Live events: `GET /api/events` upgrades to a WebSocket that streams, as they happen, the bodies
// the webhooks get (message, status, connection, group) and device states (status, QR), as
// `{event, deviceId, data}` frames. A device key sees its own device, the admin key every device.
// The key comes in the Authorization header; a browser, which cannot set one on a WebSocket, first
// asks `POST /api/events/ticket` and opens `/api/events?ticket=…` (events/tickets.ts). The sockets
// live in the EventHub Durable Object (events/hub.ts).
import { drizzle } from 'drizzle-orm/d1';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { endpoint } from '../api/openapi.ts';
import { authenticate, unauthorized } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { AUDIENCE_HEADER, type Audience, HUB_NAME } from '../events/hub.ts';
import { issueTicket, readTicket } from '../events/tickets.ts';

const hub = (env: Env) => env.EVENT_HUB.getByName(HUB_NAME);

/** Whose events a request may see: from its ticket (used up here) or its key. */
async function audienceOf(env: Env, request: Request, ticket: string | undefined): Promise<Audience> {
  if (ticket !== undefined) {
    const body = await readTicket(env, ticket);
    if (!body || !(await hub(env).useTicket(body.id, body.expiresAt))) throw new HTTPException(401, { message: 'ticket: unknown, expired or already used (ask POST /api/events/ticket for a new one)' });
    return body.audience;
  }
  const caller = await authenticate(drizzle(env.DB), env, request.headers.get('authorization') ?? undefined);
  if (!caller) throw await unauthorized(env, request);
  return caller.admin ? { admin: true } : { admin: false, deviceId: caller.device.id };
}

/** The socket itself: mounted before the API's middleware, which would touch the 101's headers. */
export const eventsSocket = new Hono<AppEnv>().get(
  '/',
  endpoint({
    summary: 'Live events over a WebSocket',
    description:
      'Upgrade with `Authorization` (a device key: its device; the admin key: every device), or with `?ticket=` from POST /api/events/ticket. Frames: `{event, deviceId, data}`, where event is message, status, connection or group (data: the webhook body) or device (data: the device state, with its QR code); the first frame is `{event:"ready"}`. Send "ping" for a "pong".',
    auth: 'none',
    responses: { 101: z.null().meta({ description: 'Switching Protocols: the event stream' }) },
    errors: { 401: 'No key, a wrong key, or a bad ticket', 426: 'Not a WebSocket upgrade' },
  }),
  async (c) => {
    const audience = await audienceOf(c.env, c.req.raw, c.req.query('ticket'));
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw new HTTPException(426, { message: 'Upgrade Required: open this URL as a WebSocket' });
    const forwarded = new Request(c.req.raw, { headers: new Headers(c.req.raw.headers) });
    forwarded.headers.set(AUDIENCE_HEADER, JSON.stringify(audience));
    return hub(c.env).fetch(forwarded);
  },
);

export const eventTickets = new Hono<AppEnv>().post(
  '/ticket',
  endpoint({
    summary: 'A ticket to open the event stream from a browser',
    description: 'Good for one connection within a minute, to what the key may see: open `wss://<gateway>/api/events?ticket=<ticket>`.',
    auth: 'device',
    responses: { 200: z.object({ ticket: z.string(), expiresAt: z.number().int().meta({ description: 'Unix ms' }) }) },
  }),
  async (c) => {
    const caller = c.var.caller;
    return c.json(await issueTicket(c.env, caller.admin ? { admin: true } : { admin: false, deviceId: caller.device.id }));
  },
);
