// The Store on plain files, the default when no REDIS_URL is set.
//
// Layout: the first ':'-separated segments of a key become directories (at most DEPTH of them),
// the rest is the file name: `auth:dev1:session:1555.0` → `auth.d/dev1.d/session.d/1555%2E0.v`.
// So `keys('auth:dev1:')` reads one device's few directories, never a flat folder holding 100
// devices' keys, and `deletePrefix('auth:dev1:')` drops one subtree. Segments are percent-encoded
// down to [a-z0-9_-] (upper case too, for case-insensitive file systems), which keeps any key
// reversible and leaves '.' free to say what a name is: `.d` a directory, `.v` a value, `.o` a
// value being replaced; anything else (temp files, trash) is never a key.
//
// A value is written to a temp file that then takes the key's name, so a reader, or a process
// killed at any instant, finds the whole old value or the whole new one. The old file is moved
// aside (`.o`) before the new one moves in rather than renamed over: renaming over an existing
// file makes ext4 write the new file's data to disk at once (auto_da_alloc), which cost Baileys
// ~15% of its send rate; the `.o` still holds the old value if the process dies in between.
//
// File system calls are synchronous. Values are small (a Signal session is ~1 KB) and land in
// the page cache, so a write blocks for ~0.15 ms (p99 0.7 ms on a busy machine); through libuv's
// thread pool the same work took twice the CPU, and Baileys sent ~30% fewer messages per second
// than with in-memory keys, against ~7-10% this way. Writes and deletes run one after another in
// call order (one promise chain, no per-key locks), so of concurrent writes to a key the last
// call wins. Not for network file systems, where a blocking call would stall every device.
//
// Expiring keys (per-send records, kept for a retention): Redis has TTLs, files need an index, and
// one that costs O(expired) to sweep rather than a walk over every key. A write with expiring keys
// first adds one small index file naming them to `expiry.t/<due time>/`, where the due time is
// the keys' expiry rounded up to `expiryResolutionMs`; then it writes the values, each file's
// mtime set to its key's expiry. Every `expiryResolutionMs` the sweep lists `expiry.t` (one name
// per bucket: ~170 for a week at an hour) and, for each bucket that is due, deletes the keys its
// index files name whose mtime says they expired: a key rewritten since with a later expiry keeps
// its newer mtime and waits for the later bucket that names it too. Index first, values second,
// so a process killed in between leaves an index entry for nothing, never a key no one sweeps.
// `expiry.t` does not look like a key's directory, so listing and prefix deletes never see it.
//
// Everything here is the host's secrets (WhatsApp login keys, webhook secrets): files are created
// 0600 and directories 0700, and a tree left by an older version with looser modes is tightened
// when the store opens.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, futimesSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Changes, Store, WriteOptions } from './store.ts';

/** Directory levels; `auth:<device>:<type>:` is three, the deepest prefix the host lists. */
const DEPTH = 3;
/** Encoded names stay well under the usual 255-byte limit, leaving room for temp suffixes. */
const MAX_NAME = 200;
/** Keys a big write does between yields to the event loop. */
const YIELD_EVERY = 64;
const ENTRY = /^((?:[a-z0-9_-]|%[0-9A-F]{2})*)\.([dvo])$/;
/** Owner only: the store holds login keys and webhook secrets. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** The expiry index; not a key's directory (`.d`), so walks skip it. */
const EXPIRY_DIR = 'expiry.t';
const DEFAULT_EXPIRY_RESOLUTION_MS = 60_000;

export interface FileStoreOptions {
  /**
   * fsync each value before it takes its key's name, so that a power cut or kernel crash leaves
   * the old or the new value. Off by default: a killed process never tears a value without it,
   * and it blocks each write for a disk flush (~0.4 ms here), which halved Baileys' send rate.
   * Without it, values written in the half minute or so before a power cut may be lost or come
   * back empty.
   */
  fsync?: boolean;
  /** How many directories above the store's to make owner-only as well (1 for DATA_DIR). */
  privateParents?: number;
  /** Expired keys are swept this often, and are gone at most this long after their expiry (1 min). */
  expiryResolutionMs?: number;
}

export class FileStore implements Store {
  readonly dir: string;
  private readonly fsync: boolean;
  /** Marks this instance's temp and trash names, so no two instances ever share one. */
  private readonly tag = randomBytes(4).toString('hex');
  private seq = 0;
  private tail: Promise<void> = Promise.resolve();
  /** A local disk is there or it is not; the host's health check notices a folder emptied. */
  readonly reachable = true;
  private readonly resolutionMs: number;
  private readonly expiryDir: string;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(dir: string, options: FileStoreOptions = {}) {
    this.dir = dir;
    this.fsync = options.fsync ?? false;
    this.resolutionMs = options.expiryResolutionMs ?? DEFAULT_EXPIRY_RESOLUTION_MS;
    this.expiryDir = join(dir, EXPIRY_DIR);
    this.sweepTimer = setInterval(() => void this.sweepExpired().catch(() => undefined), this.resolutionMs).unref();
  }

