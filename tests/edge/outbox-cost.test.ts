// The outbox's cost does not grow with the queue: picking, sending and re-pacing one send reads
// as many rows of the Durable Object's SQLite storage with 10,000 sends waiting as with 10.
// Counted with SQLite's own `rowsRead`, in a Durable Object of its own (not the HostLink's queue).
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { Outbox, type QueueItem } from '../../edge/link/outbox.ts';

/** The storage's SQL, counting the rows every statement read. */
function counting(sql: SqlStorage) {
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  const counted = new Proxy(sql, {
    get(target, prop) {
      if (prop === 'exec') {
        return (query: string, ...bindings: unknown[]) => {
          const cursor = target.exec(query, ...bindings);
          cursors.push(cursor);
          return cursor;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    sql: counted,
    /** Rows read since the last call. */
    rowsRead() {
      const rows = cursors.reduce((sum, cursor) => sum + cursor.rowsRead, 0);
      cursors.length = 0;
      return rows;
    },
  };
}

const item = (i: number, recipients: number, dueAt: number): QueueItem => ({
  id: `msg_${String(i).padStart(6, '0')}`,
  dueAt,
  params: { deviceId: `device_${i % 2}`, to: `62811${String(i % recipients).padStart(7, '0')}@s.whatsapp.net`, text: `message ${i}`, outboxId: `msg_${i}` },
});

/** Rows read to deliver the next send as HostLink does: pick it, remove it, pace its device, find the next due time. */
function deliveryCost(outbox: Outbox, count: () => number, now: number): { rows: number; id: string } {
  count();
  const next = outbox.next(now);
  if (!next) throw new Error('nothing due');
  outbox.remove(next.id);
  outbox.pace(next.params.deviceId, now);
  outbox.nextDueAt();
  return { rows: count(), id: next.id };
}

async function measure(name: string, queued: number, recipients: number) {
  return runInDurableObject(env.HOST_LINK.getByName(name), (_instance, state) => {
    const { sql, rowsRead } = counting(state.storage.sql);
    const outbox = new Outbox(sql);
    const now = Date.now();
    for (let start = 0; start < queued; start += 500) {
      outbox.add(Array.from({ length: Math.min(500, queued - start) }, (_, k) => item(start + k, recipients, now - 1000)));
    }
    const first = deliveryCost(outbox, rowsRead, now);
    const second = deliveryCost(outbox, rowsRead, now);
    return { first, second, left: outbox.size };
  });
}

describe('the outbox at volume', () => {
  it('reads as many rows per delivery with 10,000 queued as with 10', async () => {
    const small = await measure('outbox-cost-small', 10, 5);
    const large = await measure('outbox-cost-large', 10_000, 100);
    expect(large.left).toBe(10_000 - 2);
    // Heads in acceptance order: the first two sends accepted go first (to two recipients).
    expect([large.first.id, large.second.id]).toEqual(['msg_000000', 'msg_000001']);
    expect(large.first.rows).toBeLessThanOrEqual(small.first.rows + 4);
    expect(large.second.rows).toBeLessThanOrEqual(small.second.rows + 4);
    expect(large.first.rows).toBeLessThan(60);
  });

  it('builds the heads of a queue stored before they existed', async () => {
    const picked = await runInDurableObject(env.HOST_LINK.getByName('outbox-legacy'), (_instance, state) => {
      const sql = state.storage.sql;
      // The queue as earlier versions stored it: the outbox table alone.
      for (const table of ['outbox_devices', 'outbox_heads', 'outbox']) sql.exec(`DROP TABLE IF EXISTS ${table}`);
      sql.exec(`CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL,
        recipient TEXT NOT NULL, params TEXT NOT NULL, due_at INTEGER NOT NULL, retry_at INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0)`);
      const now = Date.now();
      for (const [i, dueAt] of [
        [0, now + 60_000],
        [1, now - 10],
        [2, now - 20],
      ] as const) {
        const { params } = item(i, 1, dueAt);
        sql.exec('INSERT INTO outbox (id, device_id, recipient, params, due_at) VALUES (?, ?, ?, ?, ?)', `msg_${i}`, 'device_0', params.to, JSON.stringify(params), dueAt);
      }
      const outbox = new Outbox(sql);
      return { next: outbox.next(now)?.id, size: outbox.size };
    });
    // One recipient: its earliest due send is the head, whatever the order it was accepted in.
    expect(picked).toEqual({ next: 'msg_2', size: 3 });
  });
});
