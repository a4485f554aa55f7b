// One suite for both Store backends, against a real Redis and real files: what the session host
// relies on (exact prefixes, atomic values, last write wins, data surviving a reopen), plus what
// only the file store has to prove (a SIGKILLed writer never leaves a torn value or a visible
// temp file) and what only Redis has to prove (namespaces, failing fast, keeping passwords out).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../session-host/store/file-store.ts';
import { openStore, RedisStore, StoreUnavailableError, type Store } from '../../session-host/store/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Backend {
  name: string;
  /** Sets up empty storage; `open` may be called many times over the same data. */
  create(): Promise<{ open(): Promise<Store>; destroy(): Promise<void>; dir?: string }>;
}

/** The file store's sweep interval here: expired keys are gone this long after their expiry at most. */
const RESOLUTION_MS = 100;

const backends: Backend[] = [
  {
    name: 'FileStore',
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'wa-store-'));
      return { open: () => FileStore.open(dir, { expiryResolutionMs: RESOLUTION_MS }), destroy: () => rm(dir, { recursive: true, force: true }), dir };
    },
  },
  {
    name: 'RedisStore',
    async create() {
      // Glob characters in the namespace too: they must be matched literally.
      const namespace = `test:${randomBytes(6).toString('hex')}:[*?]:`;
      const open = () => RedisStore.open(REDIS_URL, namespace);
      return {
        open,
        async destroy() {
          const store = await open();
          await store.deletePrefix('');
          expect(await store.keys('')).toEqual([]);
          await store.close();
        },
      };
    },
  },
];

const sorted = (keys: string[]) => [...keys].sort();

