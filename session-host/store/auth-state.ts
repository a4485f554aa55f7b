// Baileys' auth state (creds + Signal keys) kept in a Store, one device per key prefix:
// creds at `auth:<deviceId>:creds`, keys at `auth:<deviceId>:<type>:<id>`, as BufferJSON text
// (the encoding of Baileys' own useMultiFileAuthState, so a value means the same in either).
//
// Reads go through a small write-through cache kept here rather than Baileys'
// makeCacheableSignalKeyStore in the caller (so callers must NOT wrap `state.keys` again).
// Every text Baileys sends reads the recipient's and our own phone's sessions and tctokens and
// writes the sessions back; without a cache each of those reads is a Redis round trip or a file
// read. makeCacheableSignalKeyStore helps less and costs more: it does not remember absent keys
// (tctokens are usually absent, so two store reads per message remain), it serialises every get
// behind the previous set's store write with one mutex, and it caches the ~800 pre-keys written
// at pairing, each of which is read at most once. Measured (tests/bench/auth-store.ts
// --decisions), as send rate relative to Baileys' in-memory keys: Redis 0.66 without a cache,
// 0.81 with makeCacheableSignalKeyStore, 0.92 with this one; files 0.76, 0.72, 0.91.
//
// While the store is unavailable, writes are held here (and read from here) and retried until
// it is back, rather than failing: Baileys has already used the new keys (a ratchet moved on, a
// pre-key went to WhatsApp), so a dropped write could only leave a stale store behind, and a
// failed write makes Baileys retry its transaction for half a minute.
import { BufferJSON, initAuthCreds, proto, type AuthenticationCreds, type AuthenticationState, type SignalDataSet, type SignalDataTypeMap, type SignalKeyStore } from '@whiskeysockets/baileys';
import { StoreUnavailableError, type Changes, type Store } from './store.ts';

export interface StoreAuthState {
  state: AuthenticationState;
  /** Persists `state.creds`; call it on every `creds.update` (Baileys updates the object in place). */
  saveCreds(): Promise<void>;
  /** Deletes everything stored for the device (after a logout). */
  clear(): Promise<void>;
  /**
   * Writes again what this process holds (creds, cached keys, held writes), for a store that
   * lost its data; returns how many keys that was. One-time pre-keys are not among them.
   */
  rewrite(): Promise<number>;
}

export interface StoreAuthOptions {
  /** Keep recently used keys in memory (default true). Only off for measuring. */
  cache?: boolean;
}

/** Per device: the sessions, tokens and mappings of a hundred or so recent chats (~1 KB each). */
const CACHE_ENTRIES = 1000;
/** Per device, distinct keys held through an outage; past it, writes fail again. */
const HELD_LIMIT = 20_000;
const HELD_RETRY_MS = 1_000;

