// The edge's end of the link: dials the session host's /link (WebSockets from a Worker are opened
// with fetch + Upgrade) after taking its single-use challenge and checks the host's proof, or takes
// a link the host dialled and the HostLink accepted (`accept`, frames through `receive`); then, the
// same either way, carries requests over the one socket with a deadline each, and hands the host's
// events on one after another, acknowledging the journaled ones once they are applied. What a link
// going up or down means (alarms, the D1 projection, the outbox) is the HostLink's business, told
// through hooks.
import {
  challengeReply,
  checkWelcome,
  dialHeaders,
  eventFrame,
  events,
  LINK_PATHS,
  replyFrame,
  type AckFrame,
  type ErrorCode,
  type EventData,
  type EventFrame,
  type EventName,
  type Method,
  type Params,
  type Result,
} from '../../session-host/link/protocol.ts';

/**
 * A request's outcome. `unknown` marks a failure after the request left the edge (the link dropped
 * before the reply): the host may have carried it out, so it is never reported as a sure failure.
 */
export type Outcome<T> = ({ ok: true; result: T } | { ok: false; error: { code: ErrorCode; message: string; unknown?: true } }) & {
  /** How long the host took to answer, when it did (for Server-Timing). */
  hostMs?: number;
};

/** Which side dialled the link: the edge (to the host's URL) or the host (to the edge). */
export type LinkSide = 'edge' | 'host';

export interface LinkHooks {
  /** Where the host is (null: it dials in), and the secret it shares; undefined when none is configured. */
  target(): Promise<{ url: string | null; secret: string } | undefined>;
  /** A link the host dialled that is still open, after the object slept (Hibernation API). */
  accepted(): WebSocket | undefined;
  /** The link is up and proven. */
  up(): void;
  /** The link went down. */
  lost(why: string): void;
  /** Dial again in `ms` (after a drop, or a failed dial). */
  retry(ms: number): void;
  /** Applies one of the host's events; a throw means "not applied" (tried again, then the link drops). */
  apply<E extends EventName>(event: E, data: EventData<E>): Promise<void>;
  log: string;
}

const DIAL_TIMEOUT_MS = 5_000;
/** What a host-dialled link waits on: the HostLink checked the host's proof before accepting it. */
const PROVEN = Promise.resolve();
const MAX_BACKOFF_MS = 60_000;
/** Tries to apply one event (0.5 s, then 1 s… apart) before the link is dropped to have it sent again. */
const EVENT_ATTEMPTS = 3;
/** Under a steady stream of events, acknowledge at least this often. */
const ACK_EVERY = 64;

interface Pending {
  resolve: (outcome: Outcome<unknown>) => void;
  timer: ReturnType<typeof setTimeout>;
  sentAt: number;
}

export class LinkTransport {
  private readonly hooks: LinkHooks;
  private socket?: WebSocket;
  private side: LinkSide | null = null;
  private dialing?: Promise<WebSocket>;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  lastError = '';
  private downSince = 0;
  /** When the host last sent a frame (unix ms; 0: not since this object woke). */
  heardAt = 0;
  /** The host's events, applied in order (see onFrame), and how many wait in that chain. */
  private applying: Promise<void> = Promise.resolve();
  private eventsWaiting = 0;
  /** The last journaled event applied and not acknowledged yet, and how many since the last ack. */
  private toAck: number | undefined;
  private sinceAck = 0;
  /** Links whose events stopped being applied after a failure: the rest come again on the next link. */
  private readonly stalled = new WeakSet<WebSocket>();

  constructor(hooks: LinkHooks) {
    this.hooks = hooks;
  }

  get isUp(): boolean {
    return this.current()?.readyState === WebSocket.OPEN;
  }

  /** Which side dialled the link that is up; null while it is down. */
  get via(): LinkSide | null {
    return this.isUp ? this.side : null;
  }

  /** The link's socket, taking back a host-dialled one the runtime kept while the object slept. */
  private current(): WebSocket | undefined {
    if (!this.socket) {
      const kept = this.hooks.accepted();
      if (kept) [this.socket, this.side] = [kept, 'host'];
    }
    return this.socket;
  }