/** Every file under `dir`, the file store's whole footprint (index files included). */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe.each(backends)('$name', (backend) => {
  let storage: Awaited<ReturnType<Backend['create']>>;
  let store: Store;
  beforeEach(async () => {
    storage = await backend.create();
    store = await storage.open();
  });
  afterEach(async () => {
    await store.close();
    await storage.destroy();
  });

  it('gets, gets many in order, writes, and deletes with null', async () => {
    expect(await store.get('a')).toBeUndefined();
    await store.write({ a: '1', 'b:c': '2', e: '' });
    expect(await store.get('a')).toBe('1');
    expect(await store.get('e')).toBe('');
    expect(await store.getMany(['b:c', 'missing', 'a', 'e'])).toEqual(['2', undefined, '1', '']);
    expect(await store.getMany([])).toEqual([]);
    await store.write({ a: null, 'b:c': '3', never: null });
    expect(await store.getMany(['a', 'b:c', 'never'])).toEqual([undefined, '3', undefined]);
    await store.write({});
    expect(sorted(await store.keys(''))).toEqual(['b:c', 'e']);
  });

  it('lists exactly the keys under a prefix', async () => {
    const dev1 = ['auth:dev1:creds', 'auth:dev1:session:1555.0', 'auth:dev1:pre-key:7', 'auth:dev1:a:b:c:d:e'];
    const others = ['auth:dev10:creds', 'auth:dev10:session:1555.0', 'auth:dev1', 'auth:dev2:creds', 'authx:dev1:creds', 'device:dev1:settings', 'auth'];
    await store.write(Object.fromEntries([...dev1, ...others].map((key) => [key, key])));
    expect(sorted(await store.keys('auth:dev1:'))).toEqual(sorted(dev1));
    expect(sorted(await store.keys('auth:dev1'))).toEqual(sorted([...dev1, 'auth:dev10:creds', 'auth:dev10:session:1555.0', 'auth:dev1']));
    expect(await store.keys('auth:dev1:sess')).toEqual(['auth:dev1:session:1555.0']);
    expect(await store.keys('auth:dev1:a:b:c:')).toEqual(['auth:dev1:a:b:c:d:e']);
    expect(await store.keys('auth:dev3:')).toEqual([]);
    expect(sorted(await store.keys(''))).toEqual(sorted([...dev1, ...others]));
  });

  it('deletes exactly the keys under a prefix', async () => {
    const keys = ['auth:dev1:creds', 'auth:dev1:session:1', 'auth:dev1:x:y:z:w', 'auth:dev10:creds', 'auth:dev10:session:1', 'auth:dev1', 'other'];
    await store.write(Object.fromEntries(keys.map((key) => [key, 'v'])));
    await store.deletePrefix('auth:dev1:');
    expect(sorted(await store.keys(''))).toEqual(['auth:dev1', 'auth:dev10:creds', 'auth:dev10:session:1', 'other']);
    expect(await store.get('auth:dev1:creds')).toBeUndefined();
    await store.deletePrefix('auth:dev10:sess');
    expect(sorted(await store.keys(''))).toEqual(['auth:dev1', 'auth:dev10:creds', 'other']);
    await store.deletePrefix('nothing:here:');
    // A deleted prefix can be written again.
    await store.write({ 'auth:dev1:creds': 'again' });
    expect(await store.get('auth:dev1:creds')).toBe('again');
  });

  it('keeps unicode and 1 MB values exactly', async () => {
    const unicode = 'Halo ✅ 你好 مرحبا 👩‍👩‍👧 \u0000 "quoted" \\ \n\t end';
    const big = randomBytes(768 * 1024).toString('base64'); // 1 MiB of text
    await store.write({ unicode, big: big });
    expect(await store.get('unicode')).toBe(unicode);
    expect(await store.get('big')).toBe(big);
    expect(big.length).toBe(1024 * 1024);
  });

  it('takes any characters in keys, and matches prefixes literally', async () => {
    const odd = [
      'odd:with/slash',
      'odd:back\\slash',
      'odd:..',
      'odd:.',
      'odd:',
      'odd::double',
      'odd:trailing:',
      'odd:star*',
      'odd:q?',
      'odd:[ab]',
      'odd:a',
      'odd:b',
      'odd:space here',
      'odd:100%',
      'odd:%41',
      'odd:A',
      'odd:Case',
      'odd:case',
      'odd:emoji 👋',
      'odd:new\nline',
      'odd:nul\u0000',
      'odd:café',
      'odd:cafe\u0301',
      'odd:\u00a0',
      'odd:x.tmp',
      'odd:x.d',
      'odd:x.v',
      '120363@g.us::1555@lid::3',
    ];
    await store.write(Object.fromEntries(odd.map((key, i) => [key, `value ${i}`])));
    for (const [i, key] of odd.entries()) expect(await store.get(key), key).toBe(`value ${i}`);
    expect(sorted(await store.keys(''))).toEqual(sorted(odd));
    expect(await store.keys('odd:star*')).toEqual(['odd:star*']);
    expect(await store.keys('odd:[ab]')).toEqual(['odd:[ab]']);
    expect(await store.keys('odd:q?')).toEqual(['odd:q?']);
    expect(await store.keys('odd:*')).toEqual([]);
    expect(sorted(await store.keys('odd:cas'))).toEqual(['odd:case']);
    await store.deletePrefix('odd:[');
    expect(await store.get('odd:[ab]')).toBeUndefined();
    expect(await store.get('odd:a')).toBe(`value ${odd.indexOf('odd:a')}`);
  });

  it('lets the last of many concurrent writes to a key win, and never shows a torn value', async () => {
    const values = Array.from({ length: 40 }, (_, i) => `${i}:`.padEnd(64 * 1024, String.fromCharCode(97 + (i % 26))));
    const reads: Promise<string | undefined>[] = [];
    const writes = values.map((value, i) => {
      reads.push(store.get('hot'));
      return store.write({ hot: value, [`side:${i}`]: 'x' });
    });
    await Promise.all(writes);
    for (const read of await Promise.all(reads)) if (read !== undefined) expect(values).toContain(read);
    expect(await store.get('hot')).toBe(values.at(-1));
    // A delete queued after the writes wins over them too.
    await Promise.all([store.write({ hot: 'one more' }), store.write({ hot: null })]);
    expect(await store.get('hot')).toBeUndefined();
  });

  it('keeps expiring keys until their expiry, then drops them by itself; plain keys stay', async () => {
    await store.write({ plain: 'kept' });
    const before = storage.dir ? await filesUnder(storage.dir) : [];
    const soon = Date.now() + 600;
    const records = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`recent:dev1:m${i}`, `message ${i}`]));
    await store.write({ ...records, 'device:dev1:sent': '50' }, { expiresAt: Object.fromEntries(Object.keys(records).map((key) => [key, soon])) });
    // Rewritten with a later expiry: it outlives the first one.
    await store.write({ 'outbox:dev1:o1': 'claim' }, { expiresAt: { 'outbox:dev1:o1': soon } });
    await store.write({ 'outbox:dev1:o1': 'result' }, { expiresAt: { 'outbox:dev1:o1': soon + 1_500 } });
    expect(await store.get('recent:dev1:m49')).toBe('message 49');
    expect(await store.keys('recent:dev1:')).toHaveLength(50);

    await expect.poll(() => store.keys('recent:'), { timeout: 5_000, interval: 50 }).toEqual([]);
    expect(Date.now()).toBeGreaterThanOrEqual(soon);
    expect(await store.get('outbox:dev1:o1')).toBe('result');
    expect(await store.get('device:dev1:sent')).toBe('50');
    await expect.poll(() => store.get('outbox:dev1:o1'), { timeout: 5_000, interval: 50 }).toBeUndefined();
    expect(Date.now()).toBeGreaterThanOrEqual(soon + 1_500);
    expect(sorted(await store.keys(''))).toEqual(['device:dev1:sent', 'plain']);
    // Nothing of the expired keys is left behind: no value files, no index files.
    if (storage.dir) expect((await filesUnder(storage.dir)).length).toBe(before.length + 1);
  });

  it('deletes expiring keys with a prefix before they expire, and the sweep then finds nothing to do', async () => {
    await store.write({ 'recent:dev2:a': 'x', 'recent:dev3:b': 'y' }, { expiresAt: { 'recent:dev2:a': Date.now() + 300, 'recent:dev3:b': Date.now() + 300 } });
    await store.deletePrefix('recent:dev2:');
    expect(await store.keys('recent:')).toEqual(['recent:dev3:b']);
    await expect.poll(() => store.keys('recent:'), { timeout: 5_000, interval: 50 }).toEqual([]);
    if (storage.dir) expect(await filesUnder(storage.dir)).toEqual([]);
  });

  it('shows a new instance over the same storage what the old one wrote', async () => {
    await store.write({ 'auth:dev1:creds': '{"me":1}', 'auth:dev1:session:a': 's', gone: 'x' });
    await store.write({ gone: null });
    await store.close();
    store = await storage.open();
    expect(await store.getMany(['auth:dev1:creds', 'auth:dev1:session:a', 'gone'])).toEqual(['{"me":1}', 's', undefined]);
    expect(sorted(await store.keys('auth:'))).toEqual(['auth:dev1:creds', 'auth:dev1:session:a']);
  });
});

