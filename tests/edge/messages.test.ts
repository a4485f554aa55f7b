import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '../../edge/api/send.ts';
import { messagesTable } from '../../edge/db/schema.ts';
import { ADMIN_KEY, call, newDevice } from './client.ts';

const db = drizzle(env.DB);
let a: Awaited<ReturnType<typeof newDevice>>;
let b: Awaited<ReturnType<typeof newDevice>>;
/** Every logged message id, oldest first. */
const written: { id: string; deviceId: string; status: string; to: string; createdAt: Date }[] = [];

beforeAll(async () => {
  a = await newDevice('A');
  b = await newDevice('B');
  // 130 messages: to A, to B, to A, …; every third one failed.
  const rows = Array.from({ length: 130 }, (_, i) => ({
    ...newMessageId(),
    deviceId: i % 2 ? b.id : a.id,
    to: `62812000${String(i).padStart(4, '0')}`,
    type: 'text' as const,
    preview: `message ${i}`,
    status: i % 3 ? ('sent' as const) : ('failed' as const),
  }));
  await db.batch(rows.map((row) => db.insert(messagesTable).values(row)) as never);
  written.push(...rows);
});

const ids = (body: { messages: { id: string }[] }) => body.messages.map((m) => m.id);
const newestFirst = (filter: (m: (typeof written)[number]) => boolean) =>
  written
    .filter(filter)
    .map((m) => m.id)
    .reverse();
const list = (query: string, key = ADMIN_KEY) => call('GET', `/api/messages${query}`, { key });