  /**
   * Opens (creating) the store's directory. If it was looser than 0700, an older version wrote
   * it: the whole tree is tightened once.
   */
  static async open(dir: string, options?: FileStoreOptions): Promise<FileStore> {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    let parent = dir;
    for (let i = 0; i < (options?.privateParents ?? 0); i++) chmodSync((parent = dirname(parent)), DIR_MODE);
    if ((statSync(dir).mode & 0o777) !== DIR_MODE) tighten(dir);
    return new FileStore(dir, options);
  }

  async get(key: string): Promise<string | undefined> {
    return this.read(key);
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    return keys.map((key) => this.read(key));
  }

  write(changes: Changes, options?: WriteOptions): Promise<void> {
    return this.serially(async () => {
      const expiresAt = options?.expiresAt;
      if (expiresAt)
        this.index(
          Object.keys(changes).filter((key) => changes[key] !== null && expiresAt[key] !== undefined),
          expiresAt,
        );
      let done = 0;
      for (const [key, value] of Object.entries(changes)) {
        if (value === null) this.remove(key);
        else this.put(key, value, expiresAt?.[key]);
        // A pairing writes ~800 pre-keys at once, ~0.1 s of blocking: let other sockets breathe.
        if (++done % YIELD_EVERY === 0) await new Promise(setImmediate);
      }
    });
  }

  async keys(prefix: string): Promise<string[]> {
    const found = new Set<string>();
    this.walk(prefix, { file: (key) => void found.add(key) });
    return [...found];
  }

  deletePrefix(prefix: string): Promise<void> {
    return this.serially(() => this.deleteNow(prefix));
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.sweeping;
    await this.tail;
  }

