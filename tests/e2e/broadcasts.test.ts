// Broadcasts end to end: the real Worker under `wrangler dev` (its HostLink's outbox paces and
// sends the copies), the real session host and the WhatsApp simulator, which records when each
// message reached it and answers with delivery receipts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../bin/stack.ts';
import { callEdge, createLinkedDevice, type EdgeCall, sleep, startSimStack, until } from '../support/e2e.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let device: { id: string; apiKey: string };
let groupId: string;
const INTERVAL_MS = 700;
const people = ['Ani', 'Budi', 'Citra', 'Dewi', 'Eko'];
const numberOf = (i: number) => `62813100000${i + 1}`;

beforeAll(async () => {
  ({ sim, stack } = await startSimStack('broadcasts', { sim: { autoReceipts: 'delivery' } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

const asAdmin = (method: string, path: string, json?: unknown) => callEdge(stack.edgeUrl, method, path, { key: `Bearer ${stack.adminKey}`, json } satisfies EdgeCall);
const progress = async (id: string) => (await asAdmin('GET', `/api/broadcasts/${id}`)).json;
const arrived = (prefix: string) => sim.outbox.filter((m) => m.text?.startsWith(prefix));

describe('broadcasts, end to end', () => {
  it('links a device paced at one message per interval, and a group of five contacts', async () => {
    device = await createLinkedDevice(stack, sim, { name: 'Broadcasts' });
    expect((await asAdmin('PATCH', `/api/devices/${device.id}`, { sendIntervalMs: INTERVAL_MS })).json).toMatchObject({ sendIntervalMs: INTERVAL_MS });
    groupId = (await asAdmin('POST', '/api/groups', { name: 'Pelanggan' })).json.id;
    for (const [i, name] of people.entries()) expect((await asAdmin('POST', '/api/contacts', { name, number: numberOf(i), groupId })).status).toBe(201);
  });

  it('delivers five personalised messages paced as configured, and its progress reaches 5 delivered', async () => {
    const created = await asAdmin('POST', '/api/broadcasts', { deviceId: device.id, groupId, message: 'Halo {name}, promo minggu ini!' });
    expect(created).toMatchObject({ status: 201, json: { total: 5, status: 'queued' } });
    await until(async () => arrived('Halo ').length === 5, 'five messages at the simulator', 30_000);
    const got = arrived('Halo ');
    // Each contact got its own name.
    expect(got.map((m) => [m.to, m.text]).sort()).toEqual(people.map((name, i) => [`${numberOf(i)}@s.whatsapp.net`, `Halo ${name}, promo minggu ini!`]).sort());
    // Never faster than the device's pacing (the simulator's clock; a little slack for its resolution).
    const times = got.map((m) => m.at).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(INTERVAL_MS - 50);
    const done = await until(async () => (await progress(created.json.id)).counts.delivered === 5 && progress(created.json.id), 'progress at 5 delivered', 30_000);
    expect(done).toMatchObject({ status: 'done', total: 5, counts: { queued: 0, sent: 5, delivered: 5, failed: 0, cancelled: 0 } });
  });

  it('a cancelled broadcast sends no more', async () => {
    const created = await asAdmin('POST', '/api/broadcasts', { deviceId: device.id, groupId, message: 'Later {name}', delay: '4' });
    const { id } = created.json;
    await until(async () => arrived('Later ').length === 1, 'the first message', 30_000);
    // Its outcome back at the edge: until then it is on the wire, and a cancel leaves it be.
    await until(async () => (await progress(id)).counts.sent === 1, 'the first counted as sent');
    const cancelled = await asAdmin('DELETE', `/api/broadcasts/${id}`);
    expect(cancelled).toMatchObject({ status: 200, json: { id, cancelled: 4, status: 'cancelled', counts: { queued: 0, sent: 1, cancelled: 4 } } });
    // Past when the next one was due: nothing more went.
    await sleep(5_000);
    expect(arrived('Later ')).toHaveLength(1);
    expect(await progress(id)).toMatchObject({ status: 'cancelled', counts: { queued: 0, sent: 1, cancelled: 4, failed: 0 } });
  });
});
