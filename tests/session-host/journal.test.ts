// Receipts and incoming messages raised while no link is up are kept in the host's store, survive
// a host restart, reach the next link in order, and go once the edge acknowledged them.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../../session-host/host.ts';
import { EventJournal } from '../../session-host/link/journal.ts';
import { createLogger } from '../../session-host/logger.ts';
import { openStore } from '../../session-host/store/index.ts';
import type { Store } from '../../session-host/store/store.ts';
import { startTestHost, TEST_SECRET, tempDir } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
});
afterAll(() => sim.stop());

const backends: [string, () => Promise<Store>][] = [
  ['files', async () => openStore({ dataDir: tempDir() })],
  ['redis', async () => openStore({ dataDir: tempDir(), redisUrl: 'redis://127.0.0.1:6379', namespace: `test:${randomUUID()}:` })],
];

const journalKeys = (store: Store) => store.keys('linkjournal:');

describe.each(backends)('the link journal with the %s store', (_name, open) => {
  it('keeps receipts and incoming messages raised with no link up across a host restart, and delivers them in order until acknowledged', async () => {
    const store = await open();
    let host: Host = await startTestHost(sim, { store });
    let link = await LinkClient.connect(host.url, TEST_SECRET);
    await link.request('device.upsert', { id: 'shop' });
    await sim.scanQr((await link.request('device.connect', { id: 'shop' })).qr!);
    const phone = (await link.nextEvent('device.status', (d) => d.status === 'CONNECTED')).phoneNumber!;
    const customer = sim.addContact();
    const sent = await link.request('message.send', { deviceId: 'shop', to: customer.jid, text: 'your order shipped' });
    await sim.waitForOutgoing((m) => m.id === sent.id);
    // WhatsApp's ack is journaled too: it tells the edge a send went out whose answer it lost.
    await expect.poll(() => journalKeys(store)).toHaveLength(1);
    link.close();
    await expect.poll(() => host.link.connected).toBe(0);

    // No link: WhatsApp's receipts and a reply arrive all the same.
    // (One at a time: Baileys folds receipts for one message that arrive together into the last.)
    sim.sendReceipt(sent.id, 'delivery');
    await expect.poll(() => journalKeys(store)).toHaveLength(2);
    sim.sendReceipt(sent.id, 'read');
    await expect.poll(() => journalKeys(store)).toHaveLength(3);
    const reply = await sim.sendIncoming(phone, customer.phone, 'thanks!');
    await expect.poll(() => journalKeys(store)).toHaveLength(4);

    await host.stop();
    host = await startTestHost(sim, { store });
    expect(host.journal.stats.depth).toBe(4);
    link = await LinkClient.connect(host.url, TEST_SECRET);
    await link.nextEvent('message.incoming', (m) => m.id === reply.id);
    const journaled = link.events.filter((e) => e.seq !== undefined);
    expect(journaled.map((e) => [e.event, (e.data as { status?: string }).status ?? (e.data as { text?: string }).text])).toEqual([
      ['message.status', 'sent'],
      ['message.status', 'delivered'],
      ['message.status', 'read'],
      ['message.incoming', 'thanks!'],
    ]);
    expect(journaled.every((e, i) => i === 0 || e.seq! > journaled[i - 1]!.seq!)).toBe(true);
    expect(journaled[0]!.data).toMatchObject({ deviceId: 'shop', id: sent.id, to: customer.jid });

    // Not acknowledged yet: a second link gets them again.
    link.close();
    link = await LinkClient.connect(host.url, TEST_SECRET);
    await link.nextEvent('message.incoming', (m) => m.id === reply.id);
    expect(link.events.filter((e) => e.seq !== undefined).map((e) => e.seq)).toEqual(journaled.map((e) => e.seq));

    // Acknowledging the first three leaves only the last, in the store too.
    link.ack(journaled[2]!.seq!);
    await expect.poll(() => journalKeys(store)).toHaveLength(1);
    link.ack(journaled[3]!.seq!);
    await expect.poll(() => journalKeys(store)).toEqual([]);
    link.close();
    link = await LinkClient.connect(host.url, TEST_SECRET);
    expect(await link.request('host.status', {})).toBeTruthy();
    expect(link.events.filter((e) => e.seq !== undefined)).toEqual([]);

    link.close();
    await host.stop();
    await store.deletePrefix('');
    await store.close();
  });

  it('keeps at most its cap, dropping the oldest first, also across a restart with a smaller cap', async () => {
    const store = await open();
    const logger = createLogger('silent');
    const status = (n: number) => ({ deviceId: 'd', id: `m${n}`, to: '628100000001@s.whatsapp.net', status: 'delivered' as const, timestamp: n });
    const journal = new EventJournal({ store, logger, max: 3 });
    await journal.load();
    for (let n = 1; n <= 5; n++) journal.record('message.status', status(n));
    expect(journal.record('device.status', { id: 'd', status: 'CONNECTED', qr: null, phoneNumber: null, pushName: null, totalMessagesSent: 0, reason: null })).toBeUndefined();
    await journal.settled();
    expect(journal.pending().map((e) => (e.data as { id: string }).id)).toEqual(['m3', 'm4', 'm5']);
    expect(journal.stats).toEqual({ depth: 3, dropped: 2 });
    expect(await journalKeys(store)).toHaveLength(3);

    const smaller = new EventJournal({ store, logger, max: 2 });
    await smaller.load();
    expect(smaller.pending().map((e) => (e.data as { id: string }).id)).toEqual(['m4', 'm5']);
    expect(await journalKeys(store)).toHaveLength(2);
    // New entries go after the ones a previous run left.
    const seq = smaller.record('message.status', status(7))!;
    expect(seq).toBeGreaterThan(journal.pending().at(-1)!.seq);
    await smaller.settled();
    await store.deletePrefix('');
    await store.close();
  });
});
