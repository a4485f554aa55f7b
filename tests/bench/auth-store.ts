// Benchmark: what each auth store costs a real Baileys client sending texts to the simulator.
// Run: `npx node tests/bench/auth-store.ts` (prints one JSON object). `--decisions` adds the
// variants behind the stores' design choices (a read cache over each store, fsync per file write).
//
// Each run pairs a fresh client per variant (each with its own simulator), warms the session up,
// then sends texts one at a time, waiting for each to reach the simulator and yielding to the
// event loop between sends (without that, acks pile up and the numbers measure the backlog). The
// variants take turns every 50 messages, so load from elsewhere on the machine hits them alike;
// medians of 3 runs. The simulators share the process, so "cpuMsPerMessage" includes their
// decryption: compare variants by difference ("storeCpuMsPerMessage") or ratio.
import makeWASocket, {
  DisconnectReason,
  initAuthCreds,
  makeCacheableSignalKeyStore,
  useMultiFileAuthState,
  type AuthenticationState,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
  type WASocket,
} from '@whiskeysockets/baileys';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { useStoreAuthState } from '../../session-host/store/auth-state.ts';
import { FileStore } from '../../session-host/store/file-store.ts';
import { RedisStore } from '../../session-host/store/redis-store.ts';
import type { Store } from '../../session-host/store/store.ts';
import { trustSimulator } from '../support/baileys-client.ts';
import { WaSim, type StartOptions } from '../wa-sim/index.ts';

export interface ClientAuth {
  state: AuthenticationState;
  saveCreds?: () => Promise<void>;
}

export interface Client {
  sock: WASocket;
  /** QR codes the client showed (none when it logged in with saved creds). */
  qrs: string[];
  /** Resolves once the connection is open (after the post-pairing restart, if it paired). */
  opened: Promise<void>;
  /** Closes without logging out, after the last creds save has landed. */
  close(): Promise<void>;
}

/**
 * A real Baileys client on `auth`, pointed at the simulator, as an application would run it:
 * creds saved on every update, the socket restarted on 515 after pairing. With `scan`, the
 * simulated phone scans the first QR code.
 */
export function startClient(sim: WaSim, auth: ClientAuth, options: { scan?: boolean } = {}): Client {
  trustSimulator(sim);
  const logger = pino({ level: process.env.BAILEYS_LOG ?? 'silent' });
  const qrs: string[] = [];
  let sock!: WASocket;
  let saving = Promise.resolve();
  let stopped = false;
  const opened = new Promise<void>((resolve, reject) => {
    const connect = () => {
      sock = makeWASocket({
        auth: auth.state,
        waWebSocketUrl: sim.wsUrl,
        logger,
        fetchAgent: new Agent({ ca: sim.caCertPem }),
        // The simulator has no history sync; without this the first login waits 20 s for one.
        shouldSyncHistoryMessage: () => false,
        markOnlineOnConnect: false,
      });
      sock.ev.process(async (events) => {
        if (events['creds.update'] && auth.saveCreds) await (saving = auth.saveCreds());
        const update = events['connection.update'];
        if (update?.qr) {
          qrs.push(update.qr);
          if (options.scan && qrs.length === 1) sim.scanQr(update.qr).catch(reject);
        }
        if (update?.connection === 'open') resolve();
        if (update?.connection === 'close' && !stopped) {
          const error = update.lastDisconnect?.error as { output?: { statusCode?: number }; message?: string } | undefined;
          if (error?.output?.statusCode === DisconnectReason.restartRequired) connect();
          else reject(new Error(`connection closed before it opened: ${error?.message}`));
        }
      });
    };
    connect();
  });
  return {
    get sock() {
      return sock;
    },
    qrs,
    opened,
    async close() {
      stopped = true;
      const current = sock;
      if (current.ws.isOpen) {
        const closed = new Promise<void>((resolve) => current.ev.on('connection.update', (u) => u.connection === 'close' && resolve()));
        current.end(undefined);
        await closed;
      } else current.end(undefined);
      await saving;
    },
  };
}

