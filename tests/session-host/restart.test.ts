// A host restart, with either store, brings every logged-in device back to CONNECTED with no QR
// code, and SIGTERM closes sockets without logging anyone out.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../../session-host/host.ts';
import { openStore } from '../../session-host/store/index.ts';
import type { Store } from '../../session-host/store/store.ts';
import { spawnHost, startTestHost, TEST_SECRET, tempDir } from '../support/host.ts';
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

describe.each(backends)('restart with the %s store', (_name, open) => {
  it('brings two devices back to CONNECTED without a QR code', async () => {
    const store = await open();
    let host: Host = await startTestHost(sim, { store });
    let link = await LinkClient.connect(host.url, TEST_SECRET);
    const phones: string[] = [];
    for (const id of ['alpha', 'beta']) {
      await link.request('device.upsert', { id });
      const state = await link.request('device.connect', { id });
      await sim.scanQr(state.qr!);
      phones.push((await link.nextEvent('device.status', (d) => d.id === id && d.status === 'CONNECTED')).phoneNumber!);
    }
    const before = await link.request('message.send', { deviceId: 'alpha', to: `${phones[1]}@s.whatsapp.net`, text: 'sent before the restart' });
    await sim.waitForOutgoing((m) => m.id === before.id);
    link.close();
    await host.stop();
    await expect.poll(() => sim.devices.filter((d) => phones.includes(d.phone) && d.online)).toEqual([]);

    const registrations = sim.pendingRegistrations.length;
    host = await startTestHost(sim, { store });
    await host.restored;
    link = await LinkClient.connect(host.url, TEST_SECRET);
    const { devices } = await link.request('host.status', {});
    expect(devices.map((d) => [d.id, d.status, d.phoneNumber, d.qr]).sort()).toEqual([
      ['alpha', 'CONNECTED', phones[0], null],
      ['beta', 'CONNECTED', phones[1], null],
    ]);
    // Nobody asked WhatsApp for a new pairing: no QR was ever shown.
    expect(sim.pendingRegistrations.length).toBe(registrations);
    const result = await link.request('message.send', { deviceId: 'beta', to: `${phones[0]}@s.whatsapp.net`, text: 'still here' });
    expect((await sim.waitForOutgoing((m) => m.id === result.id)).text).toBe('still here');
    // The recipient asks for a message from before the restart again: only the store still has it.
    sim.requestRetry(before.id);
    await expect.poll(() => sim.outbox.filter((m) => m.id === before.id).map((m) => m.text)).toEqual(['sent before the restart', 'sent before the restart']);
    link.close();
    await host.stop();
    await store.deletePrefix('');
    await store.close();
  });
});

describe('the host process', () => {
  it('stops on SIGTERM without logging devices out, and comes back connected', async () => {
    const dataDir = tempDir();
    let proc = await spawnHost(sim, { DATA_DIR: dataDir });
    let link = await LinkClient.connect(proc.url, TEST_SECRET);
    await link.request('device.upsert', { id: 'proc' });
    const qr = (await link.request('device.connect', { id: 'proc' })).qr!;
    const { phone } = await sim.scanQr(qr);
    await link.nextEvent('device.status', (d) => d.id === 'proc' && d.status === 'CONNECTED');
    link.close();

    const exited = new Promise((resolve) => proc.child.once('exit', (code) => resolve(code)));
    proc.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(sim.devices.find((d) => d.phone === phone)).toMatchObject({ online: false });

    proc = await spawnHost(sim, { DATA_DIR: dataDir });
    link = await LinkClient.connect(proc.url, TEST_SECRET);
    await expect.poll(async () => (await link.request('host.status', {})).devices.find((d) => d.id === 'proc')?.status, { timeout: 15_000 }).toBe('CONNECTED');
    // Signal sessions get opened both ways (libsignal prints them, private keys and all).
    const contact = sim.addContact();
    const sent = await link.request('message.send', { deviceId: 'proc', to: contact.jid, text: 'hello' });
    await sim.waitForOutgoing((m) => m.id === sent.id);
    await sim.sendIncoming(phone, contact.phone, 'hi back');
    // A contact that reinstalled WhatsApp: libsignal closes the old session and prints it whole.
    sim.resetSessions(contact.phone);
    await sim.sendIncoming(phone, contact.phone, 'new phone, same number');
    link.close();
    proc.child.kill('SIGTERM');
    await new Promise((resolve) => proc.child.once('exit', resolve));
    // Neither the secret nor Signal key material ever reaches the logs.
    expect(proc.output()).not.toContain(TEST_SECRET);
    expect(proc.output()).not.toMatch(/privKey|SessionEntry/);
  });

  it('refuses to start with a bad setting, naming the variable', async () => {
    await expect(spawnHost(sim, { PORT: 'eighty' })).rejects.toThrow(/PORT/);
    await expect(spawnHost(sim, { HOST_SECRET: 'short' })).rejects.toThrow(/HOST_SECRET: must be at least 16 characters/);
  });
});
