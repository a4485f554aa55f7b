// HostLink: one Durable Object per session host. It dials the host's /link (WebSockets from a
// Worker are opened with fetch + Upgrade), proves the shared secret and checks the host's proof,
// multiplexes requests over the one socket with a deadline each, keeps the link alive with a
// heartbeat alarm (re-dialling with backoff), and writes the host's events into D1, one after
// another, acknowledging the journaled ones (receipts, incoming messages) once applied. It also owns
// the durable outbox (outbox.ts): queued sends go out over the link when the host is up, paced
// per device and in order per recipient. A Durable Object has one alarm, so it serves all three:
// while the link is up it is set to the earlier of the next heartbeat and the next due send;
// while it is down, to the next re-dial (which delivers what came due on success).
import { DurableObject } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import {
  challengeReply,
  checkWelcome,
  dialHeaders,
  eventFrame,
  events,
  LINK_PATHS,
  replyFrame,
  type AckFrame,
  type DeviceState,
  type EventFrame,
  type EventName,
  type ErrorCode,
  type Method,
  type Params,
  type Result,
} from '../../session-host/link/protocol.ts';
import { devicesTable, hostsTable, messagesTable } from '../db/schema.ts';
import { Outbox, type Notice, type QueueItem, type QueuedRow } from './outbox.ts';

/**
 * A request's outcome. `unknown` marks a failure after the request left the edge (the link dropped
 * before the reply): the host may have carried it out, so it is never reported as a sure failure.
 */
export type Outcome<T> = { ok: true; result: T } | { ok: false; error: { code: ErrorCode; message: string; unknown?: true } };

const DIAL_TIMEOUT_MS = 5_000;
const HEARTBEAT_MS = 30_000;
const MAX_BACKOFF_MS = 60_000;
export const DEFAULT_HOST_ID = 'default';

/** Queued sends tried this often (retries after failures count) before they are failed. */
export const MAX_ATTEMPTS = 8;
// Failures a retry cannot mend: the request itself is wrong.
const PERMANENT = new Set(['bad_request', 'media_error', 'not_found']);
const SEND_TIMEOUT_MS = 15_000;
const MEDIA_SEND_TIMEOUT_MS = 60_000;
const PACING_CACHE_MS = 30_000;
/** Tries to apply one event (0.5 s, then 1 s… apart) before the link is dropped to have it sent again. */
const EVENT_ATTEMPTS = 3;
/** Under a steady stream of events, acknowledge at least this often. */
const ACK_EVERY = 64;


/**
 * Wraps `work` so only one pass runs at a time; a call during a pass returns that pass and asks
 * for one more after it (`keepAlive` holds the object up for it), so nothing that arrived meanwhile
 * waits for the next trigger.
 */
function oneAtATime(work: () => Promise<void>, keepAlive: (pass: Promise<void>) => void): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = work().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        keepAlive(run());
      }
    });
    return running;
  };
  return run;
}

interface Pending {
  resolve: (outcome: Outcome<unknown>) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class HostLink extends DurableObject<Env> {
  private socket?: WebSocket;
  private dialing?: Promise<WebSocket>;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private lastError = '';
  private nextBeatAt = 0;
  /** The host's events, applied in order (see onFrame), and how many wait in that chain. */
  private applying: Promise<void> = Promise.resolve();
  private eventsWaiting = 0;
  /** The last journaled event applied and not acknowledged yet, and how many since the last ack. */
  private toAck: number | undefined;
  private sinceAck = 0;
  /** Links whose events stopped being applied after a failure: the rest come again on the next link. */
  private readonly stalled = new WeakSet<WebSocket>();
  private downSince = 0;
  private readonly outbox: Outbox;
  /** Delivers due sends; one pass at a time (see `oneAtATime`). */
  private readonly drain = oneAtATime(() => this.deliver(), (pass) => this.ctx.waitUntil(pass));
  /** Hands the waiting status notices to the host, in order. */
  private readonly flushNotices = oneAtATime(() => this.handOverNotices(), (pass) => this.ctx.waitUntil(pass));
  /**
   * The queued send being delivered, from the moment it is chosen (before anything is awaited)
   * until its outcome is known: it can no longer be cancelled or rescheduled.
   */
  private sendingId?: string;
  /** Per device: pacing settings, cached briefly (when its next send may go is in the outbox). */
  private readonly pacing = new Map<string, { intervalMs: number; jitterMs: number; loadedAt: number }>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.outbox = new Outbox(ctx.storage.sql);
  }

