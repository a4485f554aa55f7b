// The edge's side of the link, in Node, for session-host tests: dials /link with the HMAC proof,
// checks the host's proof in `welcome`, then sends requests and collects events.
import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  edgeProofMessage,
  eventFrame,
  hostProofMessage,
  LINK_HEADERS,
  LinkError,
  replyFrame,
  welcomeFrame,
  type EventData,
  type EventName,
  type Method,
  type Params,
  type Result,
} from '../../session-host/link/protocol.ts';

const hmacHex = (secret: string, message: string) => createHmac('sha256', secret).update(message).digest('hex');

export interface ProofOverrides {
  ts?: string;
  nonce?: string;
}

/** Upgrade headers proving the secret; the overrides let tests forge stale or replayed proofs. */
export function linkHeaders(secret: string, overrides: ProofOverrides = {}): Record<string, string> {
  const ts = overrides.ts ?? String(Date.now());
  const nonce = overrides.nonce ?? randomBytes(16).toString('hex');
  return { [LINK_HEADERS.timestamp]: ts, [LINK_HEADERS.nonce]: nonce, [LINK_HEADERS.signature]: hmacHex(secret, edgeProofMessage(ts, nonce)) };
}

export class LinkClient extends EventEmitter {
  readonly events: { event: string; data: unknown }[] = [];
  private readonly ws: WebSocket;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  private constructor(ws: WebSocket) {
    super();
    this.setMaxListeners(0);
    this.ws = ws;
    ws.on('message', (data) => {
      const json = JSON.parse(data.toString());
      const reply = replyFrame.safeParse(json);
      if (reply.success) {
        const waiter = this.pending.get(reply.data.id);
        this.pending.delete(reply.data.id);
        if (reply.data.ok) waiter?.resolve(reply.data.result);
        else waiter?.reject(new LinkError(reply.data.error.code, reply.data.error.message));
        return;
      }
      const event = eventFrame.safeParse(json);
      if (event.success) {
        this.events.push(event.data);
        this.emit('event', event.data);
      }
    });
    ws.on('close', () => {
      for (const waiter of this.pending.values()) waiter.reject(new LinkError('host_offline', 'link closed'));
      this.pending.clear();
      this.emit('close');
    });
  }

  /** Dials the host; rejects with the HTTP status when the host refuses the proof. */
  static connect(hostUrl: string, secret: string, overrides: ProofOverrides = {}): Promise<LinkClient> {
    const headers = linkHeaders(secret, overrides);
    const ws = new WebSocket(`${hostUrl.replace(/^http/, 'ws')}/link`, { headers });
    return new Promise((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`link refused with HTTP ${res.statusCode}`), { status: res.statusCode }));
        ws.terminate();
      });
      ws.once('error', reject);
      ws.once('message', (data) => {
        const welcome = welcomeFrame.safeParse(JSON.parse(data.toString()));
        const nonce = headers[LINK_HEADERS.nonce]!;
        if (!welcome.success || welcome.data.sig !== hmacHex(secret, hostProofMessage(nonce, welcome.data.nonce))) {
          ws.terminate();
          reject(new Error('the host did not prove the secret'));
          return;
        }
        resolve(new LinkClient(ws));
      });
    });
  }

  request<M extends Method>(method: M, params: Params<M>, timeoutMs = 30_000): Promise<Result<M>> {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new LinkError('timeout', `${method} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v as Result<M>)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** The next event of that name matching `predicate` (including ones already received). */
  nextEvent<E extends EventName>(event: E, predicate: (data: EventData<E>) => boolean = () => true, timeoutMs = 20_000): Promise<EventData<E>> {
    const seen = this.events.find((e) => e.event === event && predicate(e.data as EventData<E>));
    if (seen) return Promise.resolve(seen.data as EventData<E>);
    return new Promise((resolve, reject) => {
      const listener = (e: { event: string; data: unknown }) => {
        if (e.event !== event || !predicate(e.data as EventData<E>)) return;
        clearTimeout(timer);
        this.off('event', listener);
        resolve(e.data as EventData<E>);
      };
      const timer = setTimeout(() => {
        this.off('event', listener);
        reject(new Error(`no ${event} event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('event', listener);
    });
  }

  close(): void {
    this.ws.close();
  }
}
