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
// Everything here is the host's secrets (WhatsApp login keys, webhook secrets): files are created
// 0600 and directories 0700, and a tree left by an older version with looser modes is tightened
// when the store opens.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Changes, Store } from './store.ts';

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

  constructor(dir: string, options: FileStoreOptions = {}) {
    this.dir = dir;
    this.fsync = options.fsync ?? false;
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

  write(changes: Changes): Promise<void> {
    return this.serially(async () => {
      let done = 0;
      for (const [key, value] of Object.entries(changes)) {
        if (value === null) this.remove(key);
        else this.put(key, value);
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
    await this.tail;
  }

  /** Runs `operation` after every write and delete called before it: the last call wins. */
  private serially(operation: () => Promise<void>): Promise<void> {
    const run = this.tail.then(operation);
    this.tail = run.catch(() => {});
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
    const read = (suffix: string) => ignoreMissing(() => readFileSync(file + suffix, 'utf8'));
    // No `.v` means a replacement is under way (in another process: this one's are synchronous)
    // or was cut short by a crash; the `.o` holds the old value then, unless the replacement
    // finished in the meantime.
    return read('v') ?? read('o') ?? read('v');
  }

  private put(key: string, value: string): void {
    const { dir, file } = this.pathOf(key);
    const temp = `${file}${this.tag}-${this.seq++}.tmp`;
    try {
      try {
        this.writeTemp(temp, value);
      } catch (error) {
        if (!isMissing(error)) throw error;
        mkdirSync(dir, { recursive: true, mode: DIR_MODE });
        this.writeTemp(temp, value);
      }
    } catch (error) {
      ignoreMissing(() => unlinkSync(temp)); // e.g. a full disk: leave no half-written temp behind
      throw error;
    }
    ignoreMissing(() => renameSync(`${file}v`, `${file}o`));
    renameSync(temp, `${file}v`);
    ignoreMissing(() => unlinkSync(`${file}o`));
  }

  private writeTemp(path: string, value: string): void {
    const fd = openSync(path, 'w', FILE_MODE);
    try {
      writeFileSync(fd, value);
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
