// Baileys' auth state on each Store backend, with the real Baileys and the WhatsApp simulator:
// a device paired once logs in again from what the store kept, and keeps its Signal sessions.
import { proto } from '@whiskeysockets/baileys';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { hasCreds, useStoreAuthState } from '../../session-host/store/auth-state.ts';
import { FileStore } from '../../session-host/store/file-store.ts';
import { RedisStore } from '../../session-host/store/redis-store.ts';
import type { Store } from '../../session-host/store/store.ts';
import { startClient, type Client } from '../bench/auth-store.ts';
import { WaSim } from '../wa-sim/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const backends = [
  {
    name: 'FileStore',
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'wa-auth-'));
      return { open: (): Promise<Store> => FileStore.open(dir), destroy: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'RedisStore',
    async create() {
      const namespace = `test:${randomBytes(6).toString('hex')}:`;
      const open = (): Promise<Store> => RedisStore.open(REDIS_URL, namespace);
      return {
        open,
        destroy: async () => {
          const store = await open();
          await store.deletePrefix('');
          await store.close();
        },
      };
    },
  },
];

let sim: WaSim;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
});
afterAll(() => sim.stop());

describe.each(backends)('auth state on $name', (backend) => {
  let storage: Awaited<ReturnType<(typeof backends)[number]['create']>>;
  const opened: { store?: Store; client?: Client }[] = [];
  beforeEach(async () => {
    storage = await backend.create();
  });
  afterEach(async () => {
    for (const { client, store } of opened.splice(0)) {
      await client?.close().catch(() => {});
      await store?.close();
    }
    await storage.destroy();
  });
  const open = async () => {
    const store = await storage.open();
    opened.push({ store });
    return store;
  };
  const start = (...args: Parameters<typeof startClient>) => {
    const client = startClient(...args);
    opened.push({ client });
    return client;
  };
  const sendText = async (client: Client, to: string, text: string) => {
    const sent = await client.sock.sendMessage(to, { text });
    return sim.waitForOutgoing((m) => m.id === sent!.key.id);
  };

  /** A contact writes to the account; resolves with the text the client decrypted, and how it was sent. */
  const receive = async (client: Client, account: string, from: string, text: string) => {
    const id = `AUTHTEST${randomBytes(6).toString('hex').toUpperCase()}`;
    const upsert = new Promise<string | null | undefined>((resolve) =>
      client.sock.ev.on('messages.upsert', ({ messages }) => {
        const m = messages.find((m) => m.key.id === id);
        // A message the client cannot decrypt arrives as a stub without content.
        if (m) resolve(m.message?.conversation);
      }),
    );
    await sim.sendIncoming(account, from, text, { id });
    return { text: await upsert, encTypes: sim.incoming.find((m) => m.id === id)?.encTypes };
  };

  it('pairs by QR, logs in again from a new store instance without a QR, and keeps its Signal sessions', async () => {
    const first = await open();
    expect(await hasCreds(first, 'dev1')).toBe(false);
    const client = start(sim, await useStoreAuthState(first, 'dev1'), { scan: true });
    await client.opened;
    expect(client.qrs.length).toBeGreaterThan(0);
    expect(await hasCreds(first, 'dev1')).toBe(true);
    const me = client.sock.authState.creds.me!.id;
    const account = me.split(':')[0]!;

    const bob = sim.addContact({ name: 'Bob' });
    const out = await sendText(client, bob.jid, 'Halo Bob! Pesanan #123 ✅');
    expect(out.error).toBeUndefined();
    expect(out.text).toBe('Halo Bob! Pesanan #123 ✅');
    expect(await receive(client, account, bob.phone, 'Terima kasih!')).toEqual({ text: 'Terima kasih!', encTypes: ['msg'] });
    await client.close();
    await first.close();

    const second = await open();
    const auth = await useStoreAuthState(second, 'dev1');
    expect(auth.state.creds.me?.id).toBe(me);
    const again = start(sim, auth);
    await again.opened;
    expect(again.qrs).toEqual([]);
    // Bob's next message continues the Signal session (a `msg`, no pre-key): only the session the
    // store kept can decrypt it.
    expect(await receive(again, account, bob.phone, 'Sudah sampai?')).toEqual({ text: 'Sudah sampai?', encTypes: ['msg'] });
    const reply = await sendText(again, bob.jid, 'Sudah, terima kasih 🙏');
    expect(reply.error).toBeUndefined();
    expect(reply.text).toBe('Sudah, terima kasih 🙏');
  });

  it('clears every key of its device and nothing of the others', async () => {
    const store = await open();
    const client = start(sim, await useStoreAuthState(store, 'dev1'), { scan: true });
    await client.opened;
    await sendText(client, sim.addContact().jid, 'hello');
    await client.close();
    const dev1Keys = await store.keys('auth:dev1:');
    expect(dev1Keys).toContain('auth:dev1:creds');
    expect(dev1Keys.filter((key) => key.startsWith('auth:dev1:pre-key:')).length).toBeGreaterThan(100);
    expect(dev1Keys.some((key) => key.startsWith('auth:dev1:session:'))).toBe(true);

    // Neighbours, one of whose ids starts with the cleared one.
    for (const id of ['dev10', 'dev2']) {
      const other = await useStoreAuthState(store, id);
      await other.saveCreds();
      await other.state.keys.set({ session: { '1555.0': Buffer.from('s') }, 'pre-key': { '1': other.state.creds.signedIdentityKey } });
    }
    await store.write({ 'device:dev1:settings': '{}' });

    const auth = await useStoreAuthState(store, 'dev1');
    await auth.clear();
    expect(await store.keys('auth:dev1:')).toEqual([]);
    expect(await hasCreds(store, 'dev1')).toBe(false);
    expect((await store.keys('auth:dev10:')).sort()).toEqual(['auth:dev10:creds', 'auth:dev10:pre-key:1', 'auth:dev10:session:1555.0']);
    expect(await store.keys('auth:dev2:')).toHaveLength(3);
    expect(await store.get('device:dev1:settings')).toBe('{}');
    // And the device starts over: fresh creds, no keys.
    const fresh = await useStoreAuthState(store, 'dev1');
    expect(fresh.state.creds.me).toBeUndefined();
    expect(await fresh.state.keys.get('session', ['1555.0'])).toEqual({});
  });

  it('writes each keys.set in one store write, and revives values as Baileys expects them', async () => {
    const store = await open();
    const { state } = await useStoreAuthState(store, 'dev1');
    const write = vi.spyOn(store, 'write');
    const syncKey = { keyData: Buffer.from('app-state key bytes'), fingerprint: { rawId: 7, currentIndex: 2, deviceIndexes: [0, 3] }, timestamp: 1_700_000_000 };
    await state.keys.set({
      'app-state-sync-key': { AAAAAFyc: syncKey },
      session: { '1555.0': Buffer.from([1, 2, 3]), '1556.0': null },
      'device-list': { '1555': ['0', '3'] },
    });
    expect(write).toHaveBeenCalledTimes(1);
    expect(Object.keys(write.mock.calls[0]![0]).sort()).toEqual(['auth:dev1:app-state-sync-key:AAAAAFyc', 'auth:dev1:device-list:1555', 'auth:dev1:session:1555.0', 'auth:dev1:session:1556.0']);

    // A new instance reads what the store holds, not what a cache remembers.
    const { state: reopened } = await useStoreAuthState(await open(), 'dev1');
    const { AAAAAFyc: key } = await reopened.keys.get('app-state-sync-key', ['AAAAAFyc', 'missing']);
    expect(key).toBeInstanceOf(proto.Message.AppStateSyncKeyData);
    expect(Buffer.from(key!.keyData!).equals(syncKey.keyData)).toBe(true);
    expect(key!.fingerprint).toMatchObject({ rawId: 7, currentIndex: 2 });
    const sessions = await reopened.keys.get('session', ['1555.0', '1556.0']);
    expect(Object.keys(sessions)).toEqual(['1555.0']);
    expect(Buffer.from(sessions['1555.0']!).equals(Buffer.from([1, 2, 3]))).toBe(true);
    expect(await reopened.keys.get('device-list', ['1555'])).toEqual({ 1555: ['0', '3'] });

    // Deleting through keys.set reaches the store and the cache alike.
    await state.keys.set({ session: { '1555.0': null } });
    expect(await state.keys.get('session', ['1555.0'])).toEqual({});
    expect(await store.get('auth:dev1:session:1555.0')).toBeUndefined();
  });
});
