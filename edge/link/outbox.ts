// The durable outbox: sends waiting for their time, or for the session host to come back, kept
// in the HostLink Durable Object's own SQLite storage. It survives the object's restarts, so a
// send the API answered "queued" is never lost; HostLink delivers from it.
import type { Params, SendParams } from '../../session-host/link/protocol.ts';

/** A status change only the edge sees, waiting for the host to turn it into the device's webhook. */
export type Notice = Params<'webhook.status'>;

export interface QueueItem {
  /** The message log id; also the host's outbox id, so a retry never sends twice. */
  id: string;
  params: SendParams;
  /** Unix ms: not before then. */
  dueAt: number;
}

export interface QueuedRow {
  id: string;
  params: SendParams;
  dueAt: number;
  readyAt: number;
  attempts: number;
}

export class Outbox {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    // `seq` keeps the order sends were accepted in, for ties in due time.
    sql.exec(`CREATE TABLE IF NOT EXISTS outbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      device_id TEXT NOT NULL,
      recipient TEXT NOT NULL,
      params TEXT NOT NULL,
      due_at INTEGER NOT NULL,
      retry_at INTEGER NOT NULL DEFAULT 0,
      attempts INTEGER NOT NULL DEFAULT 0
    )`);
    sql.exec('CREATE TABLE IF NOT EXISTS notices (seq INTEGER PRIMARY KEY AUTOINCREMENT, notice TEXT NOT NULL)');
  }

  notify(notices: Notice[]): void {
    for (const notice of notices) this.sql.exec('INSERT INTO notices (notice) VALUES (?)', JSON.stringify(notice));
  }

  /** Notices in the order they happened. */
  notices(): { seq: number; notice: Notice }[] {
    return this.sql
      .exec<{ seq: number; notice: string }>('SELECT seq, notice FROM notices ORDER BY seq')
      .toArray()
      .map((r) => ({ seq: r.seq, notice: JSON.parse(r.notice) as Notice }));
  }

  noticed(seq: number): void {
    this.sql.exec('DELETE FROM notices WHERE seq = ?', seq);
  }

  /**
   * Queues the sends not queued yet and returns their ids. One already waiting (handed over again
   * by a retry under an Idempotency-Key) keeps its place, due time and attempts.
   */
  add(items: QueueItem[]): Set<string> {
    const added = new Set<string>();
    for (const item of items) {
      const { rowsWritten } = this.sql.exec(
        'INSERT OR IGNORE INTO outbox (id, device_id, recipient, params, due_at) VALUES (?, ?, ?, ?, ?)',
        item.id,
        item.params.deviceId,
        item.params.to,
        JSON.stringify(item.params),
        item.dueAt,
      );
      if (rowsWritten > 0) added.add(item.id);
    }
    return added;
  }

  /**
   * The first waiting send of each recipient (by due time, then acceptance), soonest first. Only
   * heads may go: a later message never overtakes an earlier one to the same recipient, even
   * while the earlier one waits for a retry.
   */
  heads(): QueuedRow[] {
    const rows = this.sql
      .exec<{ id: string; params: string; due_at: number; ready_at: number; attempts: number }>(
        `SELECT id, params, due_at, max(due_at, retry_at) AS ready_at, attempts FROM outbox o
         WHERE NOT EXISTS (SELECT 1 FROM outbox p WHERE p.device_id = o.device_id AND p.recipient = o.recipient
           AND (p.due_at < o.due_at OR (p.due_at = o.due_at AND p.seq < o.seq)))
         ORDER BY ready_at, seq`,
      )
      .toArray();
    return rows.map((r) => ({ id: r.id, params: JSON.parse(r.params) as SendParams, dueAt: r.due_at, readyAt: r.ready_at, attempts: r.attempts }));
  }

  /** Takes one send out of the queue, returning what it was (undefined if it was not queued). */
  take(id: string): SendParams | undefined {
    const row = this.sql.exec<{ params: string }>('DELETE FROM outbox WHERE id = ? RETURNING params', id).toArray()[0];
    return row && (JSON.parse(row.params) as SendParams);
  }

  remove(id: string): boolean {
    return this.sql.exec('DELETE FROM outbox WHERE id = ?', id).rowsWritten > 0;
  }

  retryLater(id: string, at: number): number {
    this.sql.exec('UPDATE outbox SET attempts = attempts + 1, retry_at = ? WHERE id = ?', at, id);
    return this.sql.exec<{ attempts: number }>('SELECT attempts FROM outbox WHERE id = ?', id).one().attempts;
  }

  reschedule(id: string, dueAt: number): boolean {
    return this.sql.exec('UPDATE outbox SET due_at = ?, retry_at = 0 WHERE id = ?', dueAt, id).rowsWritten > 0;
  }

  /** A device came (back) online: its waiting retries may go now. */
  retryNow(deviceId: string): boolean {
    return this.sql.exec('UPDATE outbox SET retry_at = 0 WHERE device_id = ? AND retry_at > 0', deviceId).rowsWritten > 0;
  }

  get size(): number {
    return this.sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n;
  }
}