  /** Which host this object speaks for: `default` (HOST_URL) or a registered host's id. */
  private hostId = '';

  /** Learns (and remembers, for alarms) the host it serves; every entry point passes it. */
  private async bind(hostId: string): Promise<void> {
    if (this.hostId === hostId) return;
    this.hostId = hostId;
    await this.ctx.storage.put('hostId', hostId);
  }

  private db() {
    return drizzle(this.env.DB);
  }

  private async target(): Promise<{ url: string; secret: string } | undefined> {
    if (this.hostId === DEFAULT_HOST_ID) {
      return this.env.HOST_URL && this.env.HOST_SECRET ? { url: this.env.HOST_URL, secret: this.env.HOST_SECRET } : undefined;
    }
    const [host] = await this.db().select().from(hostsTable).where(eq(hostsTable.id, this.hostId));
    return host && { url: host.url, secret: host.secret };
  }

  /** Sends one request to the host; never throws and never waits past `timeoutMs`. */
  async request<M extends Method>(hostId: string, method: M, params: Params<M>, timeoutMs = 15_000): Promise<Outcome<Result<M>>> {
    await this.bind(hostId);
    return this.send(method, params, timeoutMs);
  }

  private async send<M extends Method>(method: M, params: Params<M>, timeoutMs = 15_000): Promise<Outcome<Result<M>>> {
    let socket: WebSocket;
    try {
      socket = await this.connected();
    } catch (error) {
      return { ok: false, error: { code: 'host_offline', message: `Session host is offline: ${(error as Error).message}` } };
    }
    const id = String(this.nextId++);
    const frame = JSON.stringify({ id, method, params });
    try {
      socket.send(frame);
    } catch (error) {
      // Closed between the check and the write: nothing left the edge, so this is a sure failure.
      return { ok: false, error: { code: 'host_offline', message: `Session host is offline: ${(error as Error).message}` } };
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, error: { code: 'timeout', message: `the session host did not answer ${method} within ${timeoutMs} ms`, unknown: true } });
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as Pending['resolve'], timer });
    });
  }


  private async connected(): Promise<WebSocket> {
    if (this.socket?.readyState === WebSocket.OPEN) return this.socket;
    this.dialing ??= this.dial().finally(() => (this.dialing = undefined));
    return this.dialing;
  }

  private async dial(): Promise<WebSocket> {
    const target = await this.target();
    if (!target) throw new Error('no session host is configured (HOST_URL and HOST_SECRET)');
    const base = target.url.replace(/^ws/, 'http');
    const url = new URL(LINK_PATHS.socket, base);
    let response: Response;
    let challenge: string;
    let nonce: string;
    // One deadline for both steps. Not AbortSignal.timeout: a signal still attached when it
    // fires would also cut the socket.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`no answer within ${DIAL_TIMEOUT_MS} ms`)), DIAL_TIMEOUT_MS);
    try {
      // The host's challenge first: the proof covers it, so no captured handshake opens a link again.
      const asked = await fetch(new URL(LINK_PATHS.challenge, base), { signal: abort.signal });
      const issued = challengeReply.safeParse(asked.ok ? await asked.json().catch(() => undefined) : undefined);
      if (!issued.success) throw new Error(`no valid link challenge (HTTP ${asked.status})`);
      challenge = issued.data.challenge;
      const dial = await dialHeaders(target.secret, 'edge', challenge);
      nonce = dial.nonce;
      response = await fetch(url, { headers: { Upgrade: 'websocket', ...dial.headers }, signal: abort.signal });
    } catch (error) {
      throw this.failed(`cannot reach ${url.host}: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    const socket = response.webSocket;
    if (!socket) throw this.failed(`${url.host} refused the link (HTTP ${response.status})`);
    socket.accept();
    // Listening before the welcome is checked: the host sends the events it kept for us right
    // behind it, and a frame that finds no listener is lost. Events wait for the proof (onFrame).
    const proven = this.welcome(socket, target.secret, challenge, nonce);
    socket.addEventListener('message', (event) => this.onFrame(socket, String(event.data), proven));
    await proven;
    socket.addEventListener('close', () => this.onDown(socket, 'link closed'));
    socket.addEventListener('error', () => this.onDown(socket, 'link error'));
    this.socket = socket;
    this.downSince = 0;
    this.lastError = '';
    this.nextBeatAt = Date.now() + HEARTBEAT_MS;
    await this.ctx.storage.setAlarm(this.nextBeatAt);
    // Settings first, so the host knows every device before the queue is delivered to it.
    this.ctx.waitUntil(
      this.sync()
        .catch((error) => console.error(`host link ${this.hostId}: sync failed:`, error))
        .then(() => this.flushNotices())
        .then(() => this.drain()),
    );
    return socket;
  }

  /** Waits for the host's proof that it holds the secret; closes the socket if it does not come. */
  private welcome(socket: WebSocket, secret: string, challenge: string, edgeNonce: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        socket.close(1008, 'handshake failed');
        reject(this.failed(why));
      };
      const timer = setTimeout(() => fail('the host sent no welcome'), DIAL_TIMEOUT_MS);
      socket.addEventListener(
        'message',
        async (event) => {
          let frame: unknown;
          try {
            frame = JSON.parse(String(event.data));
          } catch {
            return fail('the host sent no valid welcome');
          }
          if (!(await checkWelcome(secret, 'host', challenge, edgeNonce, frame))) return fail('the host sent no welcome proving the shared secret');
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  private failed(message: string): Error {
    this.lastError = message;
    console.warn(`host link ${this.hostId}: ${message}`);
    // Keep trying in the background, further apart the longer the host has been away: by time,
    // not by count, so requests dialling meanwhile (each a failure) do not push it out to a
    // minute while the host is back in seconds.
    this.downSince ||= Date.now();
    const delay = Math.min(MAX_BACKOFF_MS, Math.max(1_000, (Date.now() - this.downSince) / 2));
    this.ctx.waitUntil(this.ctx.storage.setAlarm(Date.now() + delay));
    return new Error(message);
  }

  private onDown(socket: WebSocket, why: string): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    // Requests in flight end now rather than at their deadline. Each was written to the link, so
    // the host may have carried it out: answered like a timeout (the message may still go out),
    // never as the sure failure `host_offline` is. Nothing is retried here (the outbox decides, by id).
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.resolve({ ok: false, error: { code: 'timeout', message: `the link to the session host dropped before it answered (${why})`, unknown: true } });
      this.pending.delete(id);
    }
    this.ctx.waitUntil(this.markOffline());
    this.ctx.waitUntil(this.ctx.storage.setAlarm(Date.now() + 1_000));
  }

  /** Heartbeat while up (a status round trip that also refreshes D1); re-dial while down. */
  async alarm(): Promise<void> {
    this.hostId ||= (await this.ctx.storage.get<string>('hostId')) ?? '';
    if (!this.hostId) return;
    if (this.socket?.readyState === WebSocket.OPEN) {
      if (Date.now() >= this.nextBeatAt) {
        const outcome = await this.send('host.status', {}, 10_000);
        if (!outcome.ok) {
          this.socket?.close(1011, 'heartbeat failed');
          this.onDown(this.socket!, 'heartbeat failed');
          return;
        }
        await this.applyStates(outcome.result.devices);
        this.nextBeatAt = Date.now() + HEARTBEAT_MS;
      }
      await this.drain(); // ends by setting the next alarm
      return;
    }
    if (!(await this.target())) return; // nothing to dial: stop the alarm
    await this.connected().catch(() => undefined); // a failure schedules the next try
  }

  private onFrame(socket: WebSocket, text: string, proven: Promise<void>): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return;
    }
    const reply = replyFrame.safeParse(json);
    if (reply.success) {
      const pending = this.pending.get(reply.data.id);
      if (!pending) return;
      this.pending.delete(reply.data.id);
      clearTimeout(pending.timer);
      pending.resolve(reply.data.ok ? { ok: true, result: reply.data.result } : { ok: false, error: reply.data.error });
      return;
    }
    const frame = eventFrame.safeParse(json);
    if (!frame.success) return;
    // One chain for all events: applied one after another, in the order the host raised them
    // (a receipt's read must not be overtaken by its delivered), and never before the host's proof.
    this.eventsWaiting++;
    this.applying = this.applying.then(() => proven.then(() => this.applyEvent(socket, frame.data), () => void this.eventsWaiting--));
  }

  /**
   * Applies one event, then acknowledges journaled ones (cumulatively: the host forgets every
   * entry up to the seq) once nothing waits behind them, or every ACK_EVERY events under load.
   * An event that cannot be applied (D1 failing) is tried again a few times; then the link is
   * dropped unacknowledged, so the host sends it again, in order, on the next link.
   */
  private async applyEvent(socket: WebSocket, frame: EventFrame): Promise<void> {
    this.eventsWaiting--;
    if (this.stalled.has(socket)) return;
    const spec = events[frame.event as EventName];
    const valid = spec?.safeParse(frame.data);
    if (!valid?.success) {
      // Nothing a retry can mend: skipped, and acknowledged with the rest.
      console.error(`host link ${this.hostId}: event ${frame.event} is unknown or malformed; skipped`);
    } else {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.onEvent(frame.event, valid.data);
          break;
        } catch (error) {
          if (attempt < EVENT_ATTEMPTS) {
            await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** (attempt - 1)));
            continue;
          }
          console.error(`host link ${this.hostId}: event ${frame.event} not applied; the host sends it again on the next link:`, error);
          this.stalled.add(socket);
          socket.close(1011, 'event not applied');
          this.onDown(socket, 'an event could not be applied');
          return;
        }
      }
    }
    if (frame.seq !== undefined) {
      this.toAck = frame.seq;
      this.sinceAck++;
    }
    if (this.toAck !== undefined && (this.eventsWaiting === 0 || this.sinceAck >= ACK_EVERY)) {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ ack: this.toAck } satisfies AckFrame));
      this.toAck = undefined;
      this.sinceAck = 0;
    }
  }

  private async onEvent(name: string, data: unknown): Promise<void> {
    if (name === 'device.status') {
      const state = events['device.status'].parse(data);
      await this.applyStates([state]);
      // A device back online takes its waiting retries now rather than at their backoff.
      if (state.status === 'CONNECTED' && this.outbox.retryNow(state.id)) this.ctx.waitUntil(this.drain());
    } else if (name === 'message.status') {
      const status = events['message.status'].parse(data);
      // Whoever asked for the send (a route, or the outbox) records 'sent' with its answer; the
      // event only mends a row whose answer never came (left 'queued', its outcome unknown).
      if (status.status === 'sent') {
        if (!status.outboxId) return;
        await this.db()
          .update(messagesTable)
          .set({ status: 'sent', waMessageId: status.id, sentAt: new Date(status.timestamp * 1000), error: null })
          .where(and(eq(messagesTable.id, status.outboxId), eq(messagesTable.status, 'queued')));
        return;
      }
      const rank = { sent: 1, delivered: 2, read: 3, played: 4, failed: 0 } as const;
      // By our own id when the host knows it: the receipt may beat the send's answer to D1.
      const match = status.outboxId ? eq(messagesTable.id, status.outboxId) : eq(messagesTable.waMessageId, status.id);
      const [row] = await this.db().select().from(messagesTable).where(match);
      // Receipts can arrive out of order; a message never moves backwards (read stays read).
      const current = row ? (rank[row.status as keyof typeof rank] ?? 0) : 0;
      if (row && rank[status.status] >= current) {
        const at = new Date(status.timestamp * 1000);
        const stamp = status.status === 'delivered' ? { deliveredAt: at } : status.status === 'failed' ? { failedAt: at } : { readAt: at };
        await this.db()
          .update(messagesTable)
          .set({ status: status.status === 'played' ? 'read' : status.status, ...stamp })
          .where(eq(messagesTable.id, row.id));
      }
    }
  }

  private hostFilter() {
    return this.hostId === DEFAULT_HOST_ID ? isNull(devicesTable.hostId) : eq(devicesTable.hostId, this.hostId);
  }

  private async applyStates(states: DeviceState[]): Promise<void> {
    if (!states.length) return;
    const db = this.db();
    const ids = states.map((s) => s.id);
    const known = new Set((await db.select({ id: devicesTable.id }).from(devicesTable).where(inArray(devicesTable.id, ids))).map((r) => r.id));
    const updates = states
      .filter((s) => known.has(s.id))
      .map((s) =>
        db
          .update(devicesTable)
          .set({ status: s.status, qr: s.qr, phoneNumber: s.phoneNumber, pushName: s.pushName, totalMessagesSent: s.totalMessagesSent, statusReason: s.reason })
          .where(eq(devicesTable.id, s.id)),
      );
    // D1 refuses an empty batch: a host reporting only devices deleted meanwhile has nothing to apply.
    if (!updates.length) return;
    await db.batch(updates as never);
  }

  private async markOffline(): Promise<void> {
    await this.db()
      .update(devicesTable)
      .set({ status: 'DISCONNECTED', qr: null, statusReason: 'session host is offline' })
      .where(this.hostFilter());
  }

  /**
   * After (re)connecting: push every device's settings to the host, remove the devices the host
   * still has but D1 no longer does (deleted while the host was offline), then take its states.
   */
  private async sync(): Promise<void> {
    const devices = await this.db().select().from(devicesTable).where(this.hostFilter());
    for (const device of devices) {
      await this.send('device.upsert', { id: device.id, name: device.name, webhookUrl: device.webhookUrl, webhookSecret: device.webhookSecret });
    }
    const status = await this.send('host.status', {});
    if (!status.ok) return;
    const known = new Set(devices.map((d) => d.id));
    for (const orphan of status.result.devices.filter((d) => !known.has(d.id))) await this.send('device.delete', { id: orphan.id });
    await this.applyStates(status.result.devices.filter((d) => known.has(d.id)));
  }

  /** For status pages: whether the link is up (dialling if asked), and the last error if not. */
  async linkState(hostId: string, dial = false): Promise<{ online: boolean; lastError: string | null }> {
    await this.bind(hostId);
    if (dial) await this.connected().catch(() => undefined);
    return { online: this.socket?.readyState === WebSocket.OPEN, lastError: this.lastError || null };
  }

  // ───────────────────────── the outbox ─────────────────────────

  /** Stores sends durably, then starts delivering them; returns once they are stored. */
  async enqueue(hostId: string, items: QueueItem[]): Promise<void> {
    await this.bind(hostId);
    const added = this.outbox.add(items);
    this.notify(items.filter((item) => added.has(item.id)).map((item) => ({ deviceId: item.params.deviceId, messageId: item.id, to: item.params.to, status: 'queued' as const, reason: null })));
    // Delivery goes on after the API has answered. While the link is down, the re-dial's alarm
    // delivers on success; with none pending (never dialled), one is set to dial now.
    if (this.socket?.readyState === WebSocket.OPEN) this.ctx.waitUntil(this.drain());
    else if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  /** Takes a waiting send out of the queue: 'sending' once it is on the wire, 'unknown' if not queued. */
  async cancel(hostId: string, id: string): Promise<'cancelled' | 'sending' | 'unknown'> {
    await this.bind(hostId);
    if (this.sendingId === id) return 'sending';
    const params = this.outbox.take(id);
    if (!params) return 'unknown';
    this.notify([{ deviceId: params.deviceId, messageId: id, to: params.to, status: 'failed', reason: 'cancelled' }]);
    return 'cancelled';
  }

  /** Records status changes for the device's webhook; the host gets them as soon as the link is up. */
  private notify(changes: Omit<Notice, 'timestamp'>[]): void {
    const timestamp = Math.floor(Date.now() / 1000);
    this.outbox.notify(changes.map((change) => ({ ...change, timestamp })));
    if (this.socket?.readyState === WebSocket.OPEN) this.ctx.waitUntil(this.flushNotices());
  }

  /** Stops at the first notice that does not go through: the next link (re)connect tries again. */
  private async handOverNotices(): Promise<void> {
    for (const { seq, notice } of this.outbox.notices()) {
      const outcome = await this.send('webhook.status', notice);
      // A device the host no longer knows has no webhook to tell: drop it, keep the rest.
      if (!outcome.ok && outcome.error.code !== 'not_found') {
        console.warn(`host link ${this.hostId}: status notice not handed over yet: ${outcome.error.message}`);
        return;
      }
      this.outbox.noticed(seq);
    }
  }

  /** Moves a waiting send to `dueAt` (unix ms). */
  async reschedule(hostId: string, id: string, dueAt: number): Promise<'rescheduled' | 'sending' | 'unknown'> {
    await this.bind(hostId);
    if (this.sendingId === id) return 'sending';
    if (!this.outbox.reschedule(id, dueAt)) return 'unknown';
    await this.wake();
    return 'rescheduled';
  }

  /** How many sends wait (for tests and status pages). */
  async queued(hostId: string): Promise<number> {
    await this.bind(hostId);
    return this.outbox.size;
  }

  private async deliver(): Promise<void> {
    try {
      // One at a time: per-device pacing and per-recipient order need no more, and the host's
      // own send queue would serialise them anyway.
      while (this.socket?.readyState === WebSocket.OPEN) {
        const next = this.outbox.next(Date.now());
        if (!next) break;
        // Taken in the same step it is chosen in: a cancel from now on answers 'sending'.
        this.sendingId = next.id;
        await this.deliverOne(next);
      }
    } catch (error) {
      console.error(`host link ${this.hostId}: outbox delivery failed:`, error);
    }
    await this.wake();
  }

  /** Sets the alarm to the next heartbeat or due send, whichever is first; while down the re-dial's alarm stands. */
  private async wake(): Promise<void> {
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    const due = this.outbox.nextDueAt() ?? Infinity;
    // Never sooner than a moment from now: a send that keeps throwing must not spin the alarm.
    await this.ctx.storage.setAlarm(Math.max(Math.min(this.nextBeatAt, due), Date.now() + 250));
  }

  /** Delivers the send `deliver` has taken (`sendingId`), and lets it go once its outcome is known. */
  private async deliverOne(item: QueuedRow): Promise<void> {
    const { id, params } = item;
    let pacing: { intervalMs: number; jitterMs: number };
    let outcome: Outcome<Result<'message.send'>>;
    try {
      pacing = await this.pacingOf(params.deviceId);
      const timeout = (params.media ? MEDIA_SEND_TIMEOUT_MS : SEND_TIMEOUT_MS) + (params.typingMs ?? 0);
      // The log id is the host's outbox id: after an ambiguous failure (a timeout, the link
      // dropping mid-send) the retry gets the first send's result instead of a second message.
      outcome = await this.send('message.send', params, timeout);
    } finally {
      this.sendingId = undefined;
    }
    const db = this.db();
    const attempts = item.attempts + 1;
    if (outcome.ok) {
      this.outbox.remove(id);
      this.outbox.pace(params.deviceId, Date.now() + pacing.intervalMs + Math.floor(Math.random() * (pacing.jitterMs + 1)));
      await db
        .update(messagesTable)
        // A receipt relayed meanwhile may already have moved the row past 'sent': keep it there.
        .set({ status: sql`CASE WHEN ${messagesTable.status} = 'queued' THEN 'sent' ELSE ${messagesTable.status} END`, waMessageId: outcome.result.id, sentAt: new Date(), attempts, error: null })
        .where(eq(messagesTable.id, id));
      return;
    }
    const { code, message } = outcome.error;
    // The link is down (the loop stops): not the message's fault, so no attempt is counted. A send
    // cut by the drop stays at the head of the queue and goes again, under the same outbox id,
    // when the link is back: the host answers with its first result if it had sent it.
    if (code === 'host_offline' || (outcome.error.unknown && this.socket?.readyState !== WebSocket.OPEN)) return;
    if (PERMANENT.has(code) || attempts >= MAX_ATTEMPTS) {
      this.outbox.remove(id);
      const reason = PERMANENT.has(code) ? message : `gave up after ${attempts} attempts: ${message}`;
      await db.update(messagesTable).set({ status: 'failed', error: reason, failedAt: new Date(), attempts }).where(eq(messagesTable.id, id));
      this.notify([{ deviceId: params.deviceId, messageId: id, to: params.to, status: 'failed', reason }]);
      return;
    }
    this.outbox.retryLater(id, Date.now() + Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** attempts));
    await db.update(messagesTable).set({ error: message, attempts }).where(eq(messagesTable.id, id));
  }

  private async pacingOf(deviceId: string): Promise<{ intervalMs: number; jitterMs: number }> {
    const cached = this.pacing.get(deviceId);
    if (cached && Date.now() - cached.loadedAt < PACING_CACHE_MS) return cached;
    const [row] = await this.db()
      .select({ intervalMs: devicesTable.sendIntervalMs, jitterMs: devicesTable.sendJitterMs })
      .from(devicesTable)
      .where(eq(devicesTable.id, deviceId));
    const pacing = { intervalMs: row?.intervalMs ?? 0, jitterMs: row?.jitterMs ?? 0, loadedAt: Date.now() };
    this.pacing.set(deviceId, pacing);
    return pacing;
  }
}
