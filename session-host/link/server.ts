// The host's end of the link: issues challenges, refuses any upgrade that does not prove the
// shared secret over one of them, answers the edge's requests through the registry, and pushes
// events to every authenticated link: journaled ones (journal.ts) are sent again to each new link
// until the edge acknowledges them. A link the host dialled itself (dialer.ts) is served the same way.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import type { EventJournal } from './journal.ts';
import {
  ackFrame,
  checkDial,
  Challenges,
  LinkError,
  methods,
  requestFrame,
  type EventData,
  type EventName,
  type Method,
  type Params,
  PONG,
  type ReplyFrame,
  type Result,
  welcomeFor,
  type ChallengeReply,
} from './protocol.ts';

export type Handlers = { [M in Method]: (params: Params<M>) => Promise<Result<M>> };

export class LinkServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private readonly links = new Set<WebSocket>();
  /** Requests being handled (see drain). */
  private readonly inFlight = new Set<Promise<unknown>>();
  private draining = false;
  private readonly challenges: Challenges;
  private readonly journal: EventJournal | undefined;
  private readonly secret: string;
  private readonly handlers: Handlers;
  private readonly log: Logger;
  private readonly publicUrl: string | null;

  constructor(options: {
    secret: string;
    handlers: Handlers;
    logger: Logger;
    publicUrl?: string;
    challenges?: ConstructorParameters<typeof Challenges>[0];
    /** Keeps receipts and incoming messages until the edge acknowledges them. */
    journal?: EventJournal;
  }) {
    this.secret = options.secret;
    this.journal = options.journal;
    this.challenges = new Challenges(options.challenges);
    this.handlers = options.handlers;
    this.log = options.logger.child({ component: 'link' });
    this.publicUrl = options.publicUrl ?? null;
  }

  get connected(): number {
    return this.links.size;
  }

  /** A fresh challenge for the next upgrade (`GET /link/challenge`). */
  challenge(): ChallengeReply {
    return this.challenges.issue();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const header = (name: string) => {
      const value = req.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    checkDial(this.secret, 'edge', this.challenges, header).then(
      async (check) => {
        if (!check.ok) {
          this.log.warn({ remote: req.socket.remoteAddress, reason: check.reason }, 'link refused');
          socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nlink refused: ${check.reason}\n`);
          return;
        }
        const welcome = await welcomeFor(this.secret, 'host', check.challenge, check.nonce, this.publicUrl);
        if (socket.destroyed) return;
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, JSON.stringify(welcome)));
      },
      (error) => {
        this.log.error({ err: error }, 'link handshake failed');
        socket.destroy();
      },
    );
  }

  private accept(ws: WebSocket, welcome: string): void {
    ws.send(welcome);
    this.serve(ws);
  }

  /**
   * Serves a proven link, whichever side dialled: first what the edge has not acknowledged, then
   * its requests and acks. `early` are frames that came while the dialler was checking the
   * edge's welcome, handled after the backlog in the order they came.
   */
  serve(ws: WebSocket, early: string[] = []): void {
    // What the edge has not acknowledged, oldest first; synchronously, so nothing raised from
    // now on can overtake it.
    const backlog = this.journal?.pending() ?? [];
    for (const entry of backlog) ws.send(JSON.stringify(entry));
    this.links.add(ws);
    if (backlog.length) this.log.info({ events: backlog.length }, 'link: unacknowledged events sent again');
    this.log.info({ links: this.links.size }, 'link connected');
    ws.on('message', (data) => this.receive(ws, data.toString()));
    for (const text of early) this.receive(ws, text);
    ws.on('close', () => {
      this.links.delete(ws);
      this.log.info({ links: this.links.size }, 'link closed');
    });
    ws.on('error', (error) => this.log.warn({ err: error }, 'link socket error'));
  }

  private receive(ws: WebSocket, text: string): void {
    // The edge's answer to a dialling host's keep-alive (dialer.ts watches it).
    if (text === PONG) return;
    void this.onFrame(ws, text);
  }

  private async onFrame(ws: WebSocket, text: string): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.log.warn('link frame is not JSON; ignored');
    }
    const ack = ackFrame.safeParse(json);
    if (ack.success) return this.journal?.ack(ack.data.ack);
    const frame = requestFrame.safeParse(json);
    if (!frame.success) return this.log.warn({ issues: frame.error.issues }, 'malformed link frame; ignored');
    const { id, method, params } = frame.data;
    const reply = (r: ReplyFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(r));
    };
    try {
      // Refused before anything is done, so the edge knows for sure it was not (a send goes later).
      if (this.draining) throw new LinkError('host_offline', 'the session host is stopping');
      const spec = methods[method as Method];
      if (!spec) throw new LinkError('bad_request', `unknown method ${method}`);
      const parsed = spec.params.safeParse(params ?? {});
      if (!parsed.success) throw new LinkError('bad_request', z.prettifyError(parsed.error));
      const handler = this.handlers[method as Method] as (p: unknown) => Promise<unknown>;
      const handled = handler(parsed.data);
      this.inFlight.add(handled);
      try {
        reply({ id, ok: true, result: await handled });
      } finally {
        this.inFlight.delete(handled);
      }
    } catch (error) {
      if (error instanceof LinkError) return reply({ id, ok: false, error: { code: error.code, message: error.message } });
      this.log.error({ err: error, method }, 'link request failed');
      reply({ id, ok: false, error: { code: 'internal', message: 'internal error on the session host' } });
    }
  }

  /**
   * The first step of a stop: takes no more requests and waits, up to `timeoutMs`, for those in
   * flight (a send waiting for WhatsApp's ack) to be answered, so none ends as an unknown outcome.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    if (!this.inFlight.size) return;
    this.log.info({ requests: this.inFlight.size }, 'stopping: waiting for requests in flight');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled(this.inFlight), deadline]);
    clearTimeout(timer);
  }

  /** Sends an event to every link; one the edge must not miss is journaled first. */
  broadcast<E extends EventName>(event: E, data: EventData<E>): void {
    const seq = this.journal?.record(event, data);
    const frame = JSON.stringify(seq === undefined ? { event, data } : { seq, event, data });
    for (const ws of this.links) if (ws.readyState === ws.OPEN) ws.send(frame);
  }

  close(): void {
    for (const ws of this.links) ws.close(1001, 'host shutting down');
    this.wss.close();
  }
}
