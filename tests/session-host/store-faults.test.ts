// The session host when its store fails: a Redis that stops for 20 s (sends refused quickly with
// store_unavailable, nothing incoming lost, everything back without a restart), a Redis that comes
// back empty and a store directory emptied (noticed, reported, the login written back so a restart
// needs no QR), and the file store's permissions. Each test runs its own redis-server: the shared
// one on 6379 is never stopped or flushed.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../../session-host/host.ts';
import { LinkError, type DeviceState } from '../../session-host/link/protocol.ts';
import { pino } from 'pino';
import { useStoreAuthState } from '../../session-host/store/auth-state.ts';
import { FileStore } from '../../session-host/store/file-store.ts';
import { RedisStore } from '../../session-host/store/redis-store.ts';
import { WebhookQueue } from '../../session-host/webhooks/queue.ts';
import { hostMetrics, startTestHost, TEST_SECRET, tempDir } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import { RedisServer } from '../support/redis-server.ts';
import { WaSim } from '../wa-sim/index.ts';

const WEBHOOK_SECRET = 'webhook-secret-store-faults-01';
const OUTAGE_MS = 20_000;

let sim: WaSim;
let receiver: WebhookReceiver;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  receiver = await new WebhookReceiver().start();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await receiver?.stop();
  await sim?.stop();
});

async function host(env: Record<string, string>, dataDir = tempDir()): Promise<{ host: Host; link: LinkClient }> {
  const started = await startTestHost(sim, { dataDir, env: { STORE_CHECK_MS: '200', ...env } });
  const link = await LinkClient.connect(started.url, TEST_SECRET);
  cleanups.push(
    () => started.stop(),
    () => link.close(),
  );
  return { host: started, link };
}

async function linkDevice(link: LinkClient, id: string): Promise<DeviceState> {
  await link.request('device.upsert', { id, webhookUrl: receiver.url, webhookSecret: WEBHOOK_SECRET });
  const { qr } = await link.request('device.connect', { id });
  await sim.scanQr(qr!);
  return link.nextEvent('device.status', (d) => d.id === id && d.status === 'CONNECTED');
}

/** Opens Signal sessions both ways with a new contact, as a device in use has. */
async function chatWithContact(link: LinkClient, device: DeviceState) {
  const contact = sim.addContact();
  const sent = await link.request('message.send', { deviceId: device.id, to: contact.jid, text: 'hello' });
  await sim.waitForOutgoing((m) => m.id === sent.id);
  const { id } = await sim.sendIncoming(device.phoneNumber!, contact.phone, 'hello back');
  await receiver.waitFor((r) => r.json.event === 'message' && r.json.id === id);
  return contact;
}

const health = async (url: string) => {
  const res = await fetch(`${url}/healthz`);
  return { status: res.status, body: (await res.json()) as { status: string; down?: string[]; store: { status: string; backend: string; error?: string; emptied?: { rewritten: string } } } };
};
const metrics = (url: string) => hostMetrics(url);

