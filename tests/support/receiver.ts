// A webhook receiver on 127.0.0.1 that can be taken down and brought back on the same port.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  json: Record<string, unknown>;
}

export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Status to answer with; anything but 2xx or 3xx makes the sender retry. */
  status = 200;
  /** While set, answers wait for it: a delivery stays in flight (it is recorded on arrival). */
  hold?: Promise<void>;
  port = 0;
  private server?: Server;

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhook`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.status >= 200 && this.status < 400) {
          const body = Buffer.concat(chunks).toString('utf8');
          this.received.push({ headers: req.headers, body, json: JSON.parse(body) });
        }
        // A 3xx as Google Apps Script answers: a redirect to the script's result page.
        const status = this.status;
        const answer = () => res.writeHead(status, status >= 300 && status < 400 ? { location: '/result' } : {}).end();
        if (this.hold) this.hold.then(answer);
        else answer();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  /** Waits until a delivery matches. */
  async waitFor(predicate: (r: Received) => boolean, timeoutMs = 20_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`webhook not received within ${timeoutMs} ms; got ${this.received.map((r) => r.body).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
