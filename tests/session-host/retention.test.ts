// Per-send state on the host lives for the retention (RETENTION_DAYS), not for ever and not for a
// fixed count: a receipt for any message inside it still moves the message forward, an outbox
// retry still gets the first result, a recipient's retry request still gets the message; after
// it, the records are gone by themselves and the store is back to what it held before the sends.
// Real Baileys against the simulator, on real files and a real Redis.
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../session-host/config.ts';
import { expiryResolution, type Host } from '../../session-host/host.ts';
import { openStore } from '../../session-host/store/index.ts';
import type { Store } from '../../session-host/store/store.ts';
import { startTestHost, TEST_SECRET, tempDir } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WaSim } from '../wa-sim/index.ts';

/** Long enough for the 500-odd sends below on a busy machine, short enough to wait out. */
const RETENTION_MS = 45_000;
/** More than the 500 messages receipts used to be matched for. */
const OTHER_SENDS = 520;

let sim: WaSim;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
});
afterAll(() => sim.stop());

describe('RETENTION_DAYS', () => {
  const env = { HOST_SECRET: TEST_SECRET };
  it('defaults to 7 days, takes fractions, and refuses anything else naming the variable', () => {
    expect(loadConfig(env).retentionMs).toBe(7 * 86_400_000);
    expect(loadConfig({ ...env, RETENTION_DAYS: '0.5' }).retentionMs).toBe(43_200_000);
    for (const bad of ['0', '-1', 'week', '5000']) {
      expect(() => loadConfig({ ...env, RETENTION_DAYS: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ ...env, RETENTION_DAYS: bad }), bad).toThrow(/RETENTION_DAYS: must/);
    }
  });
});

/** Files under `dir`: the file store's footprint (with or without its expiry index). */
async function filesUnder(dir: string, withIndex = true): Promise<number> {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  return files.filter((e) => withIndex || !e.parentPath.includes('expiry.t')).length;
}

const backends: [string, () => Promise<{ store: Store; dir?: string }>][] = [
  [
    'files',
    async () => {
      const dataDir = tempDir();
      return { store: await openStore({ dataDir, expiryResolutionMs: expiryResolution(RETENTION_MS) }), dir: join(dataDir, 'store') };
    },
  ],
  ['redis', async () => ({ store: await openStore({ dataDir: '', redisUrl: 'redis://127.0.0.1:6379', namespace: `test:retention:${randomUUID()}:` }) })],
];

describe.each(backends)('per-send records on the %s store', (_name, open) => {
  let store: Store;
  let dir: string | undefined;
  let host: Host;
  let link: LinkClient;
  beforeAll(async () => {
    ({ store, dir } = await open());
    host = await startTestHost(sim, { store, env: { RETENTION_DAYS: String(RETENTION_MS / 86_400_000) } });
    link = await LinkClient.connect(host.url, TEST_SECRET);
  });
  afterAll(async () => {
    link?.close();
    await host?.stop();
    await store?.deletePrefix('');
    await store?.close();
  });

  it('matches receipts, outbox retries and retry requests for any message inside the retention, then forgets them by itself', { timeout: 180_000 }, async () => {
    await link.request('device.upsert', { id: 'shop' });
    await sim.scanQr((await link.request('device.connect', { id: 'shop' })).qr!);
    await link.nextEvent('device.status', (d) => d.id === 'shop' && d.status === 'CONNECTED');
    const customer = sim.addContact();
    const send = (text: string, outboxId?: string) => link.request('message.send', { deviceId: 'shop', to: customer.jid, text, ...(outboxId ? { outboxId } : {}) });
    // A first message opens the encryption session with the customer: that is part of the
    // baseline, its own record is not (it expires with the others).
    await send('hello');
    const perSend = ['recent:', 'outbox:', 'linkjournal:'];
    const baseline = (await store.keys('')).filter((key) => !perSend.some((prefix) => key.startsWith(prefix))).sort();
    expect(await store.keys('recent:')).toHaveLength(1);
    const baselineFiles = dir ? (await filesUnder(dir, false)) - 1 - (await store.keys('linkjournal:')).length : 0;

    const first = await send('the one that matters', 'order-1');
    const started = Date.now();
    for (let i = 0; i < OTHER_SENDS; i += 8) {
      await Promise.all(Array.from({ length: 8 }, (_, j) => send(`filler ${i + j}`, (i + j) % 2 ? `filler-${i + j}` : undefined)));
    }
    expect((await store.keys('recent:shop:')).length).toBe(OTHER_SENDS + 2); // and the first 'hello'
    expect((await store.keys('outbox:shop:')).length).toBe(OTHER_SENDS / 2 + 1);
    expect(Date.now() - started).toBeLessThan((RETENTION_MS * 2) / 3); // else the rest would race the expiry

    // Older than 500 sends, inside the retention: the receipt moves it forward, with its outbox id.
    sim.sendReceipt(first.id, 'read');
    expect(await link.nextEvent('message.status', (e) => e.id === first.id && e.status === 'read')).toMatchObject({ outboxId: 'order-1', deviceId: 'shop' });
    // The outbox retry gets the first result and sends nothing.
    expect(await send('the one that matters', 'order-1')).toEqual(first);
    expect(sim.outbox.filter((m) => m.id === first.id)).toHaveLength(1);
    // The recipient asks for it again: the host still has it to write again.
    sim.requestRetry(first.id);
    await expect.poll(() => sim.outbox.filter((m) => m.id === first.id).length, { timeout: 10_000 }).toBe(2);

    // The edge applied every journaled event, so the journal empties too.
    link.ack(Math.max(...link.events.map((e) => e.seq ?? 0)));
    await expect.poll(() => store.keys('linkjournal:')).toEqual([]);

    await expect.poll(async () => (await store.keys('recent:')).length + (await store.keys('outbox:')).length, { timeout: 2 * RETENTION_MS, interval: 250 }).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(RETENTION_MS);
    expect((await store.keys('')).sort()).toEqual(baseline);
    if (dir) expect(await filesUnder(dir)).toBe(baselineFiles);

    // Past the retention a receipt is not ours any more; a new send is recorded as usual.
    sim.sendReceipt(first.id, 'delivery');
    const later = await send('a new day', 'order-2');
    sim.sendReceipt(later.id, 'delivery');
    await link.nextEvent('message.status', (e) => e.id === later.id && e.status === 'delivered');
    expect(link.events.filter((e) => e.event === 'message.status' && (e.data as { id: string }).id === first.id).map((e) => (e.data as { status: string }).status)).toEqual(['sent', 'read']);
  });
});
