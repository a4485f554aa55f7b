// The durable outbox, in the Workers runtime: the real HostLink and its SQLite storage, D1, and
// a fake session host on the link. End to end with the real host: tests/e2e/outbox.test.ts.
import { runDurableObjectAlarm } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HOST_ID } from '../../edge/link/host-link.ts';
import type { SendParams } from '../../session-host/link/protocol.ts';
import { call, newDevice, until } from './client.ts';
import { fakeHost, HostFailure } from './fake-host.ts';

let device: Awaited<ReturnType<typeof newDevice>>;
beforeAll(async () => {
  device = await newDevice('Outbox');
});

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const link = () => env.HOST_LINK.getByName(DEFAULT_HOST_ID);
const send = (json: unknown, headers?: Record<string, string>) => call('POST', '/send', { key: device.apiKey, json, headers });
const message = (id: string) => call('GET', `/api/messages/${id}`, { key: device.apiKey });

function hostUp() {
  host = fakeHost({ 'message.send': (p) => ({ id: `WA${p.outboxId}`, timestamp: 1779348348, to: p.to }) });
  return () => host!.requests.filter((r) => r.method === 'message.send').map((r) => r.params as SendParams);
}

describe('the outbox', () => {
  it('refuses bad schedule, delay, typing and queue values with a reason naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ target: '628123456789', message: 'Hi', schedule: 'tomorrow' }, 'schedule: must be a unix time in seconds, like 1767225600 (0: now)'],
      [{ target: '628123456789', message: 'Hi', delay: '10-1' }, 'delay: must be seconds like "5", or a range like "1-10" (at most 3600)'],
      [{ target: '628123456789', message: 'Hi', delay: 'soon' }, 'delay: must be seconds like "5", or a range like "1-10" (at most 3600)'],
      [{ target: '628123456789', message: 'Hi', typing: 'maybe' }, 'typing: must be true or false'],
    ];
    for (const [json, detail] of cases) expect(await send(json)).toEqual({ status: 200, body: { status: false, reason: 'input invalid', detail, requestid: expect.any(Number) } });
    const queue = await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '628123456789', message: 'Hi', queue: 'yes' } });
    expect(queue).toEqual({ status: 400, body: { error: 'queue: must be true or false' } });
  });

  it('keeps sends while the host is offline and delivers them in order, filled in, once it is back', async () => {
    const queued = await send({ target: '628111000001|Budi|VIP,628111000002|Sari', message: 'Halo {name} ({var1})', typing: true });
    expect(queued).toMatchObject({ status: 200, body: { detail: 'success! message in queue', process: 'pending', target: ['628111000001', '628111000002'] } });
    const api = await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '628111000001', message: 'second to Budi', queue: true } });
    expect(api).toEqual({ status: 200, body: { success: true, message: 'Message queued: it goes out when the device is back online', id: expect.stringMatching(/^msg_/), to: '628111000001', queued: true } });
    expect(await link().queued(DEFAULT_HOST_ID)).toBe(3);
    expect((await message(api.body.id)).body).toMatchObject({ status: 'queued', attempts: 0, sentAt: null });

    const sent = hostUp();
    await runDurableObjectAlarm(link()); // the re-dial
    await until(async () => sent().length === 3, 'three sends');
    expect(sent().map((p) => [p.to, p.text, p.typingMs, p.outboxId])).toEqual([
      ['628111000001@s.whatsapp.net', 'Halo Budi (VIP)', 2_000, queued.body.id[0]],
      ['628111000002@s.whatsapp.net', 'Halo Sari ({var1})', 2_000, queued.body.id[1]],
      ['628111000001@s.whatsapp.net', 'second to Budi', undefined, api.body.id],
    ]);
    const row = await until(async () => (await message(api.body.id)).body.status === 'sent' && (await message(api.body.id)).body, 'sent in the log');
    expect(row).toMatchObject({ waMessageId: `WA${api.body.id}`, attempts: 1, error: null, sentAt: expect.any(String) });
    expect(await link().queued(DEFAULT_HOST_ID)).toBe(0);
  });

  it('holds a scheduled message until its time; it can be rescheduled and cancelled', async () => {
    const sent = hostUp();
    const inAnHour = Math.floor(Date.now() / 1000) + 3600;
    const { body } = await send({ target: '628111000003', message: 'later', schedule: inAnHour });
    const [id] = body.id as string[];
    expect((await message(id!)).body).toMatchObject({ status: 'queued', scheduledAt: new Date(inAnHour * 1000).toISOString() });

    const moved = await call('PATCH', `/api/messages/${id}`, { key: device.apiKey, json: { schedule: inAnHour + 60 } });
    expect(moved).toMatchObject({ status: 200, body: { status: 'queued', scheduledAt: new Date((inAnHour + 60) * 1000).toISOString() } });
    expect(await call('PATCH', `/api/messages/${id}`, { key: device.apiKey, json: { schedule: 'soon' } })).toEqual({ status: 400, body: { error: 'schedule: must be a unix time in seconds' } });

    const cancelled = await call('DELETE', `/api/messages/${id}`, { key: device.apiKey });
    expect(cancelled).toMatchObject({ status: 200, body: { status: 'failed', error: 'cancelled', failedAt: expect.any(String) } });
    expect(await call('DELETE', `/api/messages/${id}`, { key: device.apiKey })).toEqual({ status: 409, body: { error: 'Only a queued message can be cancelled; this one is failed' } });
    expect(await link().queued(DEFAULT_HOST_ID)).toBe(0);
    expect(sent()).toEqual([]);

    const other = await newDevice('Someone else');
    expect((await call('GET', `/api/messages/${id}`, { key: other.apiKey })).status).toBe(404);
  });

  it('answers a repeated Idempotency-Key with the first answer and sends once', async () => {
    const sent = hostUp();
    const key = { 'idempotency-key': 'order-42' };
    const first = await send({ target: '628111000004', message: 'once' }, key);
    expect(first.status).toBe(200);
    const again = await send({ target: '628111000004', message: 'once' }, key);
    expect(again).toEqual(first);
    expect(sent().filter((p) => p.text === 'once')).toHaveLength(1);
    // A key is per device: another device's same key is its own request.
    const other = await newDevice('Other');
    expect((await call('POST', '/send', { key: other.apiKey, json: { target: '628111000004', message: 'once' }, headers: key })).body).not.toEqual(first.body);
  });

  it('paces a device’s queued sends, retries a failure that may pass and fails one that will not, with the reason', async () => {
    const paced = await newDevice('Paced');
    expect(await call('PATCH', `/api/devices/${paced.id}`, { key: `Bearer ${env.ADMIN_KEY}`, json: { sendIntervalMs: 400, sendJitterMs: 100 } })).toMatchObject({
      status: 200,
      body: { sendIntervalMs: 400, sendJitterMs: 100 },
    });
    expect(await call('PATCH', `/api/devices/${paced.id}`, { key: `Bearer ${env.ADMIN_KEY}`, json: { sendIntervalMs: -1 } })).toMatchObject({ status: 400 });
    const at: Record<string, number> = {};
    let busy = true;
    host = fakeHost({
      'message.send': (p) => {
        if (p.media) throw new HostFailure('media_error', 'media download failed: HTTP 404');
        // The first try of "busy" finds the device offline: worth a retry.
        if (p.text === 'busy' && busy) throw ((busy = false), new HostFailure('not_connected', 'Device is not connected'));
        at[p.text!] = Date.now();
        return { id: `WA${p.outboxId}`, timestamp: 1779348348, to: p.to };
      },
    });
    const schedule = Math.floor(Date.now() / 1000) + 1; // queued, all due at once
    const queued = await call('POST', '/send', { key: paced.apiKey, json: { target: '628222000001|a,628222000002|b,628222000003|c', message: '{name}', schedule } });
    const retried = await call('POST', '/send', { key: paced.apiKey, json: { target: '628222000004', message: 'busy', schedule } });
    const broken = await call('POST', '/send', { key: paced.apiKey, json: { target: '628222000005', url: 'https://cdn.example.test/gone.png', schedule } });
    await until(async () => at.c && at.busy, 'the paced sends', 15_000);
    const times = ['a', 'b', 'c'].map((k) => at[k]!).sort((x, y) => x - y);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(400);
    const logged = async (id: string) => (await call('GET', `/api/messages/${id}`, { key: paced.apiKey })).body;
    expect(await until(async () => (await logged(retried.body.id[0])).sentAt && logged(retried.body.id[0]), 'the retry')).toMatchObject({ status: 'sent', attempts: 2, error: null });
    expect(await logged(broken.body.id[0])).toMatchObject({ status: 'failed', error: 'media download failed: HTTP 404', attempts: 1, failedAt: expect.any(String) });
    expect(queued.body.id).toHaveLength(3);
  }, 20_000);
});
