// Picks the host's store: Redis when REDIS_URL is set, files under DATA_DIR otherwise.
import { join } from 'node:path';
import { FileStore } from './file-store.ts';
import { RedisStore } from './redis-store.ts';
import type { Store } from './store.ts';

export { StoreUnavailableError, type Changes, type Store, type WriteOptions } from './store.ts';
export { FileStore, type FileStoreOptions } from './file-store.ts';
export { RedisStore, redactUrl } from './redis-store.ts';
export { clearAuthState, hasCreds, useStoreAuthState, type StoreAuthOptions, type StoreAuthState } from './auth-state.ts';

export interface StoreConfig {
  redisUrl?: string;
  dataDir: string;
  /** Redis key namespace (default `wa:`); ignored by the file store. */
  namespace?: string;
  /** How late past its expiry a key may still be there (the file store's sweep interval); Redis is exact. */
  expiryResolutionMs?: number;
}

export function openStore(config: StoreConfig): Promise<Store> {
  return config.redisUrl ? RedisStore.open(config.redisUrl, config.namespace) : FileStore.open(join(config.dataDir, 'store'), { privateParents: 1, expiryResolutionMs: config.expiryResolutionMs });
}