/** Signal keys in a Map, values kept as objects: the cheapest store Baileys can have. */
export function memoryAuth(creds: AuthenticationState['creds']): ClientAuth {
  const data = new Map<string, unknown>();
  const keys: SignalKeyStore = {
    get: async <T extends keyof SignalDataTypeMap>(type: T, ids: string[]) => {
      const found: { [id: string]: SignalDataTypeMap[T] } = {};
      for (const id of ids) {
        const value = data.get(`${type}:${id}`);
        if (value !== undefined) found[id] = value as SignalDataTypeMap[T];
      }
      return found;
    },
    set: async (changes: SignalDataSet) => {
      for (const [type, entries] of Object.entries(changes)) {
        for (const [id, value] of Object.entries(entries ?? {})) {
          if (value == null) data.delete(`${type}:${id}`);
          else data.set(`${type}:${id}`, value);
        }
      }
    },
  };
  return { state: { creds, keys } };
}

interface Variant {
  name: string;
  /** Makes a fresh auth state; `done` releases what it holds. */
  make(): Promise<{ auth: ClientAuth; done(): Promise<void> }>;
}

const withBaileysCache = (auth: ClientAuth): ClientAuth => ({ ...auth, state: { creds: auth.state.creds, keys: makeCacheableSignalKeyStore(auth.state.keys) } });

/** How a store variant caches keys: ours (the default), none, or Baileys' makeCacheableSignalKeyStore. */
type Caching = 'own' | 'none' | 'baileys';

function storeVariant(name: string, caching: Caching, open: () => Promise<{ store: Store; cleanup(): Promise<void> }>): Variant {
  return {
    name: caching === 'own' ? name : `${name}, ${caching === 'none' ? 'no cache' : 'makeCacheableSignalKeyStore'}`,
    async make() {
      const { store, cleanup } = await open();
      const auth = await useStoreAuthState(store, 'bench', { cache: caching === 'own' });
      return {
        auth: caching === 'baileys' ? withBaileysCache(auth) : auth,
        async done() {
          await store.close();
          await cleanup();
        },
      };
    },
  };
}

function redisVariant(url: string, caching: Caching = 'own'): Variant {
  return storeVariant('redis', caching, async () => {
    const store = await RedisStore.open(url, `bench:${randomBytes(6).toString('hex')}:`);
    return { store, cleanup: () => RedisStore.open(url, store.namespace).then(async (cleaner) => (await cleaner.deletePrefix(''), await cleaner.close())) };
  });
}

function fileVariant(caching: Caching = 'own', fsync = false): Variant {
  return storeVariant(fsync ? 'file+fsync' : 'file', caching, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wa-bench-'));
    return { store: await FileStore.open(dir, { fsync }), cleanup: () => rm(dir, { recursive: true, force: true }) };
  });
}

const variants = {
  memory: (): Variant => ({
    name: 'memory',
    async make() {
      return { auth: memoryAuth(initAuthCreds()), done: async () => {} };
    },
  }),
  multiFile: (): Variant => ({
    name: 'multi-file',
    async make() {
      const dir = await mkdtemp(join(tmpdir(), 'wa-bench-'));
      const auth = await useMultiFileAuthState(dir);
      return { auth, done: () => rm(dir, { recursive: true, force: true }) };
    },
  }),
};

interface Sample {
  perSecond: number;
  cpuMsPerMessage: number;
  p50Ms: number;
}

/** A paired client on one variant's fresh auth state, with its own simulator, ready to send. */
async function prepare(variant: Variant, simOptions: StartOptions, warmup: number) {
  const sim = await WaSim.start(simOptions);
  const { auth, done } = await variant.make();
  const client = startClient(sim, auth, { scan: true });
  await client.opened;
  const bob = sim.addContact({ name: 'Bob' });
  const send = async (text: string) => {
    const sent = await client.sock.sendMessage(bob.jid, { text });
    const out = await sim.waitForOutgoing((m) => m.id === sent!.key.id);
    if (out.text !== text) throw new Error(`${variant.name}: the simulator read ${JSON.stringify(out.text)}, not ${JSON.stringify(text)}`);
    await new Promise(setImmediate);
  };
  for (let i = 0; i < warmup; i++) await send(`warm-up ${i}`);
  // waitForOutgoing scans the outbox from the start: keep it short.
  sim.outbox.length = 0;
  return {
    send,
    async stop() {
      await client.close();
      await done();
      await sim.stop();
    },
  };
}

