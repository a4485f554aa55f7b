// Broadcasts in the Workers runtime: validation, the copies queued in the real HostLink's outbox
// and sent to a fake session host, the progress counted from the message log, and the cancel.
import { env } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SendParams } from '../../session-host/link/protocol.ts';
import { admin, call, newDevice, until } from './client.ts';
import { fakeHost } from './fake-host.ts';

let device: Awaited<ReturnType<typeof newDevice>>;
let group: { id: string };
beforeAll(async () => {
  device = await newDevice('Broadcaster');
  group = (await admin('POST', '/api/groups', { json: { name: 'Pelanggan' } })).body;
  for (const [name, number] of [
    ['Ani', '628333000001'],
    ['Budi', '08333000002'],
    ['Citra', '628333000003'],
  ]) {
    expect((await admin('POST', '/api/contacts', { json: { name, number, groupId: group.id } })).status).toBe(201);
  }
});

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

function hostUp() {
  host = fakeHost({ 'message.send': (p) => ({ id: `WA${p.outboxId}`, timestamp: 1779348348, to: p.to }) });
  return () => host!.requests.filter((r) => r.method === 'message.send').map((r) => r.params as SendParams);
}

const broadcast = (json: Record<string, unknown>, key = device.apiKey) => call('POST', '/api/broadcasts', { key, json });
const progress = async (id: string) => (await call('GET', `/api/broadcasts/${id}`, { key: device.apiKey })).body;

