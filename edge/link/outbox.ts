// The durable outbox: sends waiting for their time, or for the session host to come back, kept
// in the HostLink Durable Object's own SQLite storage. It survives the object's restarts, so a
// send the API answered "queued" is never lost; HostLink delivers from it. Picking the next send
// and the next due time are index lookups on two small tables kept beside the queue (each
// recipient's head, each device's next go), so a delivery costs the same behind 10 or 10,000 sends.
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
    // Each recipient's queue in order, so its head is found without a scan.
    sql.exec('CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (device_id, recipient, due_at, seq)');
    // Rows waiting for a retry, for a device that comes back online.
    sql.exec('CREATE INDEX IF NOT EXISTS outbox_retrying ON outbox (device_id) WHERE retry_at > 0');
    // The head of each recipient's queue (only it may go) and when it is ready. Kept in step with
    // `outbox` by every method below, in the same synchronous step, so storage commits both at once.
    sql.exec(`CREATE TABLE IF NOT EXISTS outbox_heads (
      device_id TEXT NOT NULL,
      recipient TEXT NOT NULL,
      seq INTEGER NOT NULL,
      ready_at INTEGER NOT NULL,
      PRIMARY KEY (device_id, recipient)
    )`);
    sql.exec('CREATE INDEX IF NOT EXISTS outbox_heads_ready ON outbox_heads (device_id, ready_at, seq)');
    // Per device with sends waiting (or paced): when its next send may go, its pacing and its
    // soonest head together, so picking the next send looks at one index entry.
    sql.exec(`CREATE TABLE IF NOT EXISTS outbox_devices (
      device_id TEXT PRIMARY KEY,
      paced_until INTEGER NOT NULL DEFAULT 0,
      go_at INTEGER
    )`);
    sql.exec('CREATE INDEX IF NOT EXISTS outbox_devices_go ON outbox_devices (go_at) WHERE go_at IS NOT NULL');
    sql.exec('CREATE TABLE IF NOT EXISTS notices (seq INTEGER PRIMARY KEY AUTOINCREMENT, notice TEXT NOT NULL)');
    // Storage written before the heads existed: build them once.
    if (this.sql.exec<{ stale: number }>('SELECT EXISTS (SELECT 1 FROM outbox) AND NOT EXISTS (SELECT 1 FROM outbox_heads) AS stale').one().stale) {
      for (const queue of this.sql.exec<{ device_id: string; recipient: string }>('SELECT DISTINCT device_id, recipient FROM outbox').toArray()) {
        this.refresh(queue.device_id, queue.recipient);
      }
    }
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
      if (rowsWritten === 0) continue;
      added.add(item.id);
      this.refresh(item.params.deviceId, item.params.to);
    }
    return added;
  }

  /**
   * The send to deliver now, if one is due: the head of a recipient's queue (by due time, then
   * acceptance) whose device's pacing allows it, the device waiting longest first. Only heads may
   * go: a later message never overtakes an earlier one to the same recipient, even while the
   * earlier one waits for a retry. Three index lookups; only the chosen row is parsed.
   */
  next(now: number): QueuedRow | undefined {
    const device = this.sql.exec<{ device_id: string }>('SELECT device_id FROM outbox_devices WHERE go_at IS NOT NULL AND go_at <= ? ORDER BY go_at LIMIT 1', now).toArray()[0];
    if (!device) return undefined;
    const row = this.sql
      .exec<{ id: string; params: string; due_at: number; ready_at: number; attempts: number }>(
        `SELECT o.id, o.params, o.due_at, h.ready_at, o.attempts FROM outbox o
         JOIN (SELECT seq, ready_at FROM outbox_heads WHERE device_id = ? ORDER BY ready_at, seq LIMIT 1) h ON o.seq = h.seq`,
        device.device_id,
      )
      .toArray()[0];
    return row && { id: row.id, params: JSON.parse(row.params) as SendParams, dueAt: row.due_at, readyAt: row.ready_at, attempts: row.attempts };
  }

  /** When the next send may go (unix ms), pacing included; undefined if none waits. */
  nextDueAt(): number | undefined {
    return this.sql.exec<{ go_at: number }>('SELECT go_at FROM outbox_devices WHERE go_at IS NOT NULL ORDER BY go_at LIMIT 1').toArray()[0]?.go_at;
  }

  /** A send went out from the device: its next one waits until `until` (unix ms). */
  pace(deviceId: string, until: number): void {
    this.sql.exec('INSERT INTO outbox_devices (device_id, paced_until) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET paced_until = excluded.paced_until', deviceId, until);
    this.refreshDevice(deviceId);
  }

  /** Takes one send out of the queue, returning what it was (undefined if it was not queued). */
  take(id: string): SendParams | undefined {
    const row = this.sql.exec<{ params: string; device_id: string; recipient: string }>('DELETE FROM outbox WHERE id = ? RETURNING params, device_id, recipient', id).toArray()[0];
    if (!row) return undefined;
    this.refresh(row.device_id, row.recipient);
    return JSON.parse(row.params) as SendParams;
  }

  remove(id: string): boolean {
    return this.changed(this.sql.exec<Queue>('DELETE FROM outbox WHERE id = ? RETURNING device_id, recipient', id).toArray()[0]);
  }

  retryLater(id: string, at: number): number {
    const row = this.sql.exec<Queue & { attempts: number }>('UPDATE outbox SET attempts = attempts + 1, retry_at = ? WHERE id = ? RETURNING device_id, recipient, attempts', at, id).one();
    this.changed(row);
    return row.attempts;
  }

  reschedule(id: string, dueAt: number): boolean {
    return this.changed(this.sql.exec<Queue>('UPDATE outbox SET due_at = ?, retry_at = 0 WHERE id = ? RETURNING device_id, recipient', dueAt, id).toArray()[0]);
  }

  /** A device came (back) online: its waiting retries may go now. */
  retryNow(deviceId: string): boolean {
    const rows = this.sql.exec<Queue>('UPDATE outbox SET retry_at = 0 WHERE device_id = ? AND retry_at > 0 RETURNING device_id, recipient', deviceId).toArray();
    for (const recipient of new Set(rows.map((r) => r.recipient))) this.refresh(deviceId, recipient);
    return rows.length > 0;
  }

  get size(): number {
    return this.sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n;
  }

  private changed(queue: Queue | undefined): boolean {
    if (queue) this.refresh(queue.device_id, queue.recipient);
    return queue !== undefined;
  }

  /** After a change to a recipient's queue: its head, then its device's next go. */
  private refresh(deviceId: string, recipient: string): void {
    const head = this.sql
      .exec<{ seq: number; ready_at: number }>('SELECT seq, max(due_at, retry_at) AS ready_at FROM outbox WHERE device_id = ? AND recipient = ? ORDER BY due_at, seq LIMIT 1', deviceId, recipient)
      .toArray()[0];
    if (head) {
      this.sql.exec(
        `INSERT INTO outbox_heads (device_id, recipient, seq, ready_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (device_id, recipient) DO UPDATE SET seq = excluded.seq, ready_at = excluded.ready_at`,
        deviceId,
        recipient,
        head.seq,
        head.ready_at,
      );
    } else {
      this.sql.exec('DELETE FROM outbox_heads WHERE device_id = ? AND recipient = ?', deviceId, recipient);
    }
    this.refreshDevice(deviceId);
  }

  private refreshDevice(deviceId: string): void {
    const soonest = this.sql.exec<{ ready_at: number }>('SELECT ready_at FROM outbox_heads WHERE device_id = ? ORDER BY ready_at LIMIT 1', deviceId).toArray()[0];
    if (soonest) {
      this.sql.exec(
        `INSERT INTO outbox_devices (device_id, go_at) VALUES (?1, ?2)
         ON CONFLICT (device_id) DO UPDATE SET go_at = max(paced_until, ?2)`,
        deviceId,
        soonest.ready_at,
      );
    } else {
      // Nothing waits: the device's row goes, unless its pacing still holds back what comes next.
      this.sql.exec('DELETE FROM outbox_devices WHERE device_id = ? AND paced_until <= ?', deviceId, Date.now());
      this.sql.exec('UPDATE outbox_devices SET go_at = NULL WHERE device_id = ?', deviceId);
    }
  }
}

/** The queue a row belongs to. */
type Queue = { device_id: string; recipient: string };
