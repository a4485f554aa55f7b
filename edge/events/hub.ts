// EventHub: the Durable Object behind `GET /api/events`. It holds the API clients' event sockets
// with the Hibernation API (tagged by what each may see: `admin`, or `device:<id>`) and fans out
// what the HostLinks publish: webhook bodies and device states, as they happen. Between events
// it sleeps, holding the sockets without running.
//
// One hub for the whole gateway: events are small and batched per HostLink turn, so one object
// carries thousands a second; the tags make each publish touch only the sockets that may see it.
// While nobody listens, the hub tells the HostLinks to stop publishing (their `publish` learns it
// from the answer), and tells them to start again when a client connects.
import { DurableObject } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { hostsTable } from '../db/schema.ts';
import { DEFAULT_HOST_ID } from '../link/projection.ts';

/** One event as clients get it: a webhook's `event` and body, or `device` with the device's state. */
export interface LiveEvent {
  event: string;
  deviceId: string;
  data: unknown;
}

/** Who a socket belongs to: the admin key sees every device, a device key its own. */
export type Audience = { admin: true } | { admin: false; deviceId: string };

export const AUDIENCE_HEADER = 'x-events-audience';
const ADMIN_TAG = 'admin';
const deviceTag = (id: string) => `device:${id}`;
/** Tickets are good for a minute; a used one is remembered that long, then forgotten. */
export const TICKET_TTL_MS = 60_000;

/**
 * What a publish learns: whether anyone listens, and in which listening period (`epoch`) the hub
 * said so. A HostLink told "nobody" stops publishing only if no newer period has begun since:
 * the answer may have been on its way while the first client arrived and `listen` was sent.
 */
export interface Published {
  listening: boolean;
  epoch: number;
}

/** Hands events to the hub from anywhere in the edge; never fails the caller (the stream is best effort). */
export async function publish(env: Env, events: LiveEvent[]): Promise<Published> {
  try {
    return await env.EVENT_HUB.getByName(HUB_NAME).publish(events);
  } catch (error) {
    console.warn('live events not published:', error);
    return { listening: true, epoch: 0 };
  }
}

export const HUB_NAME = 'events';

export class EventHub extends DurableObject<Env> {
  /** Tickets already used, until they expire (in memory: a restart drops sockets and tickets alike). */
  private readonly usedTickets = new Map<string, number>();
  /** The listening period: one more each time a first client arrives; from the clock, so a restart only goes up. */
  private epoch = Date.now() * 1000;

  /** The upgrade, forwarded by the Worker once it knew who is asking (the audience header). */
  async fetch(request: Request): Promise<Response> {
    const audience = JSON.parse(request.headers.get(AUDIENCE_HEADER) ?? 'null') as Audience | null;
    if (!audience) return Response.json({ error: 'no audience' }, { status: 400 });
    const { 0: client, 1: server } = new WebSocketPair();
    const first = this.ctx.getWebSockets().length === 0;
    this.ctx.acceptWebSocket(server, [audience.admin ? ADMIN_TAG : deviceTag(audience.deviceId)]);
    server.send(JSON.stringify({ event: 'ready', audience: audience.admin ? 'admin' : audience.deviceId }));
    if (first) {
      this.epoch++;
      this.ctx.waitUntil(this.wakeHosts(this.epoch));
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A ticket's single use: true the first time within its life, false after. */
  async useTicket(id: string, expiresAt: number): Promise<boolean> {
    const now = Date.now();
    for (const [ticket, until] of this.usedTickets) if (until <= now) this.usedTickets.delete(ticket);
    if (expiresAt <= now || this.usedTickets.has(id)) return false;
    this.usedTickets.set(id, expiresAt);
    return true;
  }

  /** Sends each event to the sockets that may see it; answers whether anyone listens at all. */
  async publish(events: LiveEvent[]): Promise<Published> {
    const everyone = this.ctx.getWebSockets();
    if (!everyone.length) return { listening: false, epoch: this.epoch };
    const admins = this.ctx.getWebSockets(ADMIN_TAG);
    for (const event of events) {
      const frame = JSON.stringify(event);
      for (const ws of [...admins, ...this.ctx.getWebSockets(deviceTag(event.deviceId))]) {
        try {
          ws.send(frame);
        } catch {
          // Closing: its close handler tidies up.
        }
      }
    }
    return { listening: true, epoch: this.epoch };
  }

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Clients only listen; a ping is answered so they can tell a dead socket from a quiet one.
    if (message === 'ping') ws.send('pong');
  }

  async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, 'closed');
    } catch {
      // The runtime answered the close already.
    }
  }

  /** The first listener: every HostLink publishes again (they stopped while nobody listened). */
  private async wakeHosts(epoch: number): Promise<void> {
    const rows = await drizzle(this.env.DB).select({ id: hostsTable.id }).from(hostsTable);
    const ids = [...(this.env.HOST_SECRET ? [DEFAULT_HOST_ID] : []), ...rows.map((r) => r.id)];
    await Promise.all(
      ids.map((id) =>
        this.env.HOST_LINK.getByName(id)
          .listen(id, epoch)
          .catch(() => undefined),
      ),
    );
  }
}
