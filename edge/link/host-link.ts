// HostLink: one Durable Object per session host. It holds the link to the host (transport.ts),
// takes the API's sends in one call (dispatch.ts: the device keys and the message log live in its
// own storage, so a send never waits for D1), writes what the host reports into D1
// (projection.ts), and owns the durable outbox, delivered over the link by the scheduler
// (scheduler.ts, outbox.ts). A Durable Object has one alarm, so it
// serves all three: while the link is up it is set to the earlier of the next heartbeat and the
// next due send; while it is down, to the next re-dial (which delivers what came due on success).
// A host without a URL dials in instead (`fetch`: the same proof, sides swapped); its link is
// accepted with the Hibernation API and kept alive by the host's pings, which the runtime answers
// without waking the object: no heartbeat, no re-dial, the object sleeps between frames.
import { DurableObject } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { Challenges, checkDial, type EventData, type EventName, type Method, PING, PONG, type Params, type Result, welcomeFor } from '../../session-host/link/protocol.ts';
import { hostsTable } from '../db/schema.ts';
import { type LiveEvent, publish } from '../events/hub.ts';
import { Claims } from './claims.ts';
import { DeviceKeys } from './device-keys.ts';
import { Inbox, inboxRetentionDays } from './inbox.ts';
import { Dispatcher, type SendReply, type SendRequest } from './dispatch.ts';
import { MessageLog } from './message-log.ts';
import { Outbox } from './outbox.ts';
import { DEFAULT_HOST_ID, OFFLINE_REASON, Projection } from './projection.ts';
import { OutboxScheduler } from './scheduler.ts';
import { LinkTransport, type Outcome } from './transport.ts';

export { DEFAULT_HOST_ID } from './projection.ts';
export { MAX_ATTEMPTS } from './scheduler.ts';
export type { Outcome } from './transport.ts';

const HEARTBEAT_MS = 30_000;
/**
 * A host-dialled link silent this long (no frame, no ping) is taken for dead: the host pings every
 * 25 s, so this is three missed pings. Only then may another dial-in with the same id replace it.
 */
const SILENT_LINK_MS = 80_000;

/** What a host-dialled socket carries through the object's sleep. */
interface Attachment {
  hostId: string;
}

const refusal = (status: number, error: string) => Response.json({ error }, { status, headers: { 'cache-control': 'no-store' } });

