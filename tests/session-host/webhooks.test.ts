// The webhook queue against a real receiver on 127.0.0.1 and both real stores: signing, retries
// through a receiver that is down and then failing, restarts, a SIGKILLed process, expiry, and
// the private-network rule.
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type StoreConfig } from '../../session-host/store/index.ts';
import type { Store } from '../../session-host/store/store.ts';
import { WebhookQueue, type WebhookQueueOptions, type WebhookTarget } from '../../session-host/webhooks/queue.ts';
import { signWebhook, verifyWebhookSignature } from '../../session-host/webhooks/signature.ts';
import { storeBackends } from '../support/store-backends.ts';

const SECRET = 'whsec-test-5f0c1d2e3a4b';

/** Test payloads carry their device and a sequence number, so order can be checked per device. */
interface Payload {
  deviceId: string;
  n: number;
}
interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  /** X-Webhook-Id */
  id: string;
  body: Payload;
  status: number;
}

/** A webhook receiver whose answers the test steers; it can also be down (not listening). */
class Receiver {
  status: () => number = () => 200;
  holdMs = 0;
  readonly requests: Received[] = [];
  active = 0;
  maxActive = 0;
  private readonly activeByDevice = new Map<string, number>();
  maxActivePerDevice = 0;
  private readonly server: Server;
  port = 0;

