// Both real stores for tests that run on each: the file store in a temporary folder and Redis on
// 127.0.0.1 under a namespace of its own, each with the cleanup that removes what the test wrote.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type StoreConfig } from '../../session-host/store/index.ts';

export type StoreBackend = [name: string, open: () => Promise<{ config: StoreConfig; cleanup: () => Promise<void> }>];

/** `label` names the temporary folder and the Redis namespace; `fileConfig` adds to the file store's settings. */
export function storeBackends(label: string, fileConfig: Partial<StoreConfig> = {}): StoreBackend[] {
  return [
    [
      'file',
      async () => {
        const dataDir = await mkdtemp(join(tmpdir(), `wa-${label}-`));
        return { config: { ...fileConfig, dataDir }, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
      },
    ],
    [
      'redis',
      async () => {
        const config = { redisUrl: 'redis://127.0.0.1:6379', dataDir: '', namespace: `test:${label}:${randomUUID()}:` };
        return {
          config,
          cleanup: async () => {
            const store = await openStore(config);
            await store.deletePrefix('');
            await store.close();
          },
        };
      },
    ],
  ];
}