describe('a Redis outage', () => {
  it('refuses sends within 2 s each as store_unavailable, loses no incoming message, and recovers without a restart', async () => {
    const redis = await RedisServer.start({ persistent: true });
    cleanups.push(() => redis.stop());
    const { host: h, link } = await host({ REDIS_URL: redis.url });
    const device = await linkDevice(link, 'outage');
    const contact = await chatWithContact(link, device);
    expect(await health(h.url)).toMatchObject({ status: 200, body: { status: 'ok', store: { status: 'up', backend: 'redis' } } });

    await redis.stop();
    const outageEnds = Date.now() + OUTAGE_MS;
    await expect.poll(async () => (await health(h.url)).status).toBe(503);
    expect((await health(h.url)).body).toMatchObject({ status: 'down', down: ['store'], store: { status: 'down', backend: 'redis' } });
    expect(await metrics(h.url)).toMatch(/^wa_store_up 0$/m);

    // A message arrives while the store is down: WhatsApp has delivered it, so it must not be lost.
    const { id: incomingId } = await sim.sendIncoming(device.phoneNumber!, contact.phone, 'sent during the outage');
    const outgoingBefore = sim.outbox.length;
    const timings: number[] = [];
    while (Date.now() < outageEnds) {
      const started = Date.now();
      const error = await link.request('message.send', { deviceId: 'outage', to: contact.jid, text: 'during the outage', outboxId: `o-${timings.length}` }).catch((e: unknown) => e);
      timings.push(Date.now() - started);
      expect(error).toBeInstanceOf(LinkError);
      expect(error).toMatchObject({ code: 'store_unavailable', message: expect.stringMatching(/store is unavailable/) });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(timings.length).toBeGreaterThanOrEqual(8);
    expect(Math.max(...timings)).toBeLessThan(2_000);
    // Refused before WhatsApp saw anything.
    expect(sim.outbox.length).toBe(outgoingBefore);
    expect(receiver.received.some((r) => r.json.id === incomingId)).toBe(false);

    await redis.resume();
    const hook = await receiver.waitFor((r) => r.json.event === 'message' && r.json.id === incomingId);
    expect(hook.json).toMatchObject({ deviceId: 'outage', message: 'sent during the outage', sender: contact.phone });
    await expect.poll(async () => (await health(h.url)).status).toBe(200);
    expect(await metrics(h.url)).toMatch(/^wa_store_up 1$/m);
    const after = await link.request('message.send', { deviceId: 'outage', to: contact.jid, text: 'after the outage', outboxId: 'o-after' });
    expect((await sim.waitForOutgoing((m) => m.id === after.id)).text).toBe('after the outage');
    // The device kept its connection throughout: no status change was needed.
    expect((await link.request('host.status', {})).devices[0]).toMatchObject({ status: 'CONNECTED', reason: null });
  });
});

describe('the parts that hold writes through a Redis outage', () => {
  it('webhook queue: a job enqueued while Redis is down is delivered once it is back, and then deleted', async () => {
    const redis = await RedisServer.start({ persistent: true });
    cleanups.push(() => redis.stop());
    const store = await RedisStore.open(redis.url, 'held:');
    cleanups.push(() => store.close());
    const queue = new WebhookQueue({ store, logger: pino({ level: 'silent' }), target: () => ({ url: receiver.url, secret: WEBHOOK_SECRET }), allowPrivateNetworks: true });
    cleanups.push(() => queue.stop());
    await queue.start();
    await redis.stop();
    const id = await queue.enqueue('held-dev', { type: 'connection', payload: { deviceId: 'held-dev', status: 'DISCONNECTED' } });
    expect(queue.stats).toMatchObject({ held: 1, depth: 1 });
    expect(receiver.received.some((r) => r.headers['x-webhook-id'] === id)).toBe(false);
    await redis.resume();
    await receiver.waitFor((r) => r.headers['x-webhook-id'] === id);
    await expect.poll(() => store.keys('webhook:')).toEqual([]);
    expect(queue.stats).toMatchObject({ held: 0, depth: 0, delivered: 1 });
  });

  it('auth state: Signal keys set while Redis is down are read back at once and stored once it is back', async () => {
    const redis = await RedisServer.start({ persistent: true });
    cleanups.push(() => redis.stop());
    const store = await RedisStore.open(redis.url, 'held:');
    cleanups.push(() => store.close());
    const auth = await useStoreAuthState(store, 'dev1');
    await redis.stop();
    const started = Date.now();
    // Pre-keys are never cached: reading one back proves the held write answers reads.
    await auth.state.keys.set({ 'pre-key': { '7': { public: Buffer.from('pub'), private: Buffer.from('priv') } } });
    await auth.saveCreds();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await auth.state.keys.get('pre-key', ['7']))['7']?.private).toEqual(Buffer.from('priv'));
    await redis.resume();
    await expect.poll(() => store.get('auth:dev1:pre-key:7').catch(() => undefined), { timeout: 10_000 }).toBeDefined();
    expect(await store.get('auth:dev1:creds')).toBeDefined();
  });
});

