// The Store on Redis, for hosts that set REDIS_URL. Every key lives under a namespace, so several
// hosts (or test runs) can share one Redis without seeing each other's keys.
//
// During an outage nothing waits: a command issued while Redis is disconnected fails at once
// (no offline queue), one sent to a Redis that stopped answering gives up after
// COMMAND_TIMEOUT_MS, and either way the caller gets a StoreUnavailableError. Reconnecting goes
// on in the background for ever, at most RECONNECT_MAX_MS apart, so the host recovers by itself.
//
// Expiring keys are Redis' own: SET … PXAT, which Redis deletes by itself (lazily on access and
// by its active expiry cycle, which samples keys that have a TTL), so expiry costs nothing here.
import { Redis, ReplyError } from 'ioredis';
import { StoreUnavailableError, type Changes, type Store, type WriteOptions } from './store.ts';

export { StoreUnavailableError };

const SCAN_COUNT = 1000;
const COMMAND_TIMEOUT_MS = 1_500;
const RECONNECT_MAX_MS = 2_000;
/** Replies meaning Redis is there but cannot serve now; any other reply error is a bug here. */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|OOM|MISCONF|MASTERDOWN|BUSY|NOAUTH|WRONGPASS|NOPERM|CLUSTERDOWN|TRYAGAIN)\b/;

export class RedisStore implements Store {
  readonly namespace: string;
  private readonly redis: Redis;
  private lastError: Error | undefined;
  /** Set when a command timed out on an open connection (a paused or stuck Redis). */
  private stalled = false;

  /** Does not connect; use `RedisStore.open`, which connects and checks that Redis answers. */
  constructor(url: string, namespace = 'wa:') {
    this.namespace = namespace;
    this.redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 2_000,
      enableOfflineQueue: false,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // Commands in flight when the connection drops fail rather than being replayed later, when
      // newer writes to the same keys may have been made in the meantime.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, RECONNECT_MAX_MS),
    });
    // Without a listener ioredis prints every reconnect failure (with its host) to stderr; a
    // command issued while Redis is down still rejects, so callers see the outage anyway.
    this.redis.on('error', (error: Error) => (this.lastError = error));
    this.redis.on('ready', () => (this.stalled = false));
  }

  get reachable(): boolean {
    return this.redis.status === 'ready' && !this.stalled;
  }

  onReconnect(listener: () => void): void {
    this.redis.on('ready', listener);
  }

  /** Connects and pings, so a wrong REDIS_URL stops the host at start instead of at first use. */
  static async open(url: string, namespace?: string): Promise<RedisStore> {
    let store: RedisStore;
    try {
      store = new RedisStore(url, namespace);
    } catch (error) {
      throw new StoreUnavailableError(`the Redis URL is not valid (${(error as Error).message})`);
    }
    try {
      await store.redis.connect();
      await store.redis.ping();
      return store;
    } catch (error) {
      store.redis.disconnect();
      // `connect()` rejects with a bare "Connection is closed."; the 'error' event has the reason.
      const reason = store.lastError?.message ?? (error as Error).message;
      throw new StoreUnavailableError(`could not connect to Redis at ${redactUrl(url)}: ${reason}`);
    }
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.guard(() => this.redis.get(this.namespace + key))) ?? undefined;
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (!keys.length) return [];
    const values = await this.guard(() => this.redis.mget(keys.map((key) => this.namespace + key)));
    return values.map((value) => value ?? undefined);
  }

  write(changes: Changes, options?: WriteOptions): Promise<void> {
    return this.guard(() => this.writeNow(changes, options?.expiresAt));
  }

  private async writeNow(changes: Changes, expiresAt: Record<string, number> | undefined): Promise<void> {
    const entries = Object.entries(changes);
    if (!entries.length) return;
    // A single SET or UNLINK is atomic by itself; skipping MULTI/EXEC saves work on the hot path
    // (Baileys stores one Signal session per message sent).
    if (entries.length === 1) {
      const [key, value] = entries[0]!;
      const at = expiresAt?.[key];
      if (value === null) await this.redis.unlink(this.namespace + key);
      else if (at === undefined) await this.redis.set(this.namespace + key, value);
      else await this.redis.set(this.namespace + key, value, 'PXAT', Math.ceil(at));
      return;
    }
    const multi = this.redis.multi();
    for (const [key, value] of entries) {
      const at = expiresAt?.[key];
      if (value === null) multi.unlink(this.namespace + key);
      else if (at === undefined) multi.set(this.namespace + key, value);
      else multi.set(this.namespace + key, value, 'PXAT', Math.ceil(at));
    }
    const results = await multi.exec();
    // exec() resolves null when the transaction was discarded, and reports errors per command.
    if (!results) throw new Error('Redis discarded the write transaction');
    for (const [error] of results) if (error) throw error;
  }

  keys(prefix: string): Promise<string[]> {
    return this.guard(async () => {
      const found = new Set<string>();
      for await (const batch of this.scan(prefix)) for (const key of batch) found.add(key.slice(this.namespace.length));
      return [...found];
    });
  }

  deletePrefix(prefix: string): Promise<void> {
    return this.guard(async () => {
      for await (const batch of this.scan(prefix)) if (batch.length) await this.redis.unlink(...batch);
    });
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /** Runs Redis commands; an outage comes out as a StoreUnavailableError, quickly. */
  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    if (this.redis.status !== 'ready') throw new StoreUnavailableError(`Redis is unavailable (${this.lastError?.message ?? `connection ${this.redis.status}`})`);
    try {
      const result = await operation();
      this.stalled = false;
      return result;
    } catch (error) {
      if (error instanceof ReplyError && !UNAVAILABLE_REPLY.test((error as Error).message)) throw error;
      if ((error as Error).message === 'Command timed out') this.stalled = true;
      throw new StoreUnavailableError(`Redis is unavailable (${(error as Error).message})`);
    }
  }

  /** Full Redis keys (namespace included) that start with the namespace and `prefix`, in batches. */
  private async *scan(prefix: string): AsyncGenerator<string[]> {
    const match = `${escapeGlob(this.namespace + prefix)}*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next;
      yield keys;
    } while (cursor !== '0');
  }
}

/** Escapes the characters Redis' glob matching treats specially, so a prefix matches literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The URL as it can be shown in logs and errors: any password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    // ioredis also takes options from the query string, a password among them.
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return '(an unparseable URL)';
  }
}
