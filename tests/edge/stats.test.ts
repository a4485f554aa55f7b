// Activity per day for the dashboard's chart: sends from the message log, receipts from the inbox,
// counted per device and per day in the caller's time zone, zeros included.
import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { inboxMessagesTable, messagesTable } from '../../edge/db/schema.ts';
import { ADMIN_KEY, call, newDevice } from './client.ts';

const db = drizzle(env.DB);
const DAY = 86_400_000;

async function sentAt(deviceId: string, at: number, status: 'sent' | 'read' | 'failed' = 'sent') {
  await db
    .insert(messagesTable)
    .values({ id: `msg_${crypto.randomUUID()}`, deviceId, to: '628123456789', type: 'text', status, sentAt: status === 'failed' ? null : new Date(at), createdAt: new Date(at - 1000) });
}
async function receivedAt(deviceId: string, at: number) {
  await db.insert(inboxMessagesTable).values({ deviceId, id: crypto.randomUUID(), chat: '628123456789', sender: '628123456789', type: 'text', timestamp: new Date(at), receivedAt: new Date(at) });
}

describe('GET /api/stats/daily', () => {
  it('counts each device’s sent and received messages per day, zeros included, oldest first', async () => {
    const shop = await newDevice('Stats shop');
    const other = await newDevice('Stats other');
    const now = Date.now();
    await sentAt(shop.id, now);
    await sentAt(shop.id, now, 'read'); // read counts as sent: it went
    await sentAt(shop.id, now, 'failed'); // never sent: not counted
    await sentAt(shop.id, now - 2 * DAY);
    await sentAt(shop.id, now - 40 * DAY); // before the window
    await receivedAt(shop.id, now);
    await receivedAt(other.id, now - DAY);

    const { status, body } = await call('GET', `/api/stats/daily?deviceId=${shop.id}&days=7`, { key: `Bearer ${ADMIN_KEY}` });
    expect(status).toBe(200);
    expect(body.devices).toHaveLength(1);
    const days = body.devices[0].days as { date: string; sent: number; received: number }[];
    expect(days).toHaveLength(7);
    const today = new Date(now).toISOString().slice(0, 10);
    const twoAgo = new Date(now - 2 * DAY).toISOString().slice(0, 10);
    expect(days.at(-1)).toEqual({ date: today, sent: 2, received: 1 });
    expect(days.find((d) => d.date === twoAgo)).toEqual({ date: twoAgo, sent: 1, received: 0 });
    expect(days.reduce((n, d) => n + d.sent, 0)).toBe(3);
    expect(body.from).toBe(days[0]!.date);

    // Every device for the admin; the device key its own only.
    const all = await call('GET', '/api/stats/daily?days=30', { key: `Bearer ${ADMIN_KEY}` });
    const ofOther = all.body.devices.find((d: { deviceId: string }) => d.deviceId === other.id);
    expect(ofOther.days).toHaveLength(30);
    expect(ofOther.days.reduce((n: number, d: { received: number }) => n + d.received, 0)).toBe(1);
    const own = await call('GET', '/api/stats/daily', { key: other.apiKey });
    expect(own.body.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual([other.id]);
    expect((await call('GET', `/api/stats/daily?deviceId=${shop.id}`, { key: other.apiKey })).status).toBe(403);
  });

  it('counts days where the caller’s days begin', async () => {
    const shop = await newDevice('Stats zone');
    // 23:30 UTC yesterday is today at 06:30 in UTC+7.
    const todayUtc = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
    await sentAt(shop.id, todayUtc - 30 * 60_000);
    const utc = await call('GET', `/api/stats/daily?deviceId=${shop.id}&days=2`, { key: `Bearer ${ADMIN_KEY}` });
    const jakarta = await call('GET', `/api/stats/daily?deviceId=${shop.id}&days=2&utcOffset=420`, { key: `Bearer ${ADMIN_KEY}` });
    expect(utc.body.devices[0].days.map((d: { sent: number }) => d.sent)).toEqual([1, 0]);
    expect(jakarta.body.devices[0].days.map((d: { sent: number }) => d.sent)).toEqual([0, 1]);
  });

  it('says which parameter is wrong', async () => {
    const res = await call('GET', '/api/stats/daily?days=0&utcOffset=abc', { key: `Bearer ${ADMIN_KEY}` });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain('days: must be 1 to 90');
    expect(res.body.error).toContain('utcOffset: must be a number of minutes');
  });
});
