// Many companion devices on one simulator at once, each on its own account, each working.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pairedClient, type TestClient } from '../support/baileys-client.ts';
import { WaSim } from './index.ts';

const DEVICES = 20;
let sim: WaSim;
let clients: TestClient[] = [];
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sim.stop();
});

it(`keeps ${DEVICES} linked devices connected at once, each sending and receiving`, async () => {
  clients = await Promise.all(Array.from({ length: DEVICES }, (_, i) => pairedClient(sim, { name: `Shop ${i}` })));
  expect(new Set(clients.map((c) => c.me!.id)).size).toBe(DEVICES);
  expect(sim.devices.filter((d) => d.online)).toHaveLength(DEVICES);

  const customer = sim.addContact({ name: 'Customer' });
  const ids = await Promise.all(clients.map(async (c, i) => (await c.sock.sendMessage(customer.jid, { text: `order ${i}` }))!.key.id!));
  const received = await Promise.all(ids.map((id) => sim.waitForOutgoing((m) => m.id === id)));
  expect(received.filter((m) => m.error)).toEqual([]);
  expect(received.map((m) => m.text)).toEqual(clients.map((_, i) => `order ${i}`));

  const upserts = clients.map((c, i) => c.next<{ messages: { key: { id?: string | null } }[] }>('upsert', (u) => u.messages.some((m) => m.key.id === `SIMSCALE${i}`)));
  await Promise.all(clients.map((c, i) => sim.sendIncoming(c.me!.id.split(':')[0]!, customer.phone, `reply ${i}`, { id: `SIMSCALE${i}` })));
  await Promise.all(upserts);
  // Every device is still up: no conflicts or crossed sessions between them.
  expect(sim.devices.filter((d) => d.online)).toHaveLength(DEVICES);
  expect(clients.every((c) => c.closes.length === 1)).toBe(true);
});

it('in the lighter mode for idle devices, links without a pre-key upload, logs in again and still sends', async () => {
  const light = await WaSim.start({ log: () => {}, idleDevices: true });
  const client = await pairedClient(light, { name: 'Idle shop' });
  try {
    const jid = client.me!.id;
    // Nothing uploaded: Baileys was told the server holds enough of its one-time prekeys.
    expect(light.prekeyCount(jid)).toBe(0);
    await client.close();
    const reopened = client.next('open');
    client.reconnect();
    await reopened;
    expect(light.devices.find((d) => d.jid === jid)?.online).toBe(true);
    const customer = light.addContact({ name: 'Customer' });
    const sent = await client.sock.sendMessage(customer.jid, { text: 'still here' });
    expect((await light.waitForOutgoing((m) => m.id === sent!.key.id)).text).toBe('still here');
    expect(light.unhandled).toEqual([]);
  } finally {
    await client.close();
    await light.stop();
  }
});
