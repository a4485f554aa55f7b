// The session host's persistence: a small key-value interface with two backends, Redis (when
// REDIS_URL is set) and files under DATA_DIR (the default). Auth state, device settings, the
// webhook queue and the per-send records all live behind it, so both backends behave alike.

/** Values are strings (JSON, usually); a `null` in a write deletes the key. */
export type Changes = Record<string, string | null>;

export interface WriteOptions {
  /**
   * Keys of this write that expire, with when (ms since the epoch). Such a key is there until its
   * expiry and gone at most `expiryResolutionMs` after it (Redis: at once; files: at the next
   * sweep), with no scan of the other keys. A key written with an expiry must be written with
   * one each time: rewritten, it lives until the new expiry.
   */
  expiresAt?: Record<string, number>;
}

export interface Store {
  get(key: string): Promise<string | undefined>;
  /** Values in the order of `keys`; `undefined` where a key is absent. */
  getMany(keys: readonly string[]): Promise<(string | undefined)[]>;
  /**
   * Applies every change. Each key's write is atomic: a reader (or a process killed mid-write)
   * sees the old value or the new one, never a torn one. Redis applies the whole batch at once.
   */
  write(changes: Changes, options?: WriteOptions): Promise<void>;
  /** Every key that starts with `prefix`, in no particular order. */
  keys(prefix: string): Promise<string[]>;
  /** Deletes every key that starts with `prefix`. */
  deletePrefix(prefix: string): Promise<void>;
  close(): Promise<void>;
  /**
   * False while the backend is known to be unreachable (Redis disconnected or not answering), so
   * callers can fail at once instead of waiting for a timeout. True again once it answers.
   */
  readonly reachable: boolean;
  /** Calls `listener` each time the backend is reachable again after an outage (Redis only). */
  onReconnect?(listener: () => void): void;
}

/** The store's backend cannot be reached (bad address, refused, timed out, wrong password). */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}