describe('FileStore under crashes', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wa-store-kill-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** A node process writing big self-describing values in a loop until it is killed. */
  const writer = (id: number) => {
    const code = `
      const { FileStore } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../session-host/store/file-store.ts')).href)});
      const store = await FileStore.open(${JSON.stringify(dir)});
      for (let i = 0; ; i++) {
        const size = 100_000 + ((i * 7919) % 900_000);
        const value = JSON.stringify({ writer: ${id}, i, size, fill: 'x'.repeat(size) });
        await store.write({ 'shared:hot': value, 'own:${id}': value, ['spread:' + (i % 5)]: value });
        if (i === 2) process.stdout.write('writing\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const writing = new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`writer ${id} exited with ${code} before writing`)));
    });
    return { child, writing };
  };

  const tempFiles = async () => (await readdir(dir, { recursive: true })).filter((name) => name.endsWith('.tmp'));

  const validKey = /^(shared:hot|own:\d+|spread:\d)$/;
  const expectComplete = (key: string, text: string | undefined) => {
    if (text === undefined) return;
    const value = JSON.parse(text) as { size: number; fill: string };
    expect(value.fill.length, key).toBe(value.size);
  };

  it('never leaves a torn value, nor a temp file that looks like a key, when writers are SIGKILLed', async () => {
    let leftovers = 0;
    for (let round = 0; round < 4; round++) {
      const writers = [0, 1, 2].map((id) => writer(round * 3 + id));
      await Promise.all(writers.map((w) => w.writing));
      // Meanwhile, another process (this one) reads: it never sees a temp file or half a value.
      const reader = await FileStore.open(dir);
      const until = Date.now() + 30 + Math.random() * 120;
      while (Date.now() < until) {
        const keys = await reader.keys('');
        expect(keys.filter((key) => !validKey.test(key))).toEqual([]);
        for (const key of keys) expectComplete(key, await reader.get(key));
        await new Promise(setImmediate);
      }
      await Promise.all(
        writers.map(({ child }) => {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          return exited;
        }),
      );
      const store = await FileStore.open(dir);
      const keys = await store.keys('');
      expect(keys.filter((key) => !validKey.test(key))).toEqual([]);
      expect(keys).toContain('shared:hot');
      for (const key of keys) {
        const text = await store.get(key);
        expect(text, key).toBeDefined();
        expectComplete(key, text);
      }
      leftovers += (await tempFiles()).length;
    }
    // Kills landing mid-write leave temp files behind: proof the test hit the window it is about.
    expect(leftovers).toBeGreaterThan(0);
  });

  it('still has the old value when a writer died between moving it aside and moving the new one in', async () => {
    const store = await FileStore.open(dir);
    await store.write({ 'auth:dev1:creds': 'old', 'auth:dev1:other': 'x' });
    // What a process killed mid-replacement leaves: the old value aside, the new one in a temp file.
    const files = join(dir, 'auth.d', 'dev1.d');
    renameSync(join(files, 'creds.v'), join(files, 'creds.o'));
    writeFileSync(join(files, 'creds.0a1b2c3d-7.tmp'), 'new');
    const reopened = await FileStore.open(dir);
    expect(await reopened.get('auth:dev1:creds')).toBe('old');
    expect(sorted(await reopened.keys('auth:dev1:'))).toEqual(['auth:dev1:creds', 'auth:dev1:other']);
    await reopened.write({ 'auth:dev1:creds': 'newer' });
    expect(await reopened.get('auth:dev1:creds')).toBe('newer');
    expect((await readdir(files)).filter((name) => name.startsWith('creds.') && !name.endsWith('.tmp'))).toEqual(['creds.v']);
    await reopened.write({ 'auth:dev1:creds': null });
    renameSync(join(files, 'other.v'), join(files, 'other.o'));
    await reopened.deletePrefix('auth:dev1:oth');
    expect(await reopened.keys('auth:dev1:')).toEqual([]);
  });
});

describe('RedisStore connection', () => {
  it('fails fast with a clear error when Redis is unreachable, without showing the password', async () => {
    const started = Date.now();
    const error = await RedisStore.open('redis://agent:s3cret-pw@127.0.0.1:1/0').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/^could not connect to Redis at redis:\/\/agent:\*\*\*@127\.0\.0\.1:1\/0: .*ECONNREFUSED/);
    expect((error as Error).message).not.toContain('s3cret');
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect(RedisStore.open('redis://[bad')).rejects.toThrow(/^the Redis URL is not valid/);
  });

  it('keeps namespaces apart', async () => {
    const [a, b] = await Promise.all([RedisStore.open(REDIS_URL, `test:${randomBytes(6).toString('hex')}:`), RedisStore.open(REDIS_URL, `test:${randomBytes(6).toString('hex')}:`)]);
    try {
      await a.write({ 'auth:dev1:creds': 'a' });
      expect(await b.get('auth:dev1:creds')).toBeUndefined();
      expect(await b.keys('')).toEqual([]);
      await b.deletePrefix('');
      expect(await a.get('auth:dev1:creds')).toBe('a');
    } finally {
      await a.deletePrefix('');
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('openStore', () => {
  it('opens files under <dataDir>/store without a Redis URL, and Redis with one', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wa-data-'));
    try {
      const files = await openStore({ dataDir });
      expect(files).toBeInstanceOf(FileStore);
      await files.write({ 'device:dev1:settings': '{}' });
      expect(await readdir(join(dataDir, 'store'))).toEqual(['device.d']);
      await files.close();
      const redis = await openStore({ dataDir, redisUrl: REDIS_URL, namespace: `test:${randomBytes(6).toString('hex')}:` });
      expect(redis).toBeInstanceOf(RedisStore);
      await redis.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
