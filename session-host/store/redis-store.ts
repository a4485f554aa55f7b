// The Store on Redis, for hosts that set REDIS_URL. Every key lives under a namespace, so several
// hosts (or test runs) can share one Redis without seeing each other's keys.
import { Redis } from 'ioredis';
import type { Changes, Store } from './store.ts';

/** The store's backend cannot be reached (bad address, refused, timed out, wrong password). */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

const SCAN_COUNT = 1000;

export class RedisStore implements Store {
  readonly namespace: string;
  private readonly redis: Redis;
  private lastError: Error | undefined;

  /** Connects lazily; prefer `RedisStore.open`, which checks that Redis answers. */
  constructor(url: string, namespace = 'wa:') {
    this.namespace = namespace;
    this.redis = new Redis(url, { lazyConnect: true, connectTimeout: 3_000 });
    // Without a listener ioredis prints every reconnect failure (with its host) to stderr; a
    // command issued while Redis is down still rejects, so callers see the outage anyway.
    this.redis.on('error', (error: Error) => (this.lastError = error));
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
    return (await this.redis.get(this.namespace + key)) ?? undefined;
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (!keys.length) return [];
    const values = await this.redis.mget(keys.map((key) => this.namespace + key));
    return values.map((value) => value ?? undefined);
  }

  async write(changes: Changes): Promise<void> {
    const entries = Object.entries(changes);
    if (!entries.length) return;
    // A single SET or UNLINK is atomic by itself; skipping MULTI/EXEC saves work on the hot path
    // (Baileys stores one Signal session per message sent).
    if (entries.length === 1) {
      const [key, value] = entries[0]!;
      await (value === null ? this.redis.unlink(this.namespace + key) : this.redis.set(this.namespace + key, value));
      return;
    }
    const multi = this.redis.multi();
    for (const [key, value] of entries) {
      if (value === null) multi.unlink(this.namespace + key);
      else multi.set(this.namespace + key, value);
    }
    const results = await multi.exec();
    // exec() resolves null when the transaction was discarded, and reports errors per command.
    if (!results) throw new Error('Redis discarded the write transaction');
    for (const [error] of results) if (error) throw error;
  }

  async keys(prefix: string): Promise<string[]> {
    const found = new Set<string>();
    for await (const batch of this.scan(prefix)) for (const key of batch) found.add(key.slice(this.namespace.length));
    return [...found];
  }

  async deletePrefix(prefix: string): Promise<void> {
    for await (const batch of this.scan(prefix)) if (batch.length) await this.redis.unlink(...batch);
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /** Full Redis keys (namespace included) that start with the namespace and `prefix`, in batches. */
  private async *scan(prefix: string): AsyncGenerator<string[]> {
    const match = escapeGlob(this.namespace + prefix) + '*';
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
