// Status webhooks name a message by the id `/send` answered with (API.md H6), through the real
// Worker, session host and simulator: the WhatsApp id for a send answered at once, the log id
// (`msg_…`) for a queued one, on every status from queued to read, at the status URL only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../bin/stack.ts';
import { callEdge, createLinkedDevice, startSimStack } from '../support/e2e.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let device: { id: string; apiKey: string; phone: string };
let chat: WebhookReceiver;
let statuses: WebhookReceiver;

beforeAll(async () => {
  [chat, statuses] = await Promise.all([new WebhookReceiver().start(), new WebhookReceiver().start()]);
  // The receivers listen on 127.0.0.1.
  ({ sim, stack } = await startSimStack('fonnte-status-ids', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
  device = await createLinkedDevice(stack, sim, { name: 'Toko', webhookUrl: chat.url, statusWebhookUrl: statuses.url });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all([chat?.stop(), statuses?.stop()]);
  await sim?.stop();
});

const send = (json: Record<string, unknown>) => callEdge(stack.edgeUrl, 'POST', '/send', { key: device.apiKey, json });
/** What a Fonnte receiver reads of each status body of message `id`, in arrival order. */
const statusesOf = (id: string) => statuses.received.filter((r) => r.json.id === id).map(({ json: { device, id, stateid, status, state } }) => ({ device, id, stateid, status, state }));

describe('status webhooks carry the id /send answered', () => {
  it('a send answered at once: its WhatsApp id', async () => {
    const res = await send({ target: '6281300000001', message: 'Pesanan diterima' });
    const [id] = res.json.id as string[];
    const out = await sim.waitForOutgoing((m) => m.text === 'Pesanan diterima');
    expect(out.id).toBe(id);
    await statuses.waitFor((r) => r.json.id === id && r.json.state === 'sent');
    sim.sendReceipt(id!, 'delivery');
    await statuses.waitFor((r) => r.json.id === id && r.json.state === 'delivered');
    expect(statusesOf(id!)).toEqual([
      { device: device.phone, id, stateid: id, status: 'sent', state: 'sent' },
      { device: device.phone, id, stateid: id, status: 'sent', state: 'delivered' },
    ]);
  });

  it('a queued send: its log id on every status, WhatsApp’s id in stateid once sent', async () => {
    const res = await send({ target: '6281300000002', message: 'Dikirim nanti', schedule: Math.floor(Date.now() / 1000) + 2 });
    expect(res.json).toMatchObject({ status: true, process: 'pending' });
    const [id] = res.json.id as string[];
    expect(id).toMatch(/^msg_/);
    const out = await sim.waitForOutgoing((m) => m.text === 'Dikirim nanti', 20_000);
    await statuses.waitFor((r) => r.json.id === id && r.json.state === 'sent');
    sim.sendReceipt(out.id, 'read');
    await statuses.waitFor((r) => r.json.id === id && r.json.state === 'read');
    expect(statusesOf(id!)).toEqual([
      { device: device.phone, id, stateid: null, status: 'pending', state: 'queued' },
      { device: device.phone, id, stateid: out.id, status: 'sent', state: 'sent' },
      { device: device.phone, id, stateid: out.id, status: 'sent', state: 'read' },
    ]);
    // Nothing under WhatsApp's id: a receiver matching by `id` misses no update.
    expect(statusesOf(out.id)).toEqual([]);
  });

  it('none of them reach the chat URL', () => {
    expect(chat.received.filter((r) => r.json.event === 'status')).toEqual([]);
  });
});
