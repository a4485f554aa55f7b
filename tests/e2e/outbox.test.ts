// The durable outbox end to end: the real Worker under `wrangler dev` (its HostLink Durable Object
// keeps the queue), the real session host process (killed and restarted), and the WhatsApp
// simulator, which records every message a client sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, createLinkedDevice, untilConnected, type EdgeCall, sleep, startSimStack, until } from '../support/e2e.ts';
import type { Stack } from '../../bin/stack.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let device: { id: string; apiKey: string };
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
  // The webhook receiver listens on 127.0.0.1.
  ({ sim, stack } = await startSimStack('outbox', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await receiver?.stop();
  await sim?.stop();
});

const call = (method: string, path: string, options?: EdgeCall) => callEdge(stack.edgeUrl, method, path, options);

const send = (json: Record<string, unknown>, headers?: Record<string, string>) => call('POST', '/send', { key: device.apiKey, json, headers });
const message = async (id: string) => (await call('GET', `/api/messages/${id}`, { key: device.apiKey })).json;
const sent = (text: string) => sim.outbox.filter((m) => m.text === text);
/** The statuses the device's webhook reported for one of our messages, in the order received. */
const statusHooks = (messageId: string) => receiver.received.filter((r) => r.json.event === 'status' && r.json.messageId === messageId).map((r) => r.json.state);

const connected = () => untilConnected(stack, device.id);

async function killHost() {
  stack.host.kill('SIGKILL');
  await new Promise((resolve) => stack.host.once('exit', resolve));
}

