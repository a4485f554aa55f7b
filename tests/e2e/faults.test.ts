// No message answered 200 is lost when WhatsApp's connection fails under a burst of sends: the
// real Worker under `wrangler dev`, the real session host process, and the simulator breaking the
// device's connection mid-burst (a silent death, a 515 restart, a 440 replacement).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, sleep, startSimStack, until } from '../support/e2e.ts';
import type { Stack } from '../../bin/stack.ts';
import type { DisconnectKind } from '../wa-sim/sim.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let device: { id: string; apiKey: string };
let deviceJid: string;

beforeAll(async () => {
  ({ sim, stack } = await startSimStack('faults'));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

const call = (method: string, path: string, key: string, json?: unknown) => callEdge(stack.edgeUrl, method, path, { key, json });

const admin = () => `Bearer ${stack.adminKey}`;
const deviceStatus = async () => (await call('GET', '/api/status', admin())).json.devices.find((d: { id: string }) => d.id === device.id) as { status: string; qr: string | null };

const connected = () => until(async () => (await deviceStatus()).status === 'CONNECTED', 'the device to be CONNECTED', 60_000);

interface Answer {
  text: string;
  startedAt: number;
  status: number;
  json: Record<string, any>;
}

/**
 * Sends `count` texts, one every `gapMs` without waiting for answers, and breaks the device's
 * connection the way `kind` says once `faultAfter` of them have started. Resolves with every
 * answer and when the fault was injected; watches /api/status meanwhile for when the device left
 * CONNECTED.
 */
async function burst(kind: DisconnectKind, count = 40, faultAfter = 10, gapMs = 60) {
  let faultAt = 0;
  let leftConnectedAt = 0;
  let done = false;
  const watching = (async () => {
    while (!leftConnectedAt && !done) {
      if (faultAt && (await deviceStatus()).status !== 'CONNECTED') leftConnectedAt = Date.now();
      await sleep(200);
    }
  })();
  const answers: Promise<Answer>[] = [];
  for (let i = 0; i < count; i++) {
    if (i === faultAfter) {
      sim.disconnect(deviceJid, kind);
      faultAt = Date.now();
    }
    const text = `${kind} burst ${i} ${Date.now()}`;
    const startedAt = Date.now();
    answers.push(call('POST', '/api/send-message', device.apiKey, { to: `62813009${String(i).padStart(5, '0')}`, message: text }).then((r) => ({ text, startedAt, ...r })));
    await sleep(gapMs);
  }
  const settled = await Promise.all(answers);
  // A 515 is over before a poll can see it; a silent death must be seen within 10 s.
  if (kind === 'silence') await until(async () => leftConnectedAt > 0, 'the device to leave CONNECTED', 30_000);
  done = true;
  await watching;
  return { answers: settled, faultAt, leftConnectedAt };
}

/** What the promise rests on: every 200 reached its recipient exactly once, every 503 never did. */
function expectNoneLost(answers: Answer[]) {
  for (const answer of answers) {
    const received = sim.outbox.filter((m) => m.text === answer.text);
    if (answer.status === 200) {
      expect(received, `answered 200: ${answer.text}`).toHaveLength(1);
      expect(received[0]!.id).toBe(answer.json.id);
    }
    if (answer.status === 503) expect(received, `answered 503: ${answer.text}`).toHaveLength(0);
    // Anything else is an honest "unknown" (504): it may or may not have gone out, but never twice.
    expect(received.length).toBeLessThanOrEqual(1);
    expect([200, 503, 504]).toContain(answer.status);
  }
}

describe('sends across WhatsApp connection faults', () => {
  it('links a device', async () => {
    device = (await call('POST', '/api/devices', admin(), { name: 'Faults' })).json as typeof device;
    const { json } = await call('POST', `/api/devices/${device.id}/connect`, admin());
    const qr = json.qr ?? (await until(async () => (await deviceStatus()).qr, 'a QR'));
    deviceJid = (await sim.scanQr(qr, { name: 'Faults WA' })).deviceJid;
    await connected();
  });

  it('notices a silent connection within 10 s and delivers every message it answered 200, once', async () => {
    const { answers, faultAt, leftConnectedAt } = await burst('silence');
    expect(leftConnectedAt).toBeGreaterThan(faultAt);
    expect(leftConnectedAt - faultAt).toBeLessThan(10_000);
    await connected();
    await sleep(1_000);
    expectNoneLost(answers);
    // Not vacuous: messages written into the dead connection were written again and answered 200.
    const afterFault = answers.filter((a) => a.startedAt > faultAt && a.status === 200);
    expect(afterFault.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.startedAt < faultAt && a.status === 200).length).toBeGreaterThan(0);
  });

  it('delivers every message it answered 200 across a 515 restart', async () => {
    const { answers } = await burst('restart');
    await connected();
    await sleep(1_000);
    expectNoneLost(answers);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(10);
  });

  it('delivers every message it answered 200 when another session replaces this one (440)', async () => {
    const { answers } = await burst('replaced', 20, 8);
    expect((await deviceStatus()).status).toBe('DISCONNECTED');
    expectNoneLost(answers);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
    // Sends after the replacement found the device disconnected: 503, and they must never go out.
    expect(answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
    // Connected again, whatever was left unconfirmed goes out under its id; still nothing twice.
    await call('POST', `/api/devices/${device.id}/connect`, admin());
    await connected();
    await sleep(1_000);
    expectNoneLost(answers);
  });
});