  /** Sends one request to the host (dialling if needed); never throws and never waits past `timeoutMs`. */
  async request<M extends Method>(method: M, params: Params<M>, timeoutMs = 15_000): Promise<Outcome<Result<M>>> {
    let socket: WebSocket;
    try {
      socket = await this.connected();
    } catch (error) {
      return { ok: false, error: { code: 'host_offline', message: `Session host is offline: ${(error as Error).message}` } };
    }
    const id = String(this.nextId++);
    try {
      socket.send(JSON.stringify({ id, method, params }));
    } catch (error) {
      // Closed between the check and the write: nothing left the edge, so this is a sure failure.
      return { ok: false, error: { code: 'host_offline', message: `Session host is offline: ${(error as Error).message}` } };
    }
    const sentAt = Date.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, error: { code: 'timeout', message: `the session host did not answer ${method} within ${timeoutMs} ms`, unknown: true } });
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as Pending['resolve'], timer, sentAt });
    });
  }

  /** The open link, dialling it first if there is none. */
  connected(): Promise<WebSocket> {
    const socket = this.current();
    if (socket?.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    this.dialing ??= this.dial().finally(() => (this.dialing = undefined));
    return this.dialing;
  }

  /** Drops the link (a failed heartbeat): requests in flight end as unknown outcomes. */
  drop(why: string): void {
    const socket = this.current();
    if (!socket) return;
    socket.close(1011, why);
    this.onDown(socket, why);
  }

  private async dial(): Promise<WebSocket> {
    const target = await this.hooks.target();
    if (!target) throw new Error('no session host is configured (HOST_URL and HOST_SECRET)');
    if (!target.url) {
      // Nothing to dial and nothing to retry: the host comes by itself.
      this.lastError = 'the host has not dialled in (it dials the edge itself: EDGE_URL and HOST_ID on the host)';
      throw new Error(this.lastError);
    }
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
    this.opened(socket, 'edge');
    return socket;
  }

  /**
   * A link the host dialled, proven and accepted by the HostLink (the welcome already sent): its
   * frames come through `receive` and its end through `closed`, as the Hibernation API hands them.
   */
  accept(socket: WebSocket): void {
    this.opened(socket, 'host');
  }

  /** A frame of the host-dialled link. */
  receive(socket: WebSocket, text: string): void {
    if (!this.current()) [this.socket, this.side] = [socket, 'host'];
    this.onFrame(socket, text, PROVEN);
  }

  /** The host-dialled link closed or failed. */
  closed(socket: WebSocket, why: string): void {
    this.current();
    this.onDown(socket, why);
  }

  private opened(socket: WebSocket, side: LinkSide): void {
    this.socket = socket;
    this.side = side;
    this.heardAt = Date.now();
    this.downSince = 0;
    this.lastError = '';
    this.hooks.up();
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
    console.warn(`${this.hooks.log}: ${message}`);
    // Dial again in the background, further apart the longer the host has been away: by time,
    // not by count, so requests dialling meanwhile (each a failure) do not push it out to a
    // minute while the host is back in seconds.
    this.downSince ||= Date.now();
    this.hooks.retry(Math.min(MAX_BACKOFF_MS, Math.max(1_000, (Date.now() - this.downSince) / 2)));
    return new Error(message);
  }

  private onDown(socket: WebSocket, why: string): void {
    if (this.socket !== socket) return;
    const side = this.side;
    this.socket = undefined;
    this.side = null;
    // Requests in flight end now rather than at their deadline. Each was written to the link, so
    // the host may have carried it out: answered like a timeout (the message may still go out),
    // never as the sure failure `host_offline` is. Nothing is retried here (the outbox decides, by id).
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.resolve({ ok: false, error: { code: 'timeout', message: `the link to the session host dropped before it answered (${why})`, unknown: true } });
      this.pending.delete(id);
    }
    this.hooks.lost(why);
    // A host that dials in comes back by itself; one we dial, we dial again.
    if (side === 'edge') this.hooks.retry(1_000);
  }

  private onFrame(socket: WebSocket, text: string, proven: Promise<void>): void {
    this.heardAt = Date.now();
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
      const hostMs = Date.now() - pending.sentAt;
      pending.resolve(reply.data.ok ? { ok: true, result: reply.data.result, hostMs } : { ok: false, error: reply.data.error, hostMs });
      return;
    }
    const frame = eventFrame.safeParse(json);
    if (!frame.success) return;
    // One chain for all events: applied one after another, in the order the host raised them
    // (a receipt's read must not be overtaken by its delivered), and never before the host's proof.
    this.eventsWaiting++;
    this.applying = this.applying.then(() =>
      proven.then(
        () => this.applyEvent(socket, frame.data),
        () => void this.eventsWaiting--,
      ),
    );
  }

  /**
   * Runs `work` in the events' chain. Called as soon as a reply arrives (in the same turn, before
   * the next frame is read), a state snapshot lands after the events the host raised before it
   * and before those it raised after, so it never overwrites a newer state with an older one.
   */
  inOrder(work: () => Promise<void>): Promise<void> {
    const done = this.applying.catch(() => undefined).then(work);
    this.applying = done.catch(() => undefined);
    return done;
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
    const name = frame.event as EventName;
    const valid = events[name]?.safeParse(frame.data);
    if (!valid?.success) {
      // Nothing a retry can mend: skipped, and acknowledged with the rest.
      console.error(`${this.hooks.log}: event ${frame.event} is unknown or malformed; skipped`);
    } else {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.hooks.apply(name, valid.data as EventData<typeof name>);
          break;
        } catch (error) {
          if (attempt < EVENT_ATTEMPTS) {
            await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** (attempt - 1)));
            continue;
          }
          console.error(`${this.hooks.log}: event ${frame.event} not applied; the host sends it again on the next link:`, error);
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
}
