// Dial-out: a host with EDGE_URL and HOST_ID opens the link itself, so it needs no open port and
// no tunnel. The handshake is the link's usual one with the sides swapped (protocol.ts): the host
// takes a challenge from its Durable Object, proves the secret over it in its upgrade, and checks
// the edge's welcome before it serves anything. Then the link is served exactly as one the edge
// dialled (LinkServer.serve). A keep-alive the edge answers without waking (PING/PONG) tells a
// dead link from a quiet one; a lost or refused link is dialled again, further apart each time.
import WebSocket from 'ws';
import type { Logger } from '../logger.ts';
import { challengeReply, checkWelcome, dialHeaders, edgeLinkPaths, PING } from './protocol.ts';
import type { LinkServer } from './server.ts';

export interface DialerOptions {
  edgeUrl: string;
  hostId: string;
  secret: string;
  server: LinkServer;
  logger: Logger;
  /** How often the keep-alive goes out; a link that answers nothing for twice this is dropped. */
  pingMs?: number;
  /** The first wait before dialling again; it doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const DIAL_TIMEOUT_MS = 10_000;

export class LinkDialer {
  private readonly options: Required<DialerOptions>;
  private readonly log: Logger;
  private socket?: WebSocket;
  private retryTimer?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;
  /** Why the last dial failed, for /healthz; empty while the link is up. */
  lastError = '';

  constructor(options: DialerOptions) {
    this.options = { pingMs: 25_000, minBackoffMs: 1_000, maxBackoffMs: 60_000, ...options };
    this.log = options.logger.child({ component: 'link-dialer' });
  }

  get isUp(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start(): void {
    void this.dial();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1001, 'host shutting down');
  }

  private async dial(): Promise<void> {
    if (this.stopped) return;
    const { edgeUrl, hostId, secret } = this.options;
    const paths = edgeLinkPaths(hostId);
    let challenge: string;
    try {
      const asked = await fetch(new URL(paths.challenge, edgeUrl), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS), headers: { accept: 'application/json' } });
      const body = await asked.text();
      const issued = asked.ok ? challengeReply.safeParse(JSON.parse(body)) : undefined;
      if (!issued?.success) return this.failed(`the edge gave no link challenge (HTTP ${asked.status}${asked.ok ? '' : `: ${reasonOf(body)}`})`);
      challenge = issued.data.challenge;
    } catch (error) {
      return this.failed(`cannot reach the edge at ${new URL(edgeUrl).host}: ${(error as Error).message}`);
    }
    if (this.stopped) return;
    const { headers, nonce } = await dialHeaders(secret, 'host', challenge);
    const url = new URL(paths.socket, edgeUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, { headers, handshakeTimeout: DIAL_TIMEOUT_MS, maxPayload: 1024 * 1024 });
    this.socket = ws;
    // Frames behind the welcome (the edge's first requests) wait until the welcome is checked.
    const early: string[] = [];
    let proven = false;
    let settled = false;
    const settle = (why?: string) => {
      if (settled) return;
      settled = true;
      if (why) this.failed(why);
    };
    ws.on('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk));
      const refused = () => {
        settle(`the edge refused the link (HTTP ${response.statusCode}: ${reasonOf(body)})`);
        ws.terminate();
      };
      response.on('end', refused);
      response.on('error', refused);
    });
    ws.on('error', (error) => settle(`link error: ${error.message}`));
    const onEarly = (data: WebSocket.RawData) => {
      if (proven) return;
      const text = data.toString();
      if (early.length === 0 && !settled) {
        early.push(text);
        void this.isWelcome(challenge, nonce, text).then((ok) => {
          if (!ok) {
            ws.close(1008, 'handshake failed');
            return settle('the edge sent no welcome proving the shared secret (is HOST_SECRET the one the edge has for this host?)');
          }
          proven = true;
          settled = true;
          ws.off('message', onEarly);
          this.up(ws, early.slice(1));
        });
      } else early.push(text);
    };
    ws.on('message', onEarly);
    ws.on('close', (code, reason) => {
      if (!proven) return settle(`the edge closed the link before its welcome (${code} ${reason.toString() || ''})`.trim());
      this.log.warn({ code, reason: reason.toString() }, 'link to the edge closed');
      this.retry();
    });
  }

  /** Whether `text` is the edge's welcome, proving the secret over our challenge and nonce. */
  private isWelcome(challenge: string, nonce: string, text: string): Promise<boolean> {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return Promise.resolve(false);
    }
    return checkWelcome(this.options.secret, 'edge', challenge, nonce, frame).then(Boolean);
  }

  /** A proven link: served like any other, kept alive, watched. */
  private up(ws: WebSocket, early: string[]): void {
    this.failures = 0;
    this.lastError = '';
    this.log.info({ edge: new URL(this.options.edgeUrl).host, hostId: this.options.hostId }, 'link to the edge is up');
    this.options.server.serve(ws, early);
    let heardAt = Date.now();
    ws.on('message', () => (heardAt = Date.now()));
    const timer = setInterval(() => {
      if (Date.now() - heardAt > 2 * this.options.pingMs) {
        this.log.warn('the edge stopped answering the keep-alive; dialling again');
        ws.terminate();
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.send(PING);
    }, this.options.pingMs);
    timer.unref();
    ws.on('close', () => clearInterval(timer));
  }

  private failed(why: string): void {
    this.lastError = why;
    this.failures++;
    this.log.warn({ attempt: this.failures }, `link to the edge: ${why}`);
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const { minBackoffMs, maxBackoffMs } = this.options;
    // Doubling from the first failure, with jitter so hosts cut off together do not return together.
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.max(0, this.failures - 1));
    this.retryTimer = setTimeout(() => void this.dial(), base * (0.8 + Math.random() * 0.4));
  }
}

/** The edge's one-line reason from a refusal's body (JSON `{error}` / `{reason}` or text), kept short. */
function reasonOf(body: string): string {
  try {
    const json = JSON.parse(body) as { error?: unknown; reason?: unknown; message?: unknown };
    const reason = json.error ?? json.reason ?? json.message;
    if (typeof reason === 'string') return reason.slice(0, 200);
  } catch {}
  return body.trim().slice(0, 200) || 'no reason given';
}
