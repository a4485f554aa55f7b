import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '../../edge/api/send.ts';
import { messagesTable } from '../../edge/db/schema.ts';
import { ADMIN_KEY, call, newDevice } from './client.ts';

const db = drizzle(env.DB);
let a: Awaited<ReturnType<typeof newDevice>>;
let b: Awaited<ReturnType<typeof newDevice>>;
/** Every logged message id, oldest first. */
const written: { id: string; deviceId: string; status: string }[] = [];

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

  it('refuses invalid paging, naming the field', async () => {
    expect(await list('?limit=201')).toEqual({ status: 400, body: { error: 'limit: Too big: expected number to be <=200' } });
    expect(await list('?limit=0')).toEqual({ status: 400, body: { error: 'limit: Too small: expected number to be >=1' } });
    expect((await list('?page=first')).body.error).toMatch(/^page: /);
    expect((await list('?status=lost')).body.error).toMatch(/^status: /);
  });
});
