// The message log's writes for this host's sends, kept in the HostLink's own storage first and
// copied into D1 after the answer: a send's answer never waits for D1, which on Cloudflare has one
// primary location, possibly a world away. Every write of a log row by this host goes through
// here, in order, so D1 sees them as they happened; a receipt applied in D1 waits for `flush()`
// first, so it always finds its row.
//
// Each row waits as one entry, later writes merged into it, until a pass has copied it into D1;
// the entry survives the object's restarts, and a pass that fails leaves it for the next one.
import type { MessageType } from '../db/schema.ts';

/** A new row of the log, as the send path knows it. Times are unix ms. */
export interface NewLogRow {
  deviceId: string;
  to: string;
  type: MessageType;
  preview: string | null;
  createdAt: number;
  /** The broadcast this row is one recipient's copy of. */
  broadcastId?: string;
}

/** What changes on a row as its send goes on. */
export interface LogChange {
  status?: 'queued' | 'sent' | 'failed';
  waMessageId?: string;
  error?: string | null;
  scheduledAt?: number | null;
  attempts?: number;
  sentAt?: number;
  failedAt?: number | null;
}

/** A receipt from the recipient: it moves a row forward (never back), whatever else waits for it. */
interface Receipt {
  receipt?: 'delivered' | 'read';
  deliveredAt?: number;
  readAt?: number;
}

type Entry = Partial<NewLogRow> & LogChange & Receipt;
interface Pending {
  entry: Entry;
  isNew: boolean;
  version: number;
}

// Columns of `messages`, by the field that fills them.
const INSERTED = { deviceId: 'device_id', to: '"to"', type: 'type', preview: 'preview', createdAt: 'created_at', broadcastId: 'broadcast_id' } as const;
const CHANGED = { status: 'status', error: 'error', scheduledAt: 'scheduled_at', attempts: 'attempts', failedAt: 'failed_at' } as const;
// A send's outcome is true whatever a receipt has done to the row meanwhile.
const ALWAYS = { waMessageId: 'wa_message_id', sentAt: 'sent_at' } as const;
const RECEIVED = { deliveredAt: 'delivered_at', readAt: 'read_at' } as const;
// A change moves a row only while it has not gone out: a receipt (delivered, read) is never undone.
const OPEN = "messages.status IN ('queued', 'failed')";
/** How far along a status is, in SQL: a receipt applies only past where the row is. */
const rank = (status: string) => `(CASE ${status} WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END)`;
const RANK = { delivered: 2, read: 3 } as const;

/** Entries per D1 batch (each statement binds at most 15 values, under D1's 100). */
const PER_BATCH = 50;

export class MessageLog {
  private readonly sql: SqlStorage;
  private readonly d1: D1Database;
  private readonly log: string;
  /** Orders the entries' writes; an entry is copied as of its latest. */
  private version: number;
  /** The passes, one after another. */
  private passes: Promise<void> = Promise.resolve();
  /** A pass asked for and not started yet: it will take everything written before it starts. */
  private waiting?: Promise<void>;
  /** The table's entries, in the order of their latest write (a Map keeps insertion order), read without a query. */
  private readonly pending = new Map<string, Pending>();

  constructor(sql: SqlStorage, d1: D1Database, log: string) {
    this.sql = sql;
    this.d1 = d1;
    this.log = log;
    sql.exec(`CREATE TABLE IF NOT EXISTS log_pending (
      id TEXT PRIMARY KEY,
      entry TEXT NOT NULL,
      is_new INTEGER NOT NULL,
      version INTEGER NOT NULL
    )`);
    for (const row of sql.exec<{ id: string; entry: string; is_new: number; version: number }>('SELECT id, entry, is_new, version FROM log_pending ORDER BY version')) {
      this.pending.set(row.id, { entry: JSON.parse(row.entry) as Entry, isNew: row.is_new === 1, version: row.version });
    }
    this.version = Math.max(0, ...[...this.pending.values()].map((p) => p.version));
  }

  /** Entries not in D1 yet. */
  get size(): number {
    return this.pending.size;
  }

  /** A new row; if D1 has it already (a retry under an Idempotency-Key), `change` applies to it. */
  insert(id: string, row: NewLogRow, change: LogChange): void {
    const { deviceId, to, type, preview, createdAt, broadcastId } = row;
    this.write(id, { deviceId, to, type, preview, createdAt, broadcastId, ...change }, true);
  }

  /**
   * With `deviceId` (a change the host reported), it applies only to a row of that device. Check
   * `mayReport` first: a waiting entry is one row's, with one device.
   */
  change(id: string, change: LogChange, deviceId?: string): void {
    this.write(id, deviceId === undefined ? change : { ...change, deviceId }, false);
  }

  /**
   * Whether a report of `deviceId` can join what waits for row `id`: 'yes'; 'no' (the row is
   * another device's); or 'after-flush' (another device's report waits for it: once that is copied).
   */
  mayReport(id: string, deviceId: string): 'yes' | 'no' | 'after-flush' {
    const pending = this.pending.get(id);
    if (pending?.entry.deviceId === undefined || pending.entry.deviceId === deviceId) return 'yes';
    return pending.isNew ? 'no' : 'after-flush';
  }

  /** A delivered or read receipt the host reported for a message of `deviceId` (check `mayReport` first). */
  receipt(id: string, deviceId: string, status: 'delivered' | 'read', at: number): void {
    const before = this.pending.get(id)?.entry;
    const furthest = before?.receipt && RANK[before.receipt] > RANK[status] ? before.receipt : status;
    this.write(id, { deviceId, receipt: furthest, ...(status === 'delivered' ? { deliveredAt: before?.deliveredAt ?? at } : { readAt: before?.readAt ?? at }) }, false);
  }