export async function useStoreAuthState(store: Store, deviceId: string, options: StoreAuthOptions = {}): Promise<StoreAuthState> {
  const prefix = prefixOf(deviceId);
  const credsKey = `${prefix}creds`;
  const saved = await store.get(credsKey);
  const creds: AuthenticationCreds = saved ? parseCreds(saved, deviceId, BufferJSON.reviver) : initAuthCreds();

  // Values as Baileys gets them, `null` for keys known to be absent; Map order is recency (LRU).
  // The cache is right only while this process is the device's one writer, which the host ensures.
  const cache = new Map<string, unknown>();
  const useCache = options.cache ?? true;
  // Pre-keys are read at most once each (when a contact opens a session), so caching them only
  // holds memory.
  const cacheable = (type: string) => useCache && type !== 'pre-key';
  const remember = (key: string, value: unknown) => {
    cache.delete(key);
    cache.set(key, value);
    if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  };
  // Bumped by every set: a store read that overlapped a set may have read the older value.
  let generation = 0;

  // Writes the store refused while unavailable, by store key (`null`: a delete), oldest first.
  const held = new Map<string, string | null>();
  let retryTimer: NodeJS.Timeout | undefined;
  const hold = (changes: Changes, error: unknown) => {
    if (!(error instanceof StoreUnavailableError) || held.size >= HELD_LIMIT) throw error;
    for (const [key, value] of Object.entries(changes)) {
      held.delete(key);
      held.set(key, value);
    }
    retryTimer ??= setTimeout(() => {
      retryTimer = undefined;
      void persist({}).catch(() => {});
    }, HELD_RETRY_MS).unref();
  };
  /** Writes `changes` together with any held writes; holds them if the store is unavailable. */
  const persist = async (changes: Changes) => {
    const before = held.size ? new Map(held) : undefined;
    const batch = before ? { ...Object.fromEntries(before), ...changes } : changes;
    try {
      await store.write(batch);
    } catch (error) {
      return hold(changes, error);
    }
    // Held values replaced while this write was under way are newer: they stay held.
    if (before) for (const [key, value] of before) if (held.get(key) === value) held.delete(key);
  };

  const keys: SignalKeyStore = {
    async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const found: { [id: string]: SignalDataTypeMap[T] } = {};
      const missing: string[] = [];
      for (const id of ids) {
        const waiting = held.get(`${prefix}${type}:${id}`);
        const value = waiting === undefined ? cache.get(`${type}:${id}`) : waiting === null ? null : revive(type, waiting);
        if (value === undefined) missing.push(id);
        else if (value !== null) found[id] = value as SignalDataTypeMap[T];
      }
      if (!missing.length) return found;
      const started = generation;
      const texts = await store.getMany(missing.map((id) => `${prefix}${type}:${id}`));
      missing.forEach((id, i) => {
        const text = texts[i];
        const value = text === undefined ? null : revive(type, text);
        if (value !== null) found[id] = value as SignalDataTypeMap[T];
        if (cacheable(type) && started === generation) remember(`${type}:${id}`, value);
      });
      return found;
    },
    // One store.write per set, so Redis applies each Baileys transaction atomically.
    async set(data: SignalDataSet) {
      generation++;
      const changes: Changes = {};
      for (const [type, entries] of Object.entries(data)) {
        for (const [id, value] of Object.entries(entries ?? {})) {
          changes[`${prefix}${type}:${id}`] = value == null ? null : JSON.stringify(value, BufferJSON.replacer);
          if (cacheable(type)) remember(`${type}:${id}`, value ?? null);
        }
      }
      try {
        await persist(changes);
      } catch (error) {
        // What the store holds is unknown now: read it again next time.
        for (const key of Object.keys(changes)) cache.delete(key.slice(prefix.length));
        throw error;
      }
    },
  };

  const credsChange = (): Changes => ({ [credsKey]: JSON.stringify(creds, BufferJSON.replacer) });
  return {
    state: { creds, keys },
    saveCreds: () => persist(credsChange()),
    clear: async () => {
      cache.clear();
      held.clear();
      clearTimeout(retryTimer);
      retryTimer = undefined;
      await clearAuthState(store, deviceId);
    },
    rewrite: async () => {
      const changes: Changes = credsChange();
      for (const [key, value] of cache) if (value !== null) changes[prefix + key] = JSON.stringify(value, BufferJSON.replacer);
      const count = new Set([...Object.keys(changes), ...held.keys()]).size;
      await persist(changes);
      return count;
    },
  };
}

function revive(type: string, text: string): unknown {
  const value = JSON.parse(text, BufferJSON.reviver);
  // Baileys calls methods of the protobuf class on these, which JSON does not restore.
  return value && type === 'app-state-sync-key' ? proto.Message.AppStateSyncKeyData.fromObject(value) : value;
}

/** Deletes a device's auth state without loading it. */
export function clearAuthState(store: Store, deviceId: string): Promise<void> {
  return store.deletePrefix(prefixOf(deviceId));
}

/** Whether the device is logged in: it has saved creds that name its account. */
export async function hasCreds(store: Store, deviceId: string): Promise<boolean> {
  const saved = await store.get(`${prefixOf(deviceId)}creds`);
  return !!saved && !!parseCreds(saved, deviceId).me?.id;
}

function parseCreds(text: string, deviceId: string, reviver?: (key: string, value: unknown) => unknown): AuthenticationCreds {
  try {
    return JSON.parse(text, reviver);
  } catch (error) {
    throw new Error(`the stored credentials of device ${deviceId} are unreadable (${(error as Error).message}); clear them to pair again`);
  }
}

function prefixOf(deviceId: string): string {
  // A ':' would let one device's prefix cover another's keys (`auth:a:` holds `auth:a:b:…`).
  if (!deviceId || deviceId.includes(':')) throw new Error(`invalid device id for the auth store: ${JSON.stringify(deviceId)}`);
  return `auth:${deviceId}:`;
}