describe('the durable outbox, end to end', () => {
  it('links a device', async () => {
    device = await createLinkedDevice(stack, sim, { name: 'Outbox', webhookUrl: receiver.url });
  });

  it('moves a message to delivered and read as WhatsApp’s receipts arrive, with timestamps', async () => {
    const res = await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '6281300000001', message: 'receipts please' } });
    expect(res.status).toBe(200);
    const [logged] = (await call('GET', '/api/messages?limit=1', { key: device.apiKey })).json.messages;
    expect(logged).toMatchObject({ status: 'sent', waMessageId: res.json.id, sentAt: expect.any(String), deliveredAt: null });
    sim.sendReceipt(res.json.id, 'delivery');
    expect(await until(async () => (await message(logged.id)).deliveredAt && (await message(logged.id)), 'delivered')).toMatchObject({ status: 'delivered', readAt: null });
    sim.sendReceipt(res.json.id, 'read');
    expect(await until(async () => (await message(logged.id)).readAt && (await message(logged.id)), 'read')).toMatchObject({ status: 'read', deliveredAt: expect.any(String) });
  });

  it('answers a repeated Idempotency-Key with the first answer and sends once', async () => {
    const key = { 'idempotency-key': 'invoice-7' };
    const first = await send({ target: '6281300000002', message: 'exactly once' }, key);
    expect(first.status).toBe(200);
    const again = await send({ target: '6281300000002', message: 'exactly once' }, key);
    expect(again).toEqual(first);
    await sleep(500);
    expect(sent('exactly once')).toHaveLength(1);
  });

  it('sends a scheduled message at its time and not before', async () => {
    const schedule = Math.floor(Date.now() / 1000) + 4;
    const res = await send({ target: '6281300000003', message: 'on time', schedule });
    expect(res.json).toMatchObject({ status: true, detail: 'success! message in queue', process: 'pending' });
    await sleep(schedule * 1000 - Date.now() - 500);
    expect(sent('on time')).toHaveLength(0);
    const out = await sim.waitForOutgoing((m) => m.text === 'on time', 15_000);
    expect(out.at).toBeGreaterThanOrEqual(schedule * 1000);
    // The log says sent once the host's answer (after WhatsApp's ack) is back.
    const logged = await until(async () => {
      const row = await message(res.json.id[0]);
      return row.status !== 'queued' && row;
    }, 'the log to say sent');
    expect(logged).toMatchObject({ status: expect.stringMatching(/^(sent|delivered|read)$/), scheduledAt: new Date(schedule * 1000).toISOString() });
  });

  it('cancels and reschedules queued messages', async () => {
    const soon = Math.floor(Date.now() / 1000) + 3;
    const cancelled = (await send({ target: '6281300000004', message: 'never', schedule: soon })).json.id[0];
    const moved = (await send({ target: '6281300000004', message: 'moved earlier', schedule: soon + 3600 })).json.id[0];
    expect((await call('DELETE', `/api/messages/${cancelled}`, { key: device.apiKey })).json).toMatchObject({ status: 'failed', error: 'cancelled' });
    expect((await call('PATCH', `/api/messages/${moved}`, { key: device.apiKey, json: { schedule: soon } })).json).toMatchObject({ status: 'queued' });
    await sim.waitForOutgoing((m) => m.text === 'moved earlier', 15_000);
    await sleep(1_000);
    expect(sent('never')).toHaveLength(0);
    // Sent by now: deleting it is WhatsApp's delete for everyone, not a cancellation.
    expect((await call('DELETE', `/api/messages/${moved}`, { key: device.apiKey })).json).toMatchObject({ success: true, deletedForEveryone: true });
    // The device's status webhook told each change, the cancellation too.
    await until(() => statusHooks(cancelled).length === 2, 'the cancelled message’s webhooks');
    expect(statusHooks(cancelled)).toEqual(['queued', 'failed']);
    expect(receiver.received.find((r) => r.json.messageId === cancelled && r.json.status === 'failed')?.json.reason).toBe('cancelled');
    await until(() => statusHooks(moved).includes('sent'), 'the moved message’s webhooks');
    expect(statusHooks(moved)).toEqual(['queued', 'sent']);
  });

  it('keeps the delay range between targets', async () => {
    const targets = ['6281300000011', '6281300000012', '6281300000013', '6281300000014'];
    const res = await send({ target: targets.map((t, i) => `${t}|${i}`).join(','), message: 'spaced {name}', delay: '1-2' });
    expect(res.json).toMatchObject({ detail: 'success! message in queue', target: targets });
    const times: number[] = [];
    for (let i = 0; i < targets.length; i++) times.push((await sim.waitForOutgoing((m) => m.text === `spaced ${i}`, 15_000)).at);
    for (let i = 1; i < times.length; i++) {
      const gap = times[i]! - times[i - 1]!;
      expect(gap).toBeGreaterThanOrEqual(900); // the alarm fires on time; the send itself adds a little
      expect(gap).toBeLessThanOrEqual(2_000 + 1_000);
    }
  });

  it('accepts 10 sends while the host is offline and delivers each once, in order per recipient, when it is back', async () => {
    await killHost();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await send({ target: i % 2 ? '6281300000021' : '6281300000022', message: `offline ${i}` });
      expect(res.json).toMatchObject({ status: true, detail: 'success! message in queue' });
      ids.push(res.json.id[0]);
    }
    expect(await message(ids[0]!)).toMatchObject({ status: 'queued', sentAt: null });
    await stack.restartHost();
    await until(() => Array.from({ length: 10 }, (_, i) => sent(`offline ${i}`).length).every((n) => n > 0), 'all 10 sent', 60_000);
    await sleep(1_000);
    for (let i = 0; i < 10; i++) expect(sent(`offline ${i}`)).toHaveLength(1);
    for (const to of ['6281300000021', '6281300000022']) {
      const order = sim.outbox.filter((m) => m.to.startsWith(to) && m.text?.startsWith('offline ')).map((m) => Number(m.text!.split(' ')[1]));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    for (const id of ids) expect((await message(id)).status).toMatch(/^(sent|delivered|read)$/);
    // Queued while the host was down, reported once it was back, before the send itself.
    await until(() => statusHooks(ids[9]!).includes('sent'), 'the webhooks of the offline sends');
    for (const id of ids) expect(statusHooks(id)).toEqual(['queued', 'sent']);
  });

  it('sends each of 100 queued messages exactly once, or fails it with a reason, when the host is SIGKILLed mid-burst', async () => {
    await connected();
    await killHost();
    const ids: string[] = [];
    for (const block of [0, 1]) {
      const targets = Array.from({ length: 50 }, (_, i) => `62813001${String(block * 50 + i).padStart(5, '0')}|${block * 50 + i}`);
      const res = await send({ target: targets.join(','), message: 'burst {name}' });
      expect(res.json).toMatchObject({ detail: 'success! message in queue' });
      ids.push(...res.json.id);
    }
    await stack.restartHost();
    const burst = () => sim.outbox.filter((m) => m.text?.startsWith('burst '));
    await until(() => burst().length >= 20, '20 of the burst sent', 60_000);
    await killHost();
    const before = burst().length;
    await stack.restartHost();
    await until(
      async () => {
        const statuses = await Promise.all(ids.map(async (id) => (await message(id)).status));
        return statuses.every((s) => s !== 'queued');
      },
      'no message left queued',
      90_000,
    );
    await sleep(1_000);
    expect(before).toBeLessThan(100); // the kill did land mid-burst

    for (let i = 0; i < 100; i++) {
      const logged = await message(ids[i]!);
      // A resend after the kill carries the same WhatsApp id (recipients see one message), so
      // "once" counts distinct ids.
      const copies = new Set(sent(`burst ${i}`).map((m) => m.id));
      if (logged.status === 'failed') {
        expect(logged.error).toEqual(expect.any(String));
        expect(copies.size).toBeLessThanOrEqual(1);
      } else {
        expect([...copies]).toEqual([logged.waMessageId]);
      }
    }
  }, 180_000);
});