  private write(id: string, entry: Entry, isNew: boolean): void {
    const before = this.pending.get(id);
    // Already waiting as it is (the host's ack event and the send's answer say the same): no write.
    if (before && (before.isNew || !isNew) && Object.entries(entry).every(([field, value]) => before.entry[field as keyof Entry] === value)) return;
    const next: Pending = { entry: before ? { ...before.entry, ...entry } : entry, isNew: isNew || !!before?.isNew, version: ++this.version };
    this.sql.exec('INSERT OR REPLACE INTO log_pending (id, entry, is_new, version) VALUES (?, ?, ?, ?)', id, JSON.stringify(next.entry), next.isNew ? 1 : 0, next.version);
    this.pending.delete(id);
    this.pending.set(id, next);
  }

  /** Resolves once every entry written before the call is in D1 (rejects if D1 failed). */
  flush(): Promise<void> {
    if (this.waiting) return this.waiting;
    const pass = this.passes.then(() => {
      this.waiting = undefined;
      return this.copy(this.version);
    });
    this.waiting = pass;
    this.passes = pass.catch((error) => console.error(`${this.log}: message log not written to D1 yet:`, error));
    return pass;
  }

  private async copy(upTo: number): Promise<void> {
    for (;;) {
      const rows: ({ id: string } & Pending)[] = [];
      for (const [id, entry] of this.pending) {
        if (entry.version > upTo || rows.length === PER_BATCH) break;
        rows.push({ id, ...entry });
      }
      if (!rows.length) return;
      const statements = rows.map((row) => this.statement(row.id, row.entry, row.isNew));
      const done = await this.d1.batch(statements).then(
        () => rows,
        () => this.oneByOne(rows, statements),
      );
      // Written again meanwhile: that newer version is left for the next pass.
      const copied = done.filter((row) => this.pending.get(row.id)?.version === row.version).map((row) => row.id);
      for (const id of copied) this.pending.delete(id);
      if (copied.length) this.sql.exec(`DELETE FROM log_pending WHERE id IN (${copied.map(() => '?').join(', ')})`, ...copied);
    }
  }

  /**
   * After a batch failed: each entry alone. If all fail, D1 is down and they all wait for the
   * next pass; an entry D1 refuses while others go through never will go (its device was
   * deleted, say), so it is dropped rather than holding up the log.
   */
  private async oneByOne<R extends { id: string }>(rows: R[], statements: D1PreparedStatement[]): Promise<R[]> {
    const results = await Promise.allSettled(statements.map((statement) => statement.run()));
    const refused = results.flatMap((result, i) => (result.status === 'rejected' ? [{ row: rows[i]!, reason: result.reason as unknown }] : []));
    if (refused.length === rows.length) throw refused[0]!.reason;
    for (const { row, reason } of refused) console.error(`${this.log}: message ${row.id} dropped from the log, D1 refused it:`, reason);
    return rows;
  }

  /** A deleted device's rows not in D1 yet: they never will be (D1 removed its log). */
  forgetDevice(deviceId: string): void {
    for (const [id, { entry, isNew }] of this.pending) {
      if (!isNew || entry.deviceId !== deviceId) continue;
      this.pending.delete(id);
      this.sql.exec('DELETE FROM log_pending WHERE id = ?', id);
    }
  }

  private statement(id: string, entry: Entry, isNew: boolean): D1PreparedStatement {
    const has = (field: string) => field in entry && (entry as Record<string, unknown>)[field] !== undefined;
    const value = (field: string) => (entry as Record<string, unknown>)[field] ?? null;
    // Each column the entry sets: its value, and how a row already there takes it (`$` is the value).
    const sets: { column: string; value: unknown; update: string }[] = [];
    for (const [field, column] of Object.entries(CHANGED)) {
      if (!has(field) || (field === 'status' && entry.receipt)) continue;
      sets.push({ column, value: value(field), update: `CASE WHEN ${OPEN} THEN $ ELSE messages.${column} END` });
    }
    if (entry.receipt) sets.push({ column: 'status', value: entry.receipt, update: `CASE WHEN ${rank('messages.status')} < ${rank('$')} THEN $ ELSE messages.status END` });
    for (const [field, column] of Object.entries(ALWAYS)) if (has(field)) sets.push({ column, value: value(field), update: '$' });
    for (const [field, column] of Object.entries(RECEIVED)) if (has(field)) sets.push({ column, value: value(field), update: `COALESCE(messages.${column}, $)` });
    sets.push({ column: 'updated_at', value: Date.now(), update: '$' });

    if (isNew) {
      const columns = [...Object.values(INSERTED), ...sets.map((set) => set.column), 'id'];
      const values = [...Object.keys(INSERTED).map(value), ...sets.map((set) => set.value), id];
      const updates = sets.map((set) => `${set.column} = ${set.update.replaceAll('$', `excluded.${set.column}`)}`);
      return this.d1.prepare(`INSERT INTO messages (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (id) DO UPDATE SET ${updates.join(', ')}`).bind(...values);
    }
    const updates = sets.map((set) => `${set.column} = ${set.update.replaceAll('$', '?')}`);
    const values = sets.flatMap((set) => Array.from({ length: set.update.split('$').length - 1 }, () => set.value));
    // A change the host reported names its device: another device's row is left alone.
    if (entry.deviceId === undefined) return this.d1.prepare(`UPDATE messages SET ${updates.join(', ')} WHERE id = ?`).bind(...values, id);
    return this.d1.prepare(`UPDATE messages SET ${updates.join(', ')} WHERE id = ? AND device_id = ?`).bind(...values, id, entry.deviceId);
  }
}