describe('a store that comes back empty', () => {
  it('is reported (status reason, connection webhook, /healthz) and a restart needs no QR: Redis flushed', async () => {
    const redis = await RedisServer.start({ persistent: false });
    cleanups.push(() => redis.stop());
    const env = { REDIS_URL: redis.url };
    const first = await host(env);
    const device = await linkDevice(first.link, 'flushed');
    const contact = await chatWithContact(first.link, device);

    await redis.flushAll();
    const status = await first.link.nextEvent('device.status', (d) => d.id === 'flushed' && !!d.reason?.includes('lost its data'));
    expect(status).toMatchObject({ status: 'CONNECTED', reason: expect.stringMatching(/login was saved again/) });
    const hook = await receiver.waitFor((r) => r.json.event === 'connection' && r.json.deviceId === 'flushed' && String(r.json.reason).includes('lost its data'));
    expect(hook.json).toMatchObject({ status: 'connect', state: 'CONNECTED', device: device.phoneNumber });
    await expect
      .poll(() => health(first.host.url))
      .toMatchObject({
        status: 200,
        body: { status: 'degraded', store: { status: 'up', emptied: { rewritten: expect.stringMatching(/1 devices.*login and encryption keys/) } } },
      });
    expect(await metrics(first.host.url)).toMatch(/^wa_store_emptied_total 1$/m);

    await expectRestartWithoutQr(first, env, device, contact);
  });

  it('is noticed when Redis restarts without its data, and the login is back in Redis', async () => {
    const redis = await RedisServer.start({ persistent: false });
    cleanups.push(() => redis.stop());
    const { host: h, link } = await host({ REDIS_URL: redis.url });
    await linkDevice(link, 'amnesia');
    await redis.stop();
    await expect.poll(async () => (await health(h.url)).body.store.status).toBe('down');
    await redis.resume();
    await link.nextEvent('device.status', (d) => d.id === 'amnesia' && !!d.reason?.includes('login was saved again'));
    expect(await health(h.url)).toMatchObject({ status: 200, body: { status: 'degraded', store: { status: 'up', emptied: {} } } });
    const check = new Redis(redis.port, '127.0.0.1');
    cleanups.push(() => check.disconnect());
    expect(JSON.parse((await check.get('wa:auth:amnesia:creds'))!).me.id).toBeTruthy();
    expect(JSON.parse((await check.get('wa:device:amnesia:settings'))!)).toMatchObject({ id: 'amnesia', webhookUrl: receiver.url, autoConnect: true });
  });

  it('is reported and written back when the file store directory is emptied, with the same permissions', async () => {
    const dataDir = tempDir();
    const first = await host({}, dataDir);
    const device = await linkDevice(first.link, 'wiped');
    const contact = await chatWithContact(first.link, device);

    rmSync(join(dataDir, 'store'), { recursive: true });
    await first.link.nextEvent('device.status', (d) => d.id === 'wiped' && !!d.reason?.includes('login was saved again'));
    expect((await health(first.host.url)).body.store).toMatchObject({ status: 'up', backend: 'files', emptied: {} });
    expectPrivate(dataDir);

    await expectRestartWithoutQr(first, {}, device, contact, dataDir);
  });
});

/** Stops the host, starts another on the same store: the device is CONNECTED, no QR, and chats on. */
async function expectRestartWithoutQr(first: { host: Host; link: LinkClient }, env: Record<string, string>, device: DeviceState, contact: ReturnType<WaSim['addContact']>, dataDir?: string) {
  first.link.close();
  await first.host.stop();
  const registrations = sim.pendingRegistrations.length;
  const second = await host(env, dataDir);
  await second.host.restored;
  const { devices } = await second.link.request('host.status', {});
  expect(devices.map((d) => [d.id, d.status, d.phoneNumber, d.qr])).toEqual([[device.id, 'CONNECTED', device.phoneNumber, null]]);
  expect(sim.pendingRegistrations.length).toBe(registrations);
  // Both Signal sessions with the contact were in memory, so they were written back too.
  const sent = await second.link.request('message.send', { deviceId: device.id, to: contact.jid, text: 'after the restart' });
  expect((await sim.waitForOutgoing((m) => m.id === sent.id)).text).toBe('after the restart');
  const { id } = await sim.sendIncoming(device.phoneNumber!, contact.phone, 'still talking');
  await receiver.waitFor((r) => r.json.event === 'message' && r.json.id === id);
}

/** Every folder under `dir` (and `dir`) is 0700, every file 0600. */
function expectPrivate(dir: string): number {
  const loose: string[] = [];
  let files = 0;
  const visit = (path: string) => {
    const stat = statSync(path);
    const mode = stat.mode & 0o777;
    if (stat.isDirectory()) {
      if (mode !== 0o700) loose.push(`${path} ${mode.toString(8)}`);
      for (const name of readdirSync(path)) visit(join(path, name));
    } else {
      files++;
      if (mode !== 0o600) loose.push(`${path} ${mode.toString(8)}`);
    }
  };
  visit(dir);
  expect(loose).toEqual([]);
  return files;
}

describe('file store permissions', () => {
  it('keeps the login keys, settings and webhook jobs 0600 in 0700 folders, DATA_DIR included', async () => {
    const dataDir = join(tempDir(), 'data');
    const { link, host: h } = await host({}, dataDir);
    await linkDevice(link, 'private');
    await h.webhooks.enqueue('private', { type: 'status', payload: { note: 'kept until delivered' } });
    const files = expectPrivate(dataDir);
    // Creds, Signal keys, settings, sentinel: the check walked real files.
    expect(files).toBeGreaterThan(10);
  });

  it('tightens a store an older version left readable by others', async () => {
    const dir = join(tempDir(), 'store');
    mkdirSync(join(dir, 'auth.d', 'dev1.d'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'auth.d', 'dev1.d', 'creds.v'), '{}', { mode: 0o644 });
    chmodSync(dir, 0o755);
    const store = await FileStore.open(dir);
    await store.write({ [`device:${randomBytes(4).toString('hex')}:settings`]: '{}' });
    expect(await store.get('auth:dev1:creds')).toBe('{}');
    expectPrivate(dir);
    await store.close();
  });
});
