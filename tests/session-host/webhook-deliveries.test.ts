import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type StoreConfig } from '../../session-host/store/index.ts';
import type { Store } from '../../session-host/store/store.ts';
import { WebhookQueue, type WebhookQueueOptions } from '../../session-host/webhooks/queue.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import { storeBackends } from '../support/store-backends.ts';
import { until } from '../support/until.ts';

const SECRET = 'whsec-deliveries-7a1b2c3d4e';
const HOUR = 3_600_000;

const backends = storeBackends('deliveries', { expiryResolutionMs: 100 });

describe.each(backends)('webhook deliveries on the %s store', (_backend, openBackend) => {
  let cleanup: () => Promise<void>;
  let store: Store;
  let receiver: WebhookReceiver;
  let lines: string[];
  const queues: WebhookQueue[] = [];

  beforeEach(async () => {
    let config: StoreConfig;
    ({ config, cleanup } = await openBackend());
    store = await openStore(config);
    receiver = await new WebhookReceiver().start();
    lines = [];
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.stop()));
    await receiver.stop();
    await store.close();
    await cleanup();
    // Neither the URL's credentials nor its query values reach the logs.
    expect(lines.join('')).not.toMatch(/hunter2|query-secret/);
  });

  /** A started queue posting to the receiver, its URL carrying credentials and a token in the query. */
  async function queue(options: Partial<WebhookQueueOptions> = {}): Promise<WebhookQueue> {
    const url = `${receiver.url.replace('http://', 'http://user:hunter2@')}?token=query-secret`;
    const q = new WebhookQueue({
      store,
      logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
      target: () => ({ url, secret: SECRET }),
      allowPrivateNetworks: true,
      timeoutMs: 2_000,
      ...options,
      // The backoff is an hour: anything delivered after a failure was retried by hand.
      retry: { initialDelayMs: HOUR, maxDelayMs: HOUR, maxAgeMs: 24 * HOUR, ...options.retry },
    });
    queues.push(q);
    await q.start();
    return q;
  }
  const only = async (q: WebhookQueue, deviceId: string) => {
    const list = await q.deliveries(deviceId);
    expect(list).toHaveLength(1);
    return list[0]!;
  };

  it('shows a failing receiver with its status code and attempts, and retry now delivers at once', async () => {
    receiver.status = 500;
    const q = await queue();
    const id = await q.enqueue('shop', { type: 'message', payload: { id: 'MSG-1', message: 'hello' } });

    const failing = await until(async () => {
      const [d] = await q.deliveries('shop');
      return d?.attempts === 1 && d;
    }, 'the first attempt');
    expect(failing).toMatchObject({ id, event: 'message', status: 'failed', statusCode: 500, attempts: 1, messageId: 'MSG-1', deliveredAt: null, retryable: true });
    expect(failing.error).toContain('answered HTTP 500');
    expect(failing.nextAttemptAt!).toBeGreaterThan(Date.now() + HOUR / 2);
    // The URL as configured, minus what could be a secret.
    expect(failing.url).toBe(`${receiver.url}?…`);
    expect(JSON.stringify(failing)).not.toMatch(/hunter2|query-secret/);
    expect(await q.deliveries('shop', { status: 'failed' })).toHaveLength(1);
    expect(await q.deliveries('shop', { status: 'delivered' })).toEqual([]);
    expect(await q.deliveries('elsewhere')).toEqual([]);

    receiver.status = 200;
    const retried = await q.retryNow('shop', id);
    expect(retried).toMatchObject({ id, status: 'failed', attempts: 1 });
    expect(retried.nextAttemptAt!).toBeLessThanOrEqual(Date.now());
    const got = await receiver.waitFor((r) => r.headers['x-webhook-id'] === id, 10_000);
    expect(got.json).toMatchObject({ id: 'MSG-1', message: 'hello' });

    const delivered = await until(async () => {
      const d = await only(q, 'shop');
      return d.status === 'delivered' && d;
    }, 'the delivery listed as delivered');
    expect(delivered).toMatchObject({ id, statusCode: 200, attempts: 2, error: null, nextAttemptAt: null, retryable: false, messageId: 'MSG-1' });
    expect(delivered.deliveredAt!).toBeGreaterThanOrEqual(delivered.lastAttemptAt!);
    expect(receiver.received).toHaveLength(1);
    // A delivered one is not sent again, and an unknown id is not found.
    await expect(q.retryNow('shop', id)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(q.retryNow('shop', 'no-such-delivery')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('lists a receiver that does not answer with its error and no status code', async () => {
    await receiver.stop(); // connections refused
    const q = await queue();
    await q.enqueue('shop', { type: 'status', payload: { id: 'MSG-2', status: 'read' } });
    const d = await until(async () => {
      const [first] = await q.deliveries('shop');
      return first?.attempts === 1 && first;
    }, 'the first attempt');
    expect(d).toMatchObject({ event: 'status', status: 'failed', statusCode: null, messageId: 'MSG-2' });
    expect(d.error).toMatch(/refused|ECONNREFUSED/i);
  });

  it('keeps the newest finished deliveries per device, and forgets them after the retention', async () => {
    const q = await queue({ historyPerDevice: 5, historyRetentionMs: 1_500 });
    for (let n = 0; n < 8; n++) await q.enqueue('busy', { type: 'message', payload: { id: `busy-${n}` } });
    await q.enqueue('quiet', { type: 'message', payload: { id: 'quiet-0' } });
    await until(() => q.stats.delivered === 9, 'every webhook delivered');

    const busy = await q.deliveries('busy', { limit: 200 });
    expect(busy.map((d) => d.messageId)).toEqual(['busy-7', 'busy-6', 'busy-5', 'busy-4', 'busy-3']);
    expect(busy.every((d) => d.status === 'delivered' && d.statusCode === 200 && d.attempts === 1)).toBe(true);
    expect(await q.deliveries('busy', { limit: 2 })).toHaveLength(2);
    // Written together a moment later, no more than the five, and there after a restart.
    await until(async () => JSON.parse((await store.get('delivery:busy')) ?? '[]').length === 5, 'the records written');
    await q.stop();
    const restarted = await queue({ historyPerDevice: 5, historyRetentionMs: 1_500 });
    expect((await restarted.deliveries('busy')).map((d) => d.messageId)).toEqual(['busy-7', 'busy-6', 'busy-5', 'busy-4', 'busy-3']);
    expect((await q.deliveries('quiet')).map((d) => d.messageId)).toEqual(['quiet-0']);

    // Past the retention the store holds nothing of them.
    await until(async () => (await store.keys('')).length === 0 && true, 'the records expired', 15_000, 200);
    expect(await restarted.deliveries('busy')).toEqual([]);
  });

  it('queues a delivery given up after its maximum age again, once, under its own id', async () => {
    receiver.status = 503;
    const q = await queue({ retry: { initialDelayMs: 50, maxDelayMs: 50, maxAgeMs: 300 } });
    const id = await q.enqueue('shop', { type: 'message', payload: { id: 'MSG-3' } });
    const gaveUp = await until(async () => {
      const [d] = await q.deliveries('shop');
      return d?.nextAttemptAt === null && d;
    }, 'the delivery given up');
    expect(gaveUp).toMatchObject({ id, status: 'failed', statusCode: 503, retryable: true });
    expect(gaveUp.attempts).toBeGreaterThanOrEqual(1);

    receiver.status = 200;
    expect(await q.retryNow('shop', id)).toMatchObject({ id, status: 'pending', attempts: 0 });
    await receiver.waitFor((r) => r.headers['x-webhook-id'] === id, 10_000);
    await until(async () => (await only(q, 'shop')).status === 'delivered', 'delivered after the requeue');
  });

  it('makes the webhooks queued before it due too, since a device delivers in order', async () => {
    receiver.status = 500;
    const q = await queue();
    const first = await q.enqueue('shop', { type: 'message', payload: { id: 'first' } });
    await until(async () => (await q.deliveries('shop'))[0]?.attempts === 1, 'the first attempt');
    const second = await q.enqueue('shop', { type: 'message', payload: { id: 'second' } });
    expect((await q.deliveries('shop')).map((d) => [d.id, d.status])).toEqual([
      [second, 'pending'],
      [first, 'failed'],
    ]);
    receiver.status = 200;
    await q.retryNow('shop', second);
    await until(() => receiver.received.length === 2, 'both delivered');
    expect(receiver.received.map((r) => r.json.id)).toEqual(['first', 'second']);
  });
});
