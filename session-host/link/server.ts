// The host's end of the link: refuses any upgrade that does not prove the shared secret, answers
// the edge's requests through the registry, and pushes events to every authenticated link.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import {
  edgeProofMessage,
  hostProofMessage,
  LINK_HEADERS,
  LINK_WINDOW_MS,
  LinkError,
  methods,
  requestFrame,
  type EventData,
  type EventName,
  type Method,
  type Params,
  type ReplyFrame,
  type Result,
} from './protocol.ts';

export type Handlers = { [M in Method]: (params: Params<M>) => Promise<Result<M>> };

const hmac = (secret: string, message: string) => createHmac('sha256', secret).update(message).digest();

export class LinkServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private readonly links = new Set<WebSocket>();
  /** Nonces seen within the validity window, with when they may be forgotten. */
  private readonly seenNonces = new Map<string, number>();
  private readonly secret: string;
  private readonly handlers: Handlers;
  private readonly log: Logger;
  private readonly publicUrl: string | null;

  constructor(options: { secret: string; handlers: Handlers; logger: Logger; publicUrl?: string }) {
    this.secret = options.secret;
    this.handlers = options.handlers;
    this.log = options.logger.child({ component: 'link' });
    this.publicUrl = options.publicUrl ?? null;
  }

  get connected(): number {
    return this.links.size;
  }

  /** Checks the edge's proof in the upgrade request; `undefined` when it holds, else why not. */
  private refusal(req: IncomingMessage): string | undefined {
    const header = (name: string) => {
      const value = req.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    const ts = header(LINK_HEADERS.timestamp);
    const nonce = header(LINK_HEADERS.nonce);
    const sig = header(LINK_HEADERS.signature);
    if (!ts || !nonce || !sig) return 'missing link authentication headers';
    if (!/^\d{1,16}$/.test(ts) || !/^[0-9a-f]{16,128}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(sig)) return 'malformed link authentication headers';
    const now = Date.now();
    if (Math.abs(now - Number(ts)) > LINK_WINDOW_MS) return 'stale timestamp';
    const expected = hmac(this.secret, edgeProofMessage(ts, nonce));
    if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) return 'bad signature';
    for (const [seen, expires] of this.seenNonces) if (expires < now) this.seenNonces.delete(seen);
    if (this.seenNonces.has(nonce)) return 'replayed nonce';
    this.seenNonces.set(nonce, now + 2 * LINK_WINDOW_MS);
    return undefined;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refused = this.refusal(req);
    if (refused) {
      this.log.warn({ remote: req.socket.remoteAddress, reason: refused }, 'link refused');
      socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nlink refused: ${refused}\n`);
      return;
    }
    const edgeNonce = req.headers[LINK_HEADERS.nonce] as string;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, edgeNonce));
  }

  private accept(ws: WebSocket, edgeNonce: string): void {
    const nonce = randomBytes(16).toString('hex');
    const sig = hmac(this.secret, hostProofMessage(edgeNonce, nonce)).toString('hex');
    ws.send(JSON.stringify({ type: 'welcome', nonce, sig, publicUrl: this.publicUrl }));
    this.links.add(ws);
    this.log.info({ links: this.links.size }, 'link connected');
    ws.on('message', (data) => void this.onFrame(ws, data.toString()));
    ws.on('close', () => {
      this.links.delete(ws);
      this.log.info({ links: this.links.size }, 'link closed');
    });
    ws.on('error', (error) => this.log.warn({ err: error }, 'link socket error'));
  }

  private async onFrame(ws: WebSocket, text: string): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.log.warn('link frame is not JSON; ignored');
    }
    const frame = requestFrame.safeParse(json);
    if (!frame.success) return this.log.warn({ issues: frame.error.issues }, 'malformed link frame; ignored');
    const { id, method, params } = frame.data;
    const reply = (r: ReplyFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(r));
    };
    try {
      const spec = methods[method as Method];
      if (!spec) throw new LinkError('bad_request', `unknown method ${method}`);
      const parsed = spec.params.safeParse(params ?? {});
      if (!parsed.success) throw new LinkError('bad_request', z.prettifyError(parsed.error));
      const handler = this.handlers[method as Method] as (p: unknown) => Promise<unknown>;
      reply({ id, ok: true, result: await handler(parsed.data) });
    } catch (error) {
      if (error instanceof LinkError) return reply({ id, ok: false, error: { code: error.code, message: error.message } });
      this.log.error({ err: error, method }, 'link request failed');
      reply({ id, ok: false, error: { code: 'internal', message: 'internal error on the session host' } });
    }
  }

  broadcast<E extends EventName>(event: E, data: EventData<E>): void {
    const frame = JSON.stringify({ event, data });
    for (const ws of this.links) if (ws.readyState === ws.OPEN) ws.send(frame);
  }

  close(): void {
    for (const ws of this.links) ws.close(1001, 'host shutting down');
    this.wss.close();
  }
}