  constructor() {
    this.server = createServer(async (req, res) => {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const body = JSON.parse(raw) as Payload;
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      const perDevice = (this.activeByDevice.get(body.deviceId) ?? 0) + 1;
      this.activeByDevice.set(body.deviceId, perDevice);
      this.maxActivePerDevice = Math.max(this.maxActivePerDevice, perDevice);
      if (this.holdMs) await new Promise((resolve) => setTimeout(resolve, this.holdMs));
      const status = this.status();
      this.requests.push({ headers: req.headers, raw, id: String(req.headers['x-webhook-id']), body, status });
      this.active--;
      this.activeByDevice.set(body.deviceId, perDevice - 1);
      res.writeHead(status, status === 302 ? { location: '/elsewhere' } : {}).end(status < 300 ? 'ok' : 'receiver broke');
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }
  async listen(port = this.port): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  /** Takes a free port and stops listening on it: connections are refused until `listen()`. */
  async down(): Promise<void> {
    if (!this.server.listening) await this.listen(0);
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
  /** The requests answered 2xx, in arrival order. */
  delivered(device?: string): Received[] {
    return this.requests.filter((r) => r.status < 300 && (!device || r.body.deviceId === device));
  }
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('verifyWebhookSignature', () => {
  const body = '{"id":"1","event":"message"}';
  const now = Date.now();
  const ts = Math.floor(now / 1000);
  const signature = signWebhook(SECRET, ts, body);

  it('accepts the signature of the body at the timestamp, as header strings or a Buffer body', () => {
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(SECRET, String(ts), body, signature)).toBe(true);
    expect(verifyWebhookSignature(SECRET, ts, Buffer.from(body), signature.toUpperCase().replace('SHA256', 'sha256'))).toBe(true);
  });

  it('rejects a wrong secret, a changed body or timestamp, garbage and a missing header', () => {
    expect(verifyWebhookSignature('wrong secret', ts, body, signature)).toBe(false);
    expect(verifyWebhookSignature(SECRET, ts, body.replace('1', '2'), signature)).toBe(false);
    expect(verifyWebhookSignature(SECRET, ts - 1, body, signature)).toBe(false);
    expect(verifyWebhookSignature(SECRET, ts, body, 'sha256=abc')).toBe(false);
    expect(verifyWebhookSignature(SECRET, 'soon', body, signature)).toBe(false);
    expect(verifyWebhookSignature(SECRET, ts, body, undefined)).toBe(false);
  });

  it('rejects old timestamps unless told otherwise', () => {
    const old = ts - 600;
    const oldSignature = signWebhook(SECRET, old, body);
    expect(verifyWebhookSignature(SECRET, old, body, oldSignature)).toBe(false);
    expect(verifyWebhookSignature(SECRET, old, body, oldSignature, { toleranceSeconds: 900 })).toBe(true);
    expect(verifyWebhookSignature(SECRET, old, body, oldSignature, { toleranceSeconds: Infinity })).toBe(true);
  });
});

const backends = storeBackends('webhooks');

describe.each(backends)('webhook queue on the %s store', (_backend, openBackend) => {
  let config: StoreConfig;
  let cleanup: () => Promise<void>;
  let store: Store;
  let receiver: Receiver;
  let lines: string[];
  const queues: WebhookQueue[] = [];
  const stores: Store[] = [];

  beforeEach(async () => {
    ({ config, cleanup } = await openBackend());
    store = await openStore(config);
    stores.push(store);
    receiver = new Receiver();
    await receiver.listen(0);
    lines = [];
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.stop()));
    await receiver.down();
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await cleanup();
    // Whatever happened, neither the secret nor a signature may reach the logs.
    const log = lines.join('');
    expect(log).not.toContain(SECRET);
    expect(log).not.toMatch(/sha256=[0-9a-f]{64}/);
  });

  function queue(options: Partial<WebhookQueueOptions> & { target?: WebhookQueueOptions['target'] } = {}): WebhookQueue {
    const q = new WebhookQueue({
      store,
      logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
      target: (): WebhookTarget => ({ url: receiver.url, secret: SECRET }),
      allowPrivateNetworks: true,
      timeoutMs: 2_000,
      ...options,
      retry: { initialDelayMs: 20, maxDelayMs: 80, maxAgeMs: 60_000, ...options.retry },
    });
    queues.push(q);
    return q;
  }
  const storedJobs = async (s = store) => (await s.getMany(await s.keys('webhook:'))).map((v) => JSON.parse(v!));
  const logged = (message: string) => lines.map((l) => JSON.parse(l)).filter((l) => l.msg === message);

  it('posts signed JSON with the documented headers, then deletes the job', async () => {
    const q = queue();
    const payload = { deviceId: 'dev-a', n: 0, from: '628123456789', text: 'hi' };
    const id = await q.enqueue('dev-a', { type: 'message', payload });
    expect((await storedJobs()).map((j) => j.id)).toEqual([id]); // stored before enqueue resolved
    await q.start();
    await until('delivered', () => q.stats.delivered === 1);

    const [request] = receiver.requests;
    const { headers } = request!;
    expect(headers['content-type']).toBe('application/json');
    expect(headers['user-agent']).toBe('wa-gateway');
    expect(headers['x-webhook-id']).toBe(id);
    expect(headers['x-webhook-event']).toBe('message');
    expect(Math.abs(Number(headers['x-webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    const args = [headers['x-webhook-timestamp'] as string, request!.raw, headers['x-webhook-signature'] as string] as const;
    expect(verifyWebhookSignature(SECRET, ...args)).toBe(true);
    expect(verifyWebhookSignature('not the secret', ...args)).toBe(false);
    expect(request!.raw).toBe(JSON.stringify(payload)); // the payload is the body, as is

    await until('job deleted', async () => (await store.keys('webhook:')).length === 0);
    expect(q.stats).toEqual({ depth: 0, inFlight: 0, delivered: 1, failures: 0, dropped: 0, expired: 0, held: 0 });
  });

  it('gets every event to a receiver that was down, then failing, exactly once and in order', async () => {
    await receiver.down(); // connections refused
    const q = queue();
    await q.start();
    const ids: Record<string, string[]> = { 'dev-a': [], 'dev-b': [] };
    for (let n = 0; n < 4; n++) {
      for (const device of ['dev-a', 'dev-b']) ids[device]!.push(await q.enqueue(device, { type: 'status', payload: { deviceId: device, n } }));
    }
    await until('refused attempts', () => q.stats.failures >= 4);
    expect(receiver.requests).toHaveLength(0);

    receiver.status = () => 500;
    await receiver.listen();
    await until('500 answers', () => receiver.requests.length >= 4);
    receiver.status = () => 200;
    await until('all delivered', () => q.stats.delivered === 8);

    for (const device of ['dev-a', 'dev-b']) {
      expect(receiver.delivered(device).map((r) => r.id)).toEqual(ids[device]); // each once, in enqueue order
      // FIFO held during the retries too: no later event was tried while an earlier one waited.
      const tried = receiver.requests.filter((r) => r.body.deviceId === device).map((r) => r.body.n);
      expect(tried).toEqual([...tried].sort((a, b) => a - b));
    }
    expect(await store.keys('webhook:')).toEqual([]);
    expect(q.stats).toMatchObject({ depth: 0, delivered: 8, dropped: 0 });
    expect(q.stats.failures).toBeGreaterThanOrEqual(8);
    const reasons = logged('webhook delivery failed; will retry').map((l) => l.reason as string);
    expect(reasons).toContain(`webhook URL ${receiver.url} could not be reached: connection refused (ECONNREFUSED)`);
    expect(reasons).toContain(`webhook URL ${receiver.url} answered HTTP 500: receiver broke`);
  });

  it('resumes in a new queue over the reopened store and delivers each job once', async () => {
    receiver.status = () => 500;
    const first = queue();
    await first.start();
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const device = n % 2 ? 'dev-b' : 'dev-a';
      ids.push(await first.enqueue(device, { type: 'message', payload: { deviceId: device, n } }));
    }
    await until('a few failed attempts', () => receiver.requests.length >= 3);
    await first.stop();
    const triedBeforeRestart = receiver.requests.length;
    const persisted = await storedJobs();
    expect(persisted.map((j) => j.id).sort()).toEqual([...ids].sort());
    expect(Math.max(...persisted.map((j) => j.attempts))).toBeGreaterThanOrEqual(1);
    expect(persisted.find((j) => j.attempts > 0).lastError).toBe(`webhook URL ${receiver.url} answered HTTP 500: receiver broke`);
    stores.splice(stores.indexOf(store), 1);
    await store.close();

    // The restart: a new store connection and a new queue; the receiver has recovered.
    store = await openStore(config);
    stores.push(store);
    receiver.status = () => 200;
    const second = queue();
    await second.start();
    await until('all delivered', () => second.stats.delivered === 5);
    expect(receiver.requests.length - triedBeforeRestart).toBe(5); // none twice, none lost
    for (const device of ['dev-a', 'dev-b']) {
      expect(receiver.delivered(device).map((r) => r.id)).toEqual(ids.filter((_, n) => (n % 2 ? 'dev-b' : 'dev-a') === device));
    }
    expect(await store.keys('webhook:')).toEqual([]);
    expect(first.stats.delivered).toBe(0);
  });

  it('loses nothing and sends nothing twice when the process is killed mid-retry', async () => {
    receiver.status = () => 500;
    // A separate Node process owns the queue, and gets SIGKILLed while it is retrying.
    const script = `
      import { pino } from 'pino';
      import { openStore } from ${JSON.stringify(new URL('../../session-host/store/index.ts', import.meta.url).href)};
      import { WebhookQueue } from ${JSON.stringify(new URL('../../session-host/webhooks/queue.ts', import.meta.url).href)};
      const store = await openStore(${JSON.stringify(config)});
      const queue = new WebhookQueue({
        store, logger: pino({ level: 'silent' }), allowPrivateNetworks: true,
        target: () => ({ url: ${JSON.stringify(receiver.url)}, secret: 'child-secret' }),
        retry: { initialDelayMs: 5, maxDelayMs: 20 },
      });
      await queue.start();
      const ids = [];
      for (let n = 0; n < 6; n++) {
        const deviceId = n < 3 ? 'dev-a' : 'dev-b';
        ids.push(await queue.enqueue(deviceId, { type: 'message', payload: { deviceId, n } }));
      }
      process.stdout.write(JSON.stringify(ids) + '\\n');
      setInterval(() => {}, 1000); // the queue's timers are unref'd; a host's server keeps it alive
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await until('the child queued its events', () => out.includes('\n'));
    const ids = JSON.parse(out) as string[];
    await until('the child retried a few times', () => receiver.requests.length >= 6);
    child.kill('SIGKILL');
    expect(await exited).toBe(null);
    const triedBeforeCrash = receiver.requests.length;

    receiver.status = () => 200;
    const q = queue({ target: () => ({ url: receiver.url, secret: 'child-secret' }) });
    await q.start();
    await until('all delivered', () => q.stats.delivered === 6);
    expect(
      receiver
        .delivered()
        .map((r) => r.id)
        .sort(),
    ).toEqual([...ids].sort());
    for (const device of ['dev-a', 'dev-b']) {
      expect(receiver.delivered(device).map((r) => r.body.n)).toEqual(device === 'dev-a' ? [0, 1, 2] : [3, 4, 5]);
    }
    expect(receiver.requests.length - triedBeforeCrash).toBe(6);
    expect(await store.keys('webhook:')).toEqual([]);
  });

  it('gives a job up once it is older than maxAge', async () => {
    receiver.status = () => 500;
    const q = queue({ retry: { maxAgeMs: 200 } });
    await q.start();
    await q.enqueue('dev-a', { type: 'connection', payload: { deviceId: 'dev-a', n: 0, status: 'open' } });
    await until('expired', () => q.stats.expired === 1);
    expect(receiver.requests.length).toBeGreaterThanOrEqual(1);
    expect(receiver.delivered()).toEqual([]);
    expect(q.stats).toMatchObject({ depth: 0, delivered: 0, dropped: 1, expired: 1 });
    expect(await store.keys('webhook:')).toEqual([]);
    expect(logged('webhook expired undelivered')).toHaveLength(1);
  });

  it('drops a stored job that expired while the host was down, without sending it', async () => {
    await queue().enqueue('dev-a', { type: 'message', payload: { deviceId: 'dev-a', n: 0 } }); // never started: stays stored
    await new Promise((resolve) => setTimeout(resolve, 150));
    const q = queue({ retry: { maxAgeMs: 100 } });
    await q.start();
    await until('expired', () => q.stats.expired === 1);
    expect(receiver.requests).toEqual([]);
    expect(await store.keys('webhook:')).toEqual([]);
  });

  it('never delivers to a private address unless allowed, and logs why', async () => {
    const q = queue({ allowPrivateNetworks: false, retry: { maxAgeMs: 300 } });
    await q.start();
    await q.enqueue('dev-a', { type: 'message', payload: { deviceId: 'dev-a', n: 0 } });
    await until('two failed attempts', () => q.stats.failures >= 2);
    const why = `webhook URL ${receiver.url} is a loopback address; set MEDIA_ALLOW_PRIVATE_NETWORKS=true to allow private networks`;
    expect((await storedJobs())[0]).toMatchObject({ lastError: why });
    expect(logged('webhook delivery failed; will retry')[0]).toMatchObject({ deviceId: 'dev-a', reason: why });
    await until('expired', () => q.stats.expired === 1);
    expect(receiver.requests).toEqual([]);
  });

  it('counts a redirect as delivered, without following it (Apps Script answers a POST with 302)', async () => {
    receiver.status = () => 302;
    const q = queue();
    await q.start();
    await q.enqueue('dev-a', { type: 'status', payload: { deviceId: 'dev-a', n: 0 } });
    await until('delivered', () => q.stats.delivered === 1);
    await new Promise((resolve) => setTimeout(resolve, 200)); // a retry would come within this
    expect(receiver.requests.map((r) => r.body)).toEqual([{ deviceId: 'dev-a', n: 0 }]);
    expect(q.stats).toMatchObject({ delivered: 1, failures: 0, depth: 0 });
    expect(await storedJobs()).toEqual([]);
  });

  it('drops jobs whose device has no webhook target, and counts them', async () => {
    const q = queue({ target: (deviceId) => (deviceId === 'dev-a' ? { url: receiver.url, secret: SECRET } : undefined) });
    await q.start();
    await q.enqueue('gone', { type: 'message', payload: { deviceId: 'gone', n: 0 } });
    await q.enqueue('dev-a', { type: 'message', payload: { deviceId: 'dev-a', n: 1 } });
    await until('settled', () => q.stats.depth === 0);
    expect(q.stats).toMatchObject({ delivered: 1, dropped: 1, expired: 0 });
    expect(receiver.delivered().map((r) => r.body.deviceId)).toEqual(['dev-a']);
    expect(await store.keys('webhook:')).toEqual([]);
  });

  it('delivers one job per device at a time, at most `concurrency` at once', async () => {
    receiver.holdMs = 30;
    const q = queue({ concurrency: 2 });
    const devices = ['d1', 'd2', 'd3', 'd4'];
    for (let n = 0; n < 3; n++) for (const d of devices) await q.enqueue(d, { type: 'message', payload: { deviceId: d, n } });
    await q.start();
    await until('all delivered', () => q.stats.delivered === 12);
    expect(receiver.maxActive).toBe(2);
    expect(receiver.maxActivePerDevice).toBe(1);
    for (const d of devices) expect(receiver.delivered(d).map((r) => r.body.n)).toEqual([0, 1, 2]);
  });

  it('keeps only a window of jobs in memory and delivers all of a longer queue, in order per device', async () => {
    await receiver.down();
    const q = queue({ windowPerDevice: 4 });
    await q.start();
    const ids: Record<string, string[]> = { 'dev-a': [], 'dev-b': [] };
    for (let n = 0; n < 40; n++) {
      for (const device of ['dev-a', 'dev-b']) ids[device]!.push(await q.enqueue(device, { type: 'message', payload: { deviceId: device, n } }));
    }
    expect(q.stats.depth).toBe(80);
    expect(q.windowed).toBeLessThanOrEqual(8);
    expect(await store.keys('webhook:')).toHaveLength(80); // every job stored before enqueue resolved
    let widest = 0;
    const sampler = setInterval(() => (widest = Math.max(widest, q.windowed)), 1);
    await receiver.listen();
    try {
      await until('all delivered', () => q.stats.delivered === 80);
    } finally {
      clearInterval(sampler);
    }
    expect(widest).toBeLessThanOrEqual(8);
    for (const device of ['dev-a', 'dev-b']) {
      expect(receiver.delivered(device).map((r) => r.id)).toEqual(ids[device]); // each once, in enqueue order
      const tried = receiver.requests.filter((r) => r.body.deviceId === device).map((r) => r.body.n);
      expect(tried).toEqual([...tried].sort((a, b) => a - b));
    }
    expect(q.stats).toMatchObject({ depth: 0, delivered: 80, dropped: 0 });
    expect(await store.keys('webhook:')).toEqual([]);
  });

  it('resumes a queue longer than its window after a restart, oldest first, and keeps new jobs behind it', async () => {
    await queue().enqueue('dev-a', { type: 'message', payload: { deviceId: 'dev-a', n: 0 } }); // never started: stays stored
    const first = queue({ windowPerDevice: 3 });
    for (let n = 1; n < 30; n++) await first.enqueue('dev-a', { type: 'message', payload: { deviceId: 'dev-a', n } });
    // A job stored by an older version, under a key without its seq, is still delivered in its place.
    const [oldest] = await storedJobs();
    const oldKey = (await store.keys('webhook:')).find((key) => key.endsWith(oldest.id))!;
    await store.write({ [oldKey]: null, [`webhook:dev-a:${oldest.id}`]: JSON.stringify(oldest) });
    await first.stop();

    const second = queue({ windowPerDevice: 3 });
    await second.start();
    expect(second.windowed).toBeLessThanOrEqual(3);
    for (let n = 30; n < 35; n++) await second.enqueue('dev-a', { type: 'message', payload: { deviceId: 'dev-a', n } });
    await until('all delivered', () => second.stats.delivered === 35);
    expect(receiver.delivered('dev-a').map((r) => r.body.n)).toEqual(Array.from({ length: 35 }, (_, n) => n));
    expect(await store.keys('webhook:')).toEqual([]);
  });

  it('stop() waits for a delivery in flight and leaves the rest stored', async () => {
    receiver.holdMs = 200;
    const q = queue();
    await q.start();
    await q.enqueue('dev-a', { type: 'message', payload: { deviceId: 'dev-a', n: 0 } });
    await q.enqueue('dev-a', { type: 'message', payload: { deviceId: 'dev-a', n: 1 } });
    await until('first in flight', () => receiver.active === 1);
    await q.stop();
    expect(receiver.delivered().map((r) => r.body.n)).toEqual([0]);
    expect((await storedJobs()).map((j) => j.payload.n)).toEqual([1]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.requests).toHaveLength(1); // nothing sent after stop
  });

  it('refuses malformed events with a clear error', async () => {
    const q = queue();
    await expect(q.enqueue('dev-a', { type: 'bogus' as 'message', payload: {} })).rejects.toThrow('webhook event type must be one of message, status, connection, group, not "bogus"');
    await expect(q.enqueue('dev-a', { type: 'status', payload: null as unknown as object })).rejects.toThrow('webhook status payload must be an object');
    await expect(q.enqueue('', { type: 'status', payload: {} })).rejects.toThrow('webhook deviceId is empty');
    expect(await store.keys('webhook:')).toEqual([]);
  });
});