describe('broadcasts', () => {
  it('refuse bad input with a 400 naming the field', async () => {
    const empty = (await admin('POST', '/api/groups', { json: { name: 'Nobody' } })).body;
    const many = Array.from({ length: 10_001 }, (_, i) => `62811${String(i).padStart(7, '0')}`);
    const cases: [Record<string, unknown>, string][] = [
      [{ message: 'Hi' }, 'groupId: required (a contact group), or numbers'],
      [{ groupId: group.id, numbers: ['628123456789'], message: 'Hi' }, 'numbers: give groupId or numbers, not both'],
      [{ groupId: group.id }, 'message: required (or media)'],
      [{ groupId: 'group_nope', message: 'Hi' }, 'groupId: no contact group with id "group_nope"'],
      [{ groupId: empty.id, message: 'Hi' }, 'groupId: the group has no contacts'],
      [{ numbers: ['628123456789', 'call me'], message: 'Hi' }, 'numbers: must be a phone number like 628123456789 or a group id ending in @g.us, got "call me"'],
      [{ numbers: [], message: 'Hi' }, 'numbers: must list at least one recipient'],
      [{ numbers: many, message: 'Hi' }, 'numbers: at most 10000 recipients per broadcast, got 10001'],
      [{ groupId: group.id, message: 'Hi', schedule: 'tomorrow' }, 'schedule: must be an ISO time like 2026-12-24T09:00:00Z, or a unix time in seconds or milliseconds'],
      [{ groupId: group.id, message: 'Hi', delay: '10-1' }, 'delay: must be seconds like "5", or a range like "1-10" (at most 3600)'],
      [{ groupId: group.id, media: { url: 'ftp://x' } }, 'media.url: must be an http(s) URL'],
    ];
    for (const [json, error] of cases) expect(await broadcast(json), error).toEqual({ status: 400, body: { error } });
    expect(await broadcast({ groupId: group.id, message: 'Hi' }, `Bearer ${env.ADMIN_KEY}`)).toEqual({
      status: 400,
      body: { error: 'deviceId: required with the admin key (a device key sends from its own device)' },
    });
    const other = await newDevice('Other');
    expect((await broadcast({ groupId: group.id, message: 'Hi', deviceId: other.id })).status).toBe(403);
    expect(await broadcast({ groupId: group.id, message: 'Hi', deviceId: 'device_nope' }, `Bearer ${env.ADMIN_KEY}`)).toEqual({ status: 404, body: { error: 'Device not found: device_nope' } });
    expect((await call('GET', '/api/broadcasts?limit=0', { key: device.apiKey })).body).toEqual({ error: 'limit: Too small: expected number to be >=1' });
  });

  it('queues a personalised copy for every contact of the group and counts them as they go', async () => {
    const scheduledAt = Date.now() + 60_000;
    const created = await broadcast({ groupId: group.id, message: 'Halo {name}, promo!', schedule: new Date(scheduledAt).toISOString() });
    expect(created).toEqual({
      status: 201,
      body: {
        id: expect.stringMatching(/^bc_/),
        deviceId: device.id,
        groupId: group.id,
        message: 'Halo {name}, promo!',
        media: null,
        total: 3,
        delay: null,
        status: 'queued',
        counts: { queued: 3, sent: 0, delivered: 0, read: 0, failed: 0, cancelled: 0 },
        scheduledAt: new Date(scheduledAt).toISOString(),
        cancelledAt: null,
        createdAt: expect.any(String),
      },
    });
    const { id } = created.body;
    // One log row per recipient, each with its own text, linked to the broadcast.
    const rows = await env.DB.prepare('SELECT "to", preview, status FROM messages WHERE broadcast_id = ? ORDER BY "to"').bind(id).all();
    expect(rows.results).toEqual([
      { to: '628333000001', preview: 'Halo Ani, promo!', status: 'queued' },
      { to: '628333000002', preview: 'Halo Budi, promo!', status: 'queued' },
      { to: '628333000003', preview: 'Halo Citra, promo!', status: 'queued' },
    ]);

    // The counting: each row once in queued, sent, failed or cancelled; delivered and read are part of sent.
    const set = (to: string, status: string, error: string | null = null) => env.DB.prepare('UPDATE messages SET status = ?, error = ? WHERE broadcast_id = ? AND "to" = ?').bind(status, error, id, to).run();
    await set('628333000001', 'read');
    expect(await progress(id)).toMatchObject({ status: 'sending', counts: { queued: 2, sent: 1, delivered: 1, read: 1, failed: 0, cancelled: 0 } });
    await set('628333000002', 'delivered');
    await set('628333000003', 'failed', 'not on WhatsApp');
    expect(await progress(id)).toMatchObject({ status: 'done', counts: { queued: 0, sent: 2, delivered: 2, read: 1, failed: 1, cancelled: 0 } });
    // Nothing waits: a cancel takes nothing out, and it stays done.
    expect((await call('DELETE', `/api/broadcasts/${id}`, { key: device.apiKey })).body).toMatchObject({ cancelled: 0, status: 'done', cancelledAt: null });

    const list = await call('GET', '/api/broadcasts?limit=1', { key: device.apiKey });
    expect(list.body).toMatchObject({ broadcasts: [{ id, counts: { sent: 2 } }] });
    // Another device's key sees neither it nor its progress.
    const other = await newDevice('Stranger');
    expect((await call('GET', '/api/broadcasts', { key: other.apiKey })).body).toEqual({ broadcasts: [], nextCursor: null });
    expect(await call('GET', `/api/broadcasts/${id}`, { key: other.apiKey })).toEqual({ status: 404, body: { error: `Broadcast not found: ${id}` } });
  });

  it('sends the copies through the outbox, `delay` apart, and a cancel takes out the rest', async () => {
    const sent = hostUp();
    const created = await broadcast({ numbers: '628444000001|Dewi, 628444000002|Eko\n628444000001|twice', message: 'Hi {name}', delay: '3600' });
    expect(created.body).toMatchObject({ total: 2, delay: '3600', status: 'queued' });
    const { id } = created.body;
    await until(async () => sent().some((p) => p.text === 'Hi Dewi'), 'the first copy');
    expect(await until(async () => (await progress(id)).counts.sent === 1 && progress(id), 'counted as sent')).toMatchObject({ status: 'sending', counts: { queued: 1, sent: 1 } });

    const cancelled = await call('DELETE', `/api/broadcasts/${id}`, { key: device.apiKey });
    expect(cancelled).toMatchObject({
      status: 200,
      body: { id, cancelled: 1, status: 'cancelled', cancelledAt: expect.any(String), counts: { queued: 0, sent: 1, failed: 0, cancelled: 1 } },
    });
    const rest = await env.DB.prepare('SELECT status, error FROM messages WHERE broadcast_id = ? AND "to" = ?').bind(id, '628444000002').first();
    expect(rest).toEqual({ status: 'failed', error: 'cancelled' });
    // Again: nothing more to cancel.
    expect((await call('DELETE', `/api/broadcasts/${id}`, { key: device.apiKey })).body).toMatchObject({ cancelled: 0, status: 'cancelled' });
    expect(sent().filter((p) => p.text?.startsWith('Hi '))).toHaveLength(1);
  });

  it('sends media to each, its caption personalised', async () => {
    const sent = hostUp();
    const created = await broadcast({ numbers: ['628555000001|Fajar'], media: { url: 'https://cdn.example.test/promo.jpg', caption: 'For {name}' } });
    expect(created.body).toMatchObject({ total: 1, message: 'For {name}', media: { url: 'https://cdn.example.test/promo.jpg', type: 'image' } });
    const params = await until(async () => sent().find((p) => p.text === 'For Fajar'), 'the media copy');
    expect(params.media).toMatchObject({ type: 'image', url: 'https://cdn.example.test/promo.jpg' });
  });
});
