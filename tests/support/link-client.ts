// The edge's side of the link, in Node, for session-host tests: fetches a challenge, dials /link
// with the HMAC proof over it, checks the host's proof in `welcome`, then sends requests and
// collects events.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  challengeReply,
  checkWelcome,
  dialHeaders,
  eventFrame,
  LINK_PATHS,
  LinkError,
  replyFrame,
  type EventData,
  type EventName,
  type Method,
  type Params,
  type Result,
} from '../../session-host/link/protocol.ts';

/** A handshake as a dialler sends it: tests replay or forge these. */
export interface Handshake {
  challenge: string;
  nonce: string;
  headers: Record<string, string>;
}

/** Asks the host for a challenge. */
export async function fetchChallenge(hostUrl: string): Promise<string> {
  const res = await fetch(new URL(LINK_PATHS.challenge, hostUrl));
  if (!res.ok) throw new Error(`GET ${LINK_PATHS.challenge} answered HTTP ${res.status}`);
  return challengeReply.parse(await res.json()).challenge;
}

/** A handshake proving `secret` over `challenge` (a fresh one from the host unless given). */
export async function handshake(hostUrl: string, secret: string, challenge?: string): Promise<Handshake> {
  challenge ??= await fetchChallenge(hostUrl);
  return { challenge, ...(await dialHeaders(secret, 'edge', challenge)) };
}

const socketUrl = (hostUrl: string) => new URL(LINK_PATHS.socket, hostUrl.replace(/^http/, 'ws')).href;

export class LinkClient extends EventEmitter {
  readonly events: { event: string; data: unknown; seq?: number }[] = [];
  private readonly ws: WebSocket;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  private constructor(ws: WebSocket) {
    super();
    this.setMaxListeners(0);
    this.ws = ws;
    ws.on('close', () => {
      for (const waiter of this.pending.values()) waiter.reject(new LinkError('host_offline', 'link closed'));
      this.pending.clear();
      this.emit('close');
    });
  }

  private onMessage(text: string): void {
    const json = JSON.parse(text);
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
  }

  /** Dials the host; rejects with the HTTP status when the host refuses the proof. */
  static async connect(hostUrl: string, secret: string, proof?: Handshake): Promise<LinkClient> {
    const { challenge, nonce, headers } = proof ?? (await handshake(hostUrl, secret));
    const ws = new WebSocket(socketUrl(hostUrl), { headers });
    // Every frame is kept from the start: the host may send events right behind its welcome,
    // while the welcome is still being checked.
    const frames: string[] = [];
    let client: LinkClient | undefined;
    let first: ((text: string) => void) | undefined;
    ws.on('message', (data) => {
      const text = data.toString();
      if (client) client.onMessage(text);
      else if (first) first(text), (first = undefined);
      else frames.push(text);
    });
    return new Promise((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`link refused with HTTP ${res.statusCode}`), { status: res.statusCode }));
        ws.terminate();
      });
      ws.once('error', reject);
      first = async (welcome) => {
        if (!(await checkWelcome(secret, 'host', challenge, nonce, JSON.parse(welcome)))) {
          ws.terminate();
          reject(new Error('the host did not prove the secret'));
          return;
        }
        client = new LinkClient(ws);
        for (const text of frames) client.onMessage(text);
        resolve(client);
      };
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
      const listener = (e: { event: string; data: unknown; seq?: number }) => {
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

  /** Tells the host every journaled event up to `seq` has been applied, as the edge does. */
  ack(seq: number): void {
    this.ws.send(JSON.stringify({ ack: seq }));
  }

  close(): void {
    this.ws.close();
  }
}
