// Many devices on one session host, end to end: the real Worker under `wrangler dev`, the real
// session host process and the WhatsApp simulator (in its lighter mode for idle devices). 150
// devices are created and linked through the API, all reported CONNECTED; the host process is
// restarted and every device comes back CONNECTED on its saved login, without a QR code, as the
// edge's /api/status reports it. (D1 binds at most 100 parameters a statement: a host's state
// sync used to fail above 100 devices.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, type EdgeCall, sleep, startSimStack } from '../support/e2e.ts';
import type { Stack } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

const DEVICES = 150;
/** Devices linked at once (each a QR shown, scanned, a 515 restart and a login). */
const LINKING = 6;

let sim: WaSim;
let stack: Stack;

beforeAll(async () => {
  ({ sim, stack } = await startSimStack('many-devices', { sim: { idleDevices: true } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

const call = (method: string, path: string, options?: EdgeCall) => callEdge(stack.edgeUrl, method, path, options);

const admin = () => `Bearer ${stack.adminKey}`;

interface Reported {
  id: string;
  status: string;
  phoneNumber: string | null;
  qr: string | null;
}
async function reported(): Promise<Reported[]> {
  const { status, json } = await call('GET', '/api/status', { key: admin() });
  expect(status).toBe(200);
  return json.devices as Reported[];
}

describe(`${DEVICES} devices on one host`, () => {
  it('are linked and reported CONNECTED, and all come back CONNECTED without a QR after the host restarts', async () => {
    const devices: { id: string; apiKey: string }[] = [];
    let next = 0;
    const linkOne = async () => {
      for (let i = next++; i < DEVICES; i = next++) {
        const created = await call('POST', '/api/devices', { key: admin(), json: { name: `Fleet ${i}` } });
        expect(created.status).toBe(201);
        devices[i] = created.json as { id: string; apiKey: string };
        const connected = await call('POST', `/api/devices/${created.json.id}/connect`, { key: admin() });
        expect(connected.json).toMatchObject({ status: 'QR', qr: expect.any(String) });
        await sim.scanQr(connected.json.qr, { name: `Fleet ${i}` });
      }
    };
    const linkStarted = performance.now();
    await Promise.all(Array.from({ length: LINKING }, linkOne));
    let linked: Reported[] = [];
    for (const deadline = Date.now() + 120_000; ; await sleep(250)) {
      linked = await reported();
      if (linked.length === DEVICES && linked.every((d) => d.status === 'CONNECTED' && d.phoneNumber)) break;
      if (Date.now() > deadline) throw new Error(`only ${linked.filter((d) => d.status === 'CONNECTED').length} of ${DEVICES} reported CONNECTED`);
    }
    console.log(`${DEVICES} devices linked and reported CONNECTED in ${((performance.now() - linkStarted) / 1000).toFixed(1)} s`);
    const phones = new Map(linked.map((d) => [d.id, d.phoneNumber]));
    expect(sim.devices).toHaveLength(DEVICES);

    const restarted = performance.now();
    await stack.restartHost();
    // Every poll: no device ever asks for a QR code; done once all are CONNECTED again.
    let back: Reported[] = [];
    let wentOffline = false;
    for (const deadline = Date.now() + 180_000; ; await sleep(250)) {
      back = await reported();
      expect(back.filter((d) => d.status === 'QR' || d.qr)).toEqual([]);
      wentOffline ||= back.some((d) => d.status !== 'CONNECTED');
      if (wentOffline && back.every((d) => d.status === 'CONNECTED')) break;
      if (Date.now() > deadline) throw new Error(`only ${back.filter((d) => d.status === 'CONNECTED').length} of ${DEVICES} CONNECTED again`);
    }
    console.log(`${DEVICES} devices reported CONNECTED again ${((performance.now() - restarted) / 1000).toFixed(1)} s after the host restart began`);
    // The same logins: no new pairing in WhatsApp, the same numbers reported.
    expect(sim.devices).toHaveLength(DEVICES);
    expect(sim.pendingRegistrations).toEqual([]);
    expect(back.map((d) => [d.id, d.phoneNumber])).toEqual(back.map((d) => [d.id, phones.get(d.id)]));

    // And a device works: the last one linked sends.
    const last = devices[DEVICES - 1]!;
    const sent = await call('POST', '/api/send-message', { key: last.apiKey, json: { to: '6281300000150', message: 'back after the restart' } });
    expect(sent.status).toBe(200);
    expect((await sim.waitForOutgoing((m) => m.id === sent.json.id)).text).toBe('back after the restart');
  }, 600_000);
});