  /**
   * Deletes the keys whose expiry has passed, bucket by bucket; returns how many. Runs by itself
   * every `expiryResolutionMs`; one index file at a time, so writes go on in between.
   */
  sweepExpired(now = Date.now()): Promise<number> {
    this.sweeping ??= this.sweepNow(now).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepNow(now: number): Promise<number> {
    let removed = 0;
    const due = (ignoreMissing(() => readdirSync(this.expiryDir)) ?? []).filter((name) => /^\d+$/.test(name) && Number(name) <= now);
    for (const bucket of due) {
      const dir = join(this.expiryDir, bucket);
      for (const entry of ignoreMissing(() => readdirSync(dir)) ?? []) {
        removed += await this.serially(async () => this.expire(join(dir, entry), now));
      }
      ignoreMissing(() => rmdirSync(dir));
    }
    return removed;
  }

  /** Deletes the keys an index file names that expired by `now` (not those rewritten to live longer), then the file. */
  private expire(indexFile: string, now: number): number {
    let keys: unknown;
    try {
      keys = JSON.parse(ignoreMissing(() => readFileSync(indexFile, 'utf8')) ?? '[]');
    } catch {
      keys = []; // torn by a crash mid-write: its keys were never written
    }
    let removed = 0;
    for (const key of Array.isArray(keys) ? keys : []) {
      if (typeof key !== 'string') continue;
      const { file } = this.pathOf(key);
      const stat = ignoreMissing(() => statSync(`${file}v`)) ?? ignoreMissing(() => statSync(`${file}o`));
      if (!stat || stat.mtimeMs > now) continue;
      this.remove(key);
      removed++;
    }
    ignoreMissing(() => unlinkSync(indexFile));
    return removed;
  }

  /** Names `keys` in an index file of each bucket their expiries fall in (see the top of the file). */
  private index(keys: string[], expiresAt: Record<string, number>): void {
    const buckets = new Map<number, string[]>();
    for (const key of keys) {
      const due = Math.ceil(expiresAt[key]! / this.resolutionMs) * this.resolutionMs;
      buckets.set(due, [...(buckets.get(due) ?? []), key]);
    }
    for (const [due, names] of buckets) {
      const dir = join(this.expiryDir, String(due));
      const file = join(dir, `${this.tag}-${this.seq++}`);
      const body = JSON.stringify(names);
      try {
        writeFileSync(file, body, { mode: FILE_MODE });
      } catch (error) {
        if (!isMissing(error)) throw error;
        mkdirSync(dir, { recursive: true, mode: DIR_MODE });
        writeFileSync(file, body, { mode: FILE_MODE });
      }
    }
  }

  /** Runs `operation` after every write and delete called before it: the last call wins. */
  private serially<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.tail.then(operation);
    this.tail = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async deleteNow(prefix: string): Promise<void> {
    const trash: string[] = [];
    this.walk(prefix, {
      file: (key) => this.remove(key),
      // A whole subtree is renamed aside at once (so it is gone for readers), then removed.
      dir: (path) => {
        const aside = `${path.slice(0, -2)}.${this.tag}-${this.seq++}.trash`;
        if (ignoreMissing(() => (renameSync(path, aside), true))) trash.push(aside);
      },
    });
    await Promise.all(trash.map((path) => rm(path, { recursive: true, force: true })));
  }

  private read(key: string): string | undefined {
    const { file } = this.pathOf(key);
    // A missing key is common (a first send, an expired record): looked for, not caught.
    const read = (suffix: string) => (existsSync(file + suffix) ? ignoreMissing(() => readFileSync(file + suffix, 'utf8')) : undefined);
    // No `.v` means a replacement is under way (in another process: this one's are synchronous)
    // or was cut short by a crash; the `.o` holds the old value then, unless the replacement
    // finished in the meantime.
    return read('v') ?? read('o') ?? read('v');
  }

  private put(key: string, value: string, expiresAt?: number): void {
    const { dir, file } = this.pathOf(key);
    const temp = `${file}${this.tag}-${this.seq++}.tmp`;
    try {
      try {
        this.writeTemp(temp, value, expiresAt);
      } catch (error) {
        if (!isMissing(error)) throw error;
        mkdirSync(dir, { recursive: true, mode: DIR_MODE });
        this.writeTemp(temp, value, expiresAt);
      }
    } catch (error) {
      ignoreMissing(() => unlinkSync(temp)); // e.g. a full disk: leave no half-written temp behind
      throw error;
    }
    // Checked first rather than caught: a thrown ENOENT (a new key has no old value) costs more
    // than the check, on every write. Another process may still remove it meanwhile.
    const replacing = existsSync(`${file}v`);
    if (replacing) ignoreMissing(() => renameSync(`${file}v`, `${file}o`));
    renameSync(temp, `${file}v`);
    // An old value set aside by a replacement a crash cut short goes too.
    if (replacing || existsSync(`${file}o`)) ignoreMissing(() => unlinkSync(`${file}o`));
  }

  /** With `expiresAt`, the file's mtime says when it expires (what the sweep checks). */
  private writeTemp(path: string, value: string, expiresAt?: number): void {
    const fd = openSync(path, 'w', FILE_MODE);
    try {
      writeFileSync(fd, value);
      if (expiresAt !== undefined) futimesSync(fd, expiresAt / 1000, expiresAt / 1000);
      if (this.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private remove(key: string): void {
    const { file } = this.pathOf(key);
    ignoreMissing(() => unlinkSync(`${file}v`));
    ignoreMissing(() => unlinkSync(`${file}o`));
  }

  /** The key's directory, and its file path without the final `v`/`o`. */
  private pathOf(key: string): { dir: string; file: string } {
    const segments = key.split(':');
    const dirs = segments.slice(0, Math.min(DEPTH, segments.length - 1));
    const dir = join(this.dir, ...dirs.map((segment) => `${encodeName(segment, key)}.d`));
    // Not join(): it would fold the empty name's `.` into the directory.
    return { dir, file: `${dir}${sep}${encodeName(segments.slice(dirs.length).join(':'), key)}.` };
  }

  /**
   * Visits every key under `prefix`, starting from the deepest directory the prefix names and
   * skipping directories that cannot hold a match. With `dir`, a directory whose keys all match is
   * handed over whole instead of being descended into.
   */
  private walk(prefix: string, visit: { file: (key: string) => void; dir?: (path: string) => void }): void {
    const fixed = prefix.split(':').slice(0, -1).slice(0, DEPTH);
    const start = join(this.dir, ...fixed.map((segment) => `${encodeName(segment, prefix)}.d`));
    const descend = (dir: string, keyPath: string): void => {
      for (const name of ignoreMissing(() => readdirSync(dir)) ?? []) {
        const entry = ENTRY.exec(name);
        if (!entry) continue;
        const decoded = decodeURIComponent(entry[1]!);
        if (entry[2] !== 'd') {
          if ((keyPath + decoded).startsWith(prefix)) visit.file(keyPath + decoded);
          continue;
        }
        const sub = `${keyPath}${decoded}:`;
        if (sub.startsWith(prefix) && visit.dir) visit.dir(join(dir, name));
        else if (sub.startsWith(prefix) || prefix.startsWith(sub)) descend(join(dir, name), sub);
      }
    };
    const keyPath = fixed.map((segment) => `${segment}:`).join('');
    if (keyPath === prefix && fixed.length && visit.dir) visit.dir(start);
    else descend(start, keyPath);
  }
}

const UNSAFE = /[^a-z0-9_-]/gu;

function encodeName(segment: string, key: string): string {
  const encoded = segment.replace(UNSAFE, (char) => {
    let out = '';
    for (const byte of Buffer.from(char)) out += `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
    return out;
  });
  if (encoded.length > MAX_NAME) throw new Error(`key too long for the file store: ${JSON.stringify(key.slice(0, 80))}…`);
  return encoded;
}

/** Makes every directory 0700 and every file 0600 under (and including) `dir`. */
function tighten(dir: string): void {
  chmodSync(dir, DIR_MODE);
  for (const name of ignoreMissing(() => readdirSync(dir)) ?? []) {
    const path = join(dir, name);
    const stat = ignoreMissing(() => lstatSync(path));
    if (stat?.isDirectory()) tighten(path);
    else if (stat?.isFile()) ignoreMissing(() => chmodSync(path, FILE_MODE));
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Runs `action`; a missing file or directory makes it return undefined instead of throwing. */
function ignoreMissing<T>(action: () => T): T | undefined {
  try {
    return action();
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}