describe('GET /api/messages', () => {
  it('lists newest first, 50 at a time by default', async () => {
    const { status, body } = await list('');
    expect(status).toBe(200);
    expect(ids(body)).toEqual(newestFirst(() => true).slice(0, 50));
    expect(body.messages[0]).toEqual({
      id: written.at(-1)!.id,
      deviceId: b.id,
      to: '628120000129',
      type: 'text',
      preview: 'message 129',
      status: 'failed',
      waMessageId: null,
      error: null,
      scheduledAt: null,
      attempts: 0,
      sentAt: null,
      deliveredAt: null,
      readAt: null,
      failedAt: null,
      editedAt: null,
      deletedAt: null,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it('pages with a cursor through every message exactly once', async () => {
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const { body } = await list(`?limit=40${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...ids(body));
      cursor = body.nextCursor;
    }
    expect(seen).toEqual(newestFirst(() => true));
  });

  it('pages by page number too', async () => {
    const second = await list('?limit=20&page=2');
    expect(ids(second.body)).toEqual(newestFirst(() => true).slice(20, 40));
    const last = await list('?limit=100&page=2');
    expect(ids(last.body)).toEqual(newestFirst(() => true).slice(100));
    expect(last.body.nextCursor).toBeNull();
  });

  it('filters by device and status', async () => {
    const failedOfA = await list(`?deviceId=${a.id}&status=failed&limit=200`);
    expect(ids(failedOfA.body)).toEqual(newestFirst((m) => m.deviceId === a.id && m.status === 'failed'));
    expect(failedOfA.body.nextCursor).toBeNull();
  });

  it("shows a device key only its own device's messages", async () => {
    const own = await list('?limit=200', b.apiKey);
    expect(ids(own.body)).toEqual(newestFirst((m) => m.deviceId === b.id));
    expect((await list(`?deviceId=${b.id}&limit=200`, b.apiKey)).body).toEqual(own.body);
    expect(await list(`?deviceId=${a.id}`, b.apiKey)).toEqual({ status: 403, body: { error: 'Forbidden: this API key belongs to another device' } });
  });

  it('filters by recipient, written as a send takes it', async () => {
    for (const to of ['628120000004', '08120000004', '+62 812-0000-004']) {
      const { status, body } = await list(`?to=${encodeURIComponent(to)}`);
      expect(status).toBe(200);
      expect(ids(body)).toEqual(newestFirst((m) => m.to === '628120000004'));
    }
    const ofB = await list(`?to=628120000004&deviceId=${b.id}`);
    expect(ids(ofB.body)).toEqual([]); // message 4 went from A
  });

  it('filters by a time range on creation, inclusive, as ISO dates or unix milliseconds', async () => {
    const [first, last] = [written[10]!, written[20]!];
    const expected = newestFirst((m) => m.createdAt >= first.createdAt && m.createdAt <= last.createdAt);
    expect(expected).toHaveLength(11);
    const iso = await list(`?from=${first.createdAt.toISOString()}&until=${last.createdAt.toISOString()}&limit=200`);
    expect(ids(iso.body)).toEqual(expected);
    const ms = await list(`?from=${first.createdAt.getTime()}&until=${last.createdAt.getTime()}&limit=200`);
    expect(ids(ms.body)).toEqual(expected);
    // With the device and a cursor, the range still holds.
    const ofA = await list(`?deviceId=${a.id}&from=${first.createdAt.getTime()}&limit=3`);
    expect(ids(ofA.body)).toEqual(newestFirst((m) => m.deviceId === a.id && m.createdAt >= first.createdAt).slice(0, 3));
    const next = await list(`?deviceId=${a.id}&from=${first.createdAt.getTime()}&limit=200&cursor=${ofA.body.nextCursor}`);
    expect(ids(next.body)).toEqual(newestFirst((m) => m.deviceId === a.id && m.createdAt >= first.createdAt).slice(3));
    expect(ids((await list('?from=2000-01-01&until=2000-01-02')).body)).toEqual([]);
  });

  it('filters the cancelled messages apart from the other failures', async () => {
    const cancelled = { ...newMessageId(), deviceId: a.id, to: '628129999999', type: 'text' as const, status: 'failed' as const, error: 'cancelled' };
    await db.insert(messagesTable).values(cancelled);
    try {
      expect(ids((await list('?status=cancelled')).body)).toEqual([cancelled.id]);
      expect(ids((await list('?status=failed&limit=1')).body)).toEqual([cancelled.id]); // still a failure
    } finally {
      await db.delete(messagesTable).where(eq(messagesTable.id, cancelled.id));
    }
  });

  it('refuses a bad recipient or time, naming the field', async () => {
    expect(await list('?to=12')).toEqual({ status: 400, body: { error: 'to: must be a phone number like 628123456789 or a group id ending in @g.us, got "12"' } });
    expect((await list('?from=yesterday')).body.error).toMatch(/^from: must be an ISO date .* got "yesterday"$/);
    expect((await list('?until=2026-13-45')).body.error).toMatch(/^until: must be an ISO date/);
    expect(await list('?from=2026-05-02&until=2026-05-01')).toEqual({ status: 400, body: { error: 'until: must not be before from' } });
  });

  it('finds messages to a recipient through an index, with or without a device', async () => {
    const plan = async (where: string, ...values: string[]) => {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN SELECT * FROM messages WHERE ${where} ORDER BY id DESC LIMIT 51`)
        .bind(...values)
        .all<{ detail: string }>();
      return results.map((r) => r.detail).join('\n');
    };
    expect(await plan('"to" = ?1', '628120000004')).toMatch(/USING INDEX messages_to_created_idx/);
    expect(await plan('"to" = ?1 AND device_id = ?2', '628120000004', a.id)).toMatch(/USING INDEX messages_(to|device|device_to)_created_idx/);
  });

  it('refuses invalid paging, naming the field', async () => {
    expect(await list('?limit=201')).toEqual({ status: 400, body: { error: 'limit: Too big: expected number to be <=200' } });
    expect(await list('?limit=0')).toEqual({ status: 400, body: { error: 'limit: Too small: expected number to be >=1' } });
    expect((await list('?page=first')).body.error).toMatch(/^page: /);
    expect((await list('?status=lost')).body.error).toMatch(/^status: /);
  });
});
