// `Idempotency-Key` claims of this host's devices, kept in the HostLink's own storage so a keyed
// send is still one call with no D1 round trip. A claim is taken in the send call itself, before
// anything goes out; its `since` (the first try's time) seeds the request's message ids, so every
// try of one request sends under the same ids and the host's outbox answers a repeat with what
// really happened. A successful answer is kept afterwards and replayed for 24 hours.

export const CLAIM_TTL_MS = 24 * 60 * 60 * 1000;
/** Expired claims removed per new claim: enough to keep up, never a long statement. */
const SWEEP_LIMIT = 50;

export interface ClaimRequest {
  /** The caller, the route and the header's value. */
  key: string;
  /** The request body's hash: the same key with another body is another request. */
  fingerprint: string;
  /** The time this try would seed its ids from, if it is the first. */
  since: number;
}

/**
 * - `run`: go on, under the ids `since` seeds.
 * - `rerun`: an earlier try holds the claim: its ids are seeded from `since` instead.
 * - `replay`: the request already succeeded; this was its answer.
 * - `conflict`: the key was used for a different body.
 */
export type ClaimOutcome = { claim: 'run' } | { claim: 'rerun'; since: number } | { claim: 'replay'; status: number; body: string } | { claim: 'conflict' };

export class Claims {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    // status 0: claimed, no successful answer yet.
    sql.exec(`CREATE TABLE IF NOT EXISTS idempotency (
      key TEXT PRIMARY KEY,
      fingerprint TEXT NOT NULL,
      since INTEGER NOT NULL,
      status INTEGER NOT NULL DEFAULT 0,
      body TEXT NOT NULL DEFAULT ''
    )`);
    // The sweep walks expired claims oldest first.
    sql.exec('CREATE INDEX IF NOT EXISTS idempotency_since ON idempotency (since)');
  }

  claim(request: ClaimRequest, now = Date.now()): ClaimOutcome {
    const expired = now - CLAIM_TTL_MS;
    this.sql.exec('DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE since < ? ORDER BY since LIMIT ?)', expired, SWEEP_LIMIT);
    const [held] = this.sql
      .exec<{ fingerprint: string; since: number; status: number; body: string }>('SELECT fingerprint, since, status, body FROM idempotency WHERE key = ? AND since >= ?', request.key, expired)
      .toArray();
    if (!held) {
      this.sql.exec('INSERT OR REPLACE INTO idempotency (key, fingerprint, since) VALUES (?, ?, ?)', request.key, request.fingerprint, request.since);
      return { claim: 'run' };
    }
    if (held.fingerprint !== request.fingerprint) return { claim: 'conflict' };
    if (held.status > 0) return { claim: 'replay', status: held.status, body: held.body };
    return held.since === request.since ? { claim: 'run' } : { claim: 'rerun', since: held.since };
  }

  /** The successful answer of the request that holds `key` from `since`, to replay. */
  keep(key: string, since: number, status: number, body: string): void {
    this.sql.exec('UPDATE idempotency SET status = ?, body = ? WHERE key = ? AND since = ?', status, body, key, since);
  }

  /** Claims kept, expired ones not swept yet included (for tests and status pages). */
  get size(): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM idempotency').one().n;
  }
}