/**
 * One run: every variant gets a freshly paired client, then they take turns sending `chunk`
 * messages until each has sent `messages`, so a machine that gets busier or quieter mid-run
 * affects them all alike.
 */
async function run(list: Variant[], simOptions: StartOptions, messages: number, warmup: number, chunk: number): Promise<Sample[]> {
  const clients: Awaited<ReturnType<typeof prepare>>[] = [];
  try {
    for (const variant of list) clients.push(await prepare(variant, simOptions, warmup));
    const totals = clients.map(() => ({ ms: 0, cpuUs: 0, latencies: [] as number[] }));
    for (let sent = 0; sent < messages; sent += chunk) {
      for (const [i, client] of clients.entries()) {
        const total = totals[i]!;
        const cpu = process.cpuUsage();
        const started = performance.now();
        for (let n = sent; n < Math.min(sent + chunk, messages); n++) {
          const t = performance.now();
          await client.send(`message ${n}`);
          total.latencies.push(performance.now() - t);
        }
        total.ms += performance.now() - started;
        const used = process.cpuUsage(cpu);
        total.cpuUs += used.user + used.system;
      }
    }
    return totals.map((t) => ({ perSecond: (messages / t.ms) * 1000, cpuMsPerMessage: t.cpuUs / 1000 / messages, p50Ms: median(t.latencies) }));
  } finally {
    for (const client of clients) await client.stop();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (value: number, digits = 2) => Number(value.toFixed(digits));

export interface BenchOptions {
  redisUrl?: string;
  runs?: number;
  messages?: number;
  warmup?: number;
  /** Messages a variant sends before the next one takes its turn. */
  chunk?: number;
  /** Also measure the variants behind the design choices (read cache, fsync). */
  decisions?: boolean;
}

export async function runAuthStoreBench(options: BenchOptions = {}) {
  const { redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', runs = 3, messages = 600, warmup = 30, chunk = 50 } = options;
  const list = [variants.memory(), redisVariant(redisUrl), fileVariant(), variants.multiFile()];
  if (options.decisions) {
    list.push(redisVariant(redisUrl, 'none'), redisVariant(redisUrl, 'baileys'), fileVariant('none'), fileVariant('baileys'), fileVariant('own', true));
  }
  const samples = new Map<string, Sample[]>(list.map((v) => [v.name, []]));
  const loadBefore = loadavg()[0]!;
  // Every simulator shares one identity, so the process trusts them all.
  const first = await WaSim.start({ log: () => {} });
  const simOptions: StartOptions = { identity: first.identity, tls: first.tls, log: () => {} };
  await first.stop();
  for (let i = 0; i < runs; i++) {
    const results = await run(list, simOptions, messages, warmup, chunk);
    for (const [j, sample] of results.entries()) samples.get(list[j]!.name)!.push(sample);
  }
  const memory = samples.get('memory')!;
  const memoryCpu = median(memory.map((s) => s.cpuMsPerMessage));
  const stores = Object.fromEntries(
    [...samples].map(([name, runs]) => {
      const perSecond = median(runs.map((s) => s.perSecond));
      const cpuMsPerMessage = median(runs.map((s) => s.cpuMsPerMessage));
      return [
        name,
        {
          sendsPerSecond: round(perSecond, 1),
          cpuMsPerMessage: round(cpuMsPerMessage, 3),
          ackP50Ms: round(median(runs.map((s) => s.p50Ms)), 3),
          // Within each run, where both met the same machine; then the median.
          ratioToMemory: round(median(runs.map((s, i) => s.perSecond / memory[i]!.perSecond)), 3),
          storeCpuMsPerMessage: round(cpuMsPerMessage - memoryCpu, 3),
          runs: runs.map((s) => round(s.perSecond, 1)),
        },
      ];
    }),
  );
  // Other work on the machine skews everything; the one-minute load average says how much there was.
  return { bench: 'auth-store', node: process.version, runs, messagesPerRun: messages, loadAverage: [round(loadBefore), round(loadavg()[0]!)], stores };
}

if (import.meta.main) {
  const result = await runAuthStoreBench({ decisions: process.argv.includes('--decisions') });
  console.log(JSON.stringify(result, null, 2));
  // Baileys leaves timers behind after its sockets close.
  process.exit(0);
}