export class HostLink extends DurableObject<Env> {
  /** Which host this object speaks for: `default` (HOST_URL) or a registered host's id. */
  private hostId = '';
  private nextBeatAt = 0;
  private readonly link: LinkTransport;
  private readonly scheduler: OutboxScheduler;
  private readonly keys: DeviceKeys;
  private readonly claims: Claims;
  private readonly log: MessageLog;
  private readonly dispatcher: Dispatcher;
  private projectionOf?: Projection;
  /** Live events waiting for this turn's publish, the chain of publishes, and whether anyone listens. */
  private liveBatch: LiveEvent[] = [];
  private livePublished: Promise<void> = Promise.resolve();
  private listening = true;
  private listenEpoch = 0;
  private inboxOf?: Inbox;
  /** Challenges for hosts that dial in; in memory, so none outlives the object (see protocol.ts). */
  private readonly challenges = new Challenges();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const log = () => `host link ${this.hostId}`;
    // A dialling host's keep-alive, answered by the runtime: the object is not woken for it.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.link = new LinkTransport({
      target: () => this.target(),
      accepted: () => ctx.getWebSockets().find((ws) => ws.readyState === WebSocket.OPEN),
      up: () => this.up(),
      // Behind the events this link delivered: none of them may turn a device back on afterwards.
      lost: () => {
        ctx.waitUntil(ctx.storage.put('lastSeenAt', Date.now()));
        ctx.waitUntil(
          this.link
            .inOrder(async () => {
              for (const id of await this.projection.markOffline()) this.live({ event: 'device', deviceId: id, data: { id, status: 'DISCONNECTED', qr: null, reason: OFFLINE_REASON } });
            })
            .catch((error) => console.error(`${log()}: marking devices offline failed:`, error)),
        );
      },
      retry: (ms) => ctx.waitUntil(ctx.storage.setAlarm(Date.now() + ms)),
      apply: (event, data) => this.apply(event, data),
      get log() {
        return log();
      },
    });
    this.keys = new DeviceKeys(ctx.storage.sql);
    this.claims = new Claims(ctx.storage.sql);
    this.log = new MessageLog(ctx.storage.sql, env.DB, 'host link');
    // Left from before a restart: copied into D1 now.
    if (this.log.size) ctx.waitUntil(this.log.flush().catch(() => undefined));
    this.scheduler = new OutboxScheduler({
      outbox: new Outbox(ctx.storage.sql),
      link: this.link,
      messageLog: this.log,
      projection: () => this.projection,
      waitUntil: (work) => ctx.waitUntil(work),
      // Never sooner than a moment from now: a send that keeps throwing must not spin the alarm.
      // A host-dialled link has no heartbeat: with nothing due, no alarm, and the object sleeps.
      wakeAt: (dueAt) => {
        const at = Math.min(this.link.via === 'edge' ? this.nextBeatAt : Number.POSITIVE_INFINITY, dueAt);
        return Number.isFinite(at) ? ctx.storage.setAlarm(Math.max(at, Date.now() + 250)) : ctx.storage.deleteAlarm();
      },
      get log() {
        return log();
      },
    });
    this.dispatcher = new Dispatcher({
      keys: this.keys,
      claims: this.claims,
      log: this.log,
      link: this.link,
      enqueue: (items) => {
        this.scheduler.enqueue(items);
        // While the link is down, the re-dial's alarm delivers on success; with none pending
        // (never dialled), one is set to dial now.
        if (!this.link.isUp) ctx.waitUntil(ctx.storage.getAlarm().then((alarm) => (alarm === null ? ctx.storage.setAlarm(Date.now()) : undefined)));
      },
      waitUntil: (work) => ctx.waitUntil(work.catch(() => undefined)),
    });
  }

  /** Received messages kept at the edge (the inbox). */
  private get inbox(): Inbox {
    this.inboxOf ??= new Inbox(this.env.DB, this.hostId, inboxRetentionDays(this.env.INBOX_RETENTION_DAYS));
    return this.inboxOf;
  }

  private get projection(): Projection {
    this.projectionOf ??= new Projection(this.env.DB, this.hostId);
    return this.projectionOf;
  }

  /** Learns (and remembers, for alarms) the host it serves; every entry point passes it. */
  private async bind(hostId: string): Promise<void> {
    if (this.hostId === hostId) return;
    this.hostId = hostId;
    this.projectionOf = undefined;
    this.inboxOf = undefined;
    await this.ctx.storage.put('hostId', hostId);
  }

  /** Where the host is (a null URL: it dials in) and its secret; undefined for a host nobody configured. */
  private async target(): Promise<{ url: string | null; secret: string } | undefined> {
    if (this.hostId === DEFAULT_HOST_ID) {
      return this.env.HOST_SECRET ? { url: this.env.HOST_URL || null, secret: this.env.HOST_SECRET } : undefined;
    }
    const [host] = await drizzle(this.env.DB).select().from(hostsTable).where(eq(hostsTable.id, this.hostId));
    return host && { url: host.url || null, secret: host.secret };
  }

  /** The link is up: heartbeat from now (if we dialled); settings first, so the host knows every device before the queue reaches it. */
  private up(): void {
    if (this.link.via === 'edge') {
      this.nextBeatAt = Date.now() + HEARTBEAT_MS;
      this.ctx.waitUntil(this.ctx.storage.setAlarm(this.nextBeatAt));
    }
    this.ctx.waitUntil(
      this.projection
        .sync(
          (method, params) => this.link.request(method, params),
          (work) => this.link.inOrder(work),
        )
        .then((status) => (status?.version ? this.ctx.storage.put('hostVersion', status.version) : undefined))
        .catch((error) => console.error(`host link ${this.hostId}: sync failed:`, error))
        .then(() => this.scheduler.flushNotices())
        .then(() => this.scheduler.drain()),
    );
  }

  private async apply<E extends EventName>(event: E, data: EventData<E>): Promise<void> {
    if (event === 'webhook') {
      const { deviceId, type, body } = data as EventData<'webhook'>;
      if (this.keys.check(deviceId, undefined) === 'ok') this.live({ event: type, deviceId, data: body });
    } else if (event === 'device.status') {
      const state = data as EventData<'device.status'>;
      await this.projection.applyStates([state]);
      if (state.status === 'CONNECTED') this.scheduler.deviceBack(state.id);
      if (this.keys.check(state.id, undefined) === 'ok') this.live({ event: 'device', deviceId: state.id, data: state });
    } else if (event === 'message.incoming') {
      await this.inbox.record(data as EventData<'message.incoming'>);
      if (this.inbox.pruneDue()) this.ctx.waitUntil(this.inbox.prune().catch((error) => console.error(`host link ${this.hostId}: inbox retention failed:`, error)));
    } else if (event === 'message.status') {
      const status = data as EventData<'message.status'>;
      // WhatsApp's ack of a send of ours: into the log beside the send's own outcome (usually one
      // write with it), for a device known to be this host's. It mends a send whose answer never came.
      // Receipts too, by our id: one D1 statement with the row's other changes, never a step back.
      if (status.outboxId && status.status !== 'failed' && this.keys.check(status.deviceId, undefined) === 'ok') {
        const may = this.log.mayReport(status.outboxId, status.deviceId);
        if (may === 'no') return;
        if (may === 'after-flush') await this.log.flush().catch(() => undefined);
        if (status.status === 'sent') this.log.change(status.outboxId, { status: 'sent', waMessageId: status.id, sentAt: status.timestamp * 1000, error: null }, status.deviceId);
        else this.log.receipt(status.outboxId, status.deviceId, status.status === 'delivered' ? 'delivered' : 'read', status.timestamp * 1000);
        this.ctx.waitUntil(this.log.flush().catch(() => undefined));
        return;
      }
      // Its row may still wait in the object's storage: in D1 first, so the receipt finds it.
      await this.log.flush().catch(() => undefined);
      await this.projection.applyStatus(status);
    }
  }

  /**
   * Hands an event to the EventHub, batched per turn and in order (one chain of publishes). While
   * the hub says nobody listens, nothing is sent until it says otherwise (`listen`).
   */
  private live(event: LiveEvent): void {
    if (!this.listening) return;
    this.liveBatch.push(event);
    if (this.liveBatch.length > 1) return;
    this.livePublished = this.livePublished.then(async () => {
      await Promise.resolve(); // the rest of this turn's events join the batch
      const batch = this.liveBatch;
      this.liveBatch = [];
      const { listening, epoch } = await publish(this.env, batch);
      // "Nobody" from before the last `listen` is stale: a client arrived meanwhile.
      if (listening || epoch >= this.listenEpoch) this.listening = listening;
    });
    this.ctx.waitUntil(this.livePublished);
  }

  /** Someone listens to live events again (in the hub's listening period `epoch`): publish them from now on. */
  async listen(hostId: string, epoch: number): Promise<void> {
    await this.bind(hostId);
    this.listenEpoch = Math.max(this.listenEpoch, epoch);
    this.listening = true;
  }

  /** Heartbeat while up (a status round trip that also refreshes D1); re-dial while down. */
  async alarm(): Promise<void> {
    this.hostId ||= (await this.ctx.storage.get<string>('hostId')) ?? '';
    if (!this.hostId) return;
    // Log rows a failed copy left behind (D1 was unreachable) go again with the heartbeat.
    if (this.log.size) this.ctx.waitUntil(this.log.flush().catch(() => undefined));
    if (this.link.isUp) {
      if (this.link.via === 'edge' && Date.now() >= this.nextBeatAt) {
        const outcome = await this.link.request('host.status', {}, 10_000);
        if (!outcome.ok) return this.link.drop('heartbeat failed');
        await this.link.inOrder(() => this.projection.applyStates(outcome.result.devices, true));
        this.nextBeatAt = Date.now() + HEARTBEAT_MS;
      }
      await this.scheduler.drain(); // ends by setting the next alarm
      return;
    }
    if (!(await this.target())?.url) return; // nothing to dial (none configured, or it dials in): stop the alarm
    await this.link.connected().catch(() => undefined); // a failure schedules the next try
  }

  // ───────────────────────── entry points (RPC from the Worker) ─────────────────────────

  /** Sends one request to the host; never throws and never waits past `timeoutMs`. */
  async request<M extends Method>(hostId: string, method: M, params: Params<M>, timeoutMs = 15_000): Promise<Outcome<Result<M>>> {
    await this.bind(hostId);
    return this.link.request(method, params, timeoutMs);
  }

  /**
   * For status pages: whether the link is up (dialling if asked), which side dialled it, when the
   * host was last heard from (unix ms), the version it reported, and the last error if down.
   */
  async linkState(hostId: string, dial = false): Promise<{ online: boolean; lastError: string | null; via: 'edge' | 'host' | null; lastSeenAt: number | null; version: string | null }> {
    await this.bind(hostId);
    if (dial) await this.link.connected().catch(() => undefined);
    const online = this.link.isUp;
    const [stored, version] = await Promise.all([this.ctx.storage.get<number>('lastSeenAt'), this.ctx.storage.get<string>('hostVersion')]);
    return { online, lastError: online ? null : this.link.lastError || null, via: this.link.via, lastSeenAt: online ? this.lastHeardAt() : (stored ?? null), version: version ?? null };
  }

  /** When the host was last heard from on the open link: a frame, or a ping the runtime answered for us. */
  private lastHeardAt(): number {
    const socket = this.link.via === 'host' ? this.ctx.getWebSockets().find((ws) => ws.readyState === WebSocket.OPEN) : undefined;
    const pinged = socket ? (this.ctx.getWebSocketAutoResponseTimestamp(socket)?.getTime() ?? 0) : 0;
    return Math.max(pinged, this.link.heardAt) || Date.now();
  }

  /** The host's record changed or is gone: the link up drops, and a host with a URL is dialled again. */
  async relink(hostId: string): Promise<void> {
    await this.bind(hostId);
    this.link.drop('the host was changed or removed');
    if ((await this.target())?.url) await this.link.connected().catch(() => undefined);
  }

  // ───────────────────────── a host dialling in (Hibernation API) ─────────────────────────

  /**
   * `GET /link/<host id>/challenge` and the upgrade to `/link/<host id>`, forwarded by the Worker:
   * the host proves the secret over a challenge of ours, we prove it back in the welcome. Refused:
   * a host registered with a URL (the edge dials those), a wrong or replayed proof, and a second
   * host with the same id while the first is connected.
   */
  async fetch(request: Request): Promise<Response> {
    const match = /^\/link\/([^/]+)(\/challenge)?$/.exec(new URL(request.url).pathname);
    if (!match) return refusal(404, 'not found');
    await this.bind(decodeURIComponent(match[1]!));
    const target = await this.target();
    if (!target) return refusal(404, `no session host ${this.hostId}`);
    if (target.url) return refusal(409, `host ${this.hostId} is registered with a URL, so the edge dials it; remove its URL to let it dial in`);
    if (match[2]) return Response.json(this.challenges.issue(), { headers: { 'cache-control': 'no-store' } });
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return refusal(426, 'expected a WebSocket upgrade');
    const check = await checkDial(target.secret, 'host', this.challenges, (name) => request.headers.get(name));
    if (!check.ok) {
      console.warn(`host link ${this.hostId}: dial-in refused: ${check.reason}`);
      return refusal(401, `link refused: ${check.reason}`);
    }
    const welcome = JSON.stringify(await welcomeFor(target.secret, 'edge', check.challenge, check.nonce, null));
    // Checked after the last await, so two dials proving at once cannot both get in.
    if (this.link.isUp) {
      if (Date.now() - this.lastHeardAt() < SILENT_LINK_MS) {
        console.warn(`host link ${this.hostId}: dial-in refused: the host is already connected`);
        return refusal(409, `host ${this.hostId} is already connected: a second host with the same id is refused`);
      }
      this.link.drop('silent; replaced by a new dial-in');
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ hostId: this.hostId } satisfies Attachment);
    server.send(welcome);
    this.link.accept(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.wake(ws);
    this.link.receive(ws, typeof message === 'string' ? message : new TextDecoder().decode(message));
  }

  async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    await this.wake(ws);
    this.link.closed(ws, `the host closed the link (${code})`);
  }

  async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    await this.wake(ws);
    this.link.closed(ws, `link error: ${(error as Error)?.message ?? error}`);
  }

  /** After a sleep the object knows nothing: which host it serves comes with the socket. */
  private async wake(ws: WebSocket): Promise<void> {
    const attached = ws.deserializeAttachment() as Attachment | null;
    if (attached?.hostId) await this.bind(attached.hostId);
  }

  /**
   * The API's sends, in one call: the key checked, sent now or queued (`request.mode`), logged in
   * this object's storage; D1 gets the log rows after the answer.
   */
  async send(hostId: string, request: SendRequest): Promise<SendReply> {
    await this.bind(hostId);
    return this.dispatcher.send(request);
  }

  /** Keeps the successful answer of the keyed request that claimed `key` from `since`, to replay it. */
  async keepAnswer(hostId: string, key: string, since: number, status: number, body: string): Promise<void> {
    await this.bind(hostId);
    this.claims.keep(key, since, status, body);
  }

  /** A device's API key from now on (new device, regenerated key); the old one is refused from this call on. */
  async setKey(hostId: string, deviceId: string, keyHash: string): Promise<void> {
    await this.bind(hostId);
    this.keys.set(deviceId, keyHash);
  }

  /** A deleted device: its key is refused from this call on. */
  async forgetDevice(hostId: string, deviceId: string): Promise<void> {
    await this.bind(hostId);
    this.keys.forget(deviceId);
    this.log.forgetDevice(deviceId);
  }

  /** Resolves once the message log rows this host has recorded so far are in D1. */
  async settleLog(hostId: string): Promise<void> {
    await this.bind(hostId);
    await this.log.flush();
  }

  /** Takes a waiting send out of the queue: 'sending' once it is on the wire, 'unknown' if not queued. */
  async cancel(hostId: string, id: string): Promise<'cancelled' | 'sending' | 'unknown'> {
    await this.bind(hostId);
    const outcome = this.scheduler.cancel(id);
    await this.log.flush();
    return outcome;
  }

  /**
   * Takes many waiting sends out of the queue in one call (a broadcast to thousands is one call,
   * not thousands); those not queued any more are left as they are. Logged as cancelled, in D1 on return.
   */
  async cancelMany(hostId: string, ids: string[]): Promise<{ cancelled: number; sending: number }> {
    await this.bind(hostId);
    const outcome = this.scheduler.cancelMany(ids);
    await this.log.flush();
    return outcome;
  }

  /** Moves a waiting send to `dueAt` (unix ms). */
  async reschedule(hostId: string, id: string, dueAt: number): Promise<'rescheduled' | 'sending' | 'unknown'> {
    await this.bind(hostId);
    const outcome = await this.scheduler.reschedule(id, dueAt);
    await this.log.flush();
    return outcome;
  }

  /** How many sends wait (for tests and status pages). */
  async queued(hostId: string): Promise<number> {
    await this.bind(hostId);
    return this.scheduler.size;
  }
}
