// Retention soak: many sends through one session host (the link's `message.send`, as the edge
// calls it) against the simulator, on each store, with a short RETENTION_DAYS; prints the store's
// size (keys and bytes; files on disk for the file store) and the host's memory (RSS, heap after
// a full collection) before the sends, at their end, and once the retention has passed. The
// target: back within a few MB of the start, the store back to the keys it started with.
//
// RETENTION_SENDS (default 5,000; the figure is 50,000) sets how many messages each store
// gets, RETENTION_SECONDS (default 30) the host's retention, RETENTION_CONCURRENCY (default 8)
// how many sends are in flight, RETENTION_STORES (default `files,redis`) which stores, and
// RETENTION_SETTLE_SECONDS (default 0) a further wait and sample, past Baileys' own in-memory
// caches (its recent messages for retries live 5 minutes, retry counters 15). Half the sends carry an outbox id, as the edge's do. The
// simulator answers each with a delivery receipt; the link acknowledges every journaled event,
// as the edge does. Redis is a redis-server of this bench's own, so its size is only ours.
// Progress goes to stderr; the result is returned.
import { spawn, type ChildProcess } from 'node:child_process';
import { type Dirent, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { RedisServer } from '../support/redis-server.ts';
import { LinkClient } from '../support/link-client.ts';
import { freePort } from '../../bin/stack.ts';
import { startSimProcess, type SimProcess } from './stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SECRET = 'bench-host-secret-0123456789abcdef';
const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round((bytes / MB) * 100) / 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`[retention] ${line}\n`);

function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${process.env[name]}`);
  return value;
}

interface StoreSize {
  keys: number;
  bytes: number;
  /** File store: every file (values and expiry index), and what they take on disk. */
  files?: number;
  diskBytes?: number;
}

/** The file store's size: keys are value files, bytes their contents; the index counts as files. */
function fileStoreSize(dir: string): StoreSize {
  const size: Required<StoreSize> = { keys: 0, bytes: 0, files: 0, diskBytes: 0 };
  const walk = (path: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      return; // an expiry bucket swept meanwhile
    }
    for (const entry of entries) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) {
        walk(full);
        continue;
      }
      const stat = statSync(full, { throwIfNoEntry: false });
      if (!stat) continue; // swept meanwhile
      size.files++;
      size.diskBytes += stat.blocks * 512;
      if (entry.name.endsWith('.v')) {
        size.keys++;
        size.bytes += stat.size;
      }
    }
  };
  walk(dir);
  return size;
}

async function redisSize(redis: Redis): Promise<StoreSize> {
  const info = await redis.info('memory');
  return { keys: await redis.dbsize(), bytes: Number(/^used_memory:(\d+)/m.exec(info)?.[1]) };
}

/** The host's memory after a full collection, through its inspector. */
async function hostMemory(inspectorPort: number): Promise<{ rssMb: number; heapUsedMb: number }> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolveOpen, reject) => (socket.once('open', resolveOpen), socket.once('error', reject)));
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { value?: string } }>((resolveCall) => {
      const mine = ++id;
      const onMessage = (data: WebSocket.RawData) => {
        const message = JSON.parse(String(data)) as { id?: number; result: { result?: { value?: string } } };
        if (message.id !== mine) return;
        socket.off('message', onMessage);
        resolveCall(message.result);
      };
      socket.on('message', onMessage);
      socket.send(JSON.stringify({ id: mine, method, params }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    const evaluated = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    const memory = JSON.parse(evaluated.result!.value!) as NodeJS.MemoryUsage;
    return { rssMb: mb(memory.rss), heapUsedMb: mb(memory.heapUsed) };
  } finally {
    socket.close();
  }
}

async function soakOneStore(sim: SimProcess, backend: 'files' | 'redis', options: { sends: number; retentionSeconds: number; concurrency: number; settleSeconds: number }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-retention-'));
  const redisServer = backend === 'redis' ? await RedisServer.start({ persistent: false }) : undefined;
  const redis = redisServer ? new Redis(redisServer.url) : undefined;
  const port = await freePort();
  const inspectorPort = await freePort();
  const env = {
    ...process.env,
    PORT: String(port),
    HOST_SECRET: SECRET,
    DATA_DIR: dataDir,
    WA_WS_URL: sim.wsUrl,
    WA_ROOT_KEY: sim.rootKey,
    NODE_EXTRA_CA_CERTS: sim.caFile,
    LOG_LEVEL: 'warn',
    RETENTION_DAYS: String(options.retentionSeconds / 86_400),
    ...(redisServer ? { REDIS_URL: redisServer.url } : {}),
  };
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [`--inspect=127.0.0.1:${inspectorPort}`, 'session-host/main.ts'], { cwd: ROOT, env, stdio: 'ignore' });
  const size = () => (redis ? redisSize(redis) : Promise.resolve(fileStoreSize(join(dataDir, 'store'))));
  try {
    while (
      !(await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      await sleep(50);
    const link = await LinkClient.connect(url, SECRET);
    // The edge acknowledges every journaled event it applied; so does this bench, as they come.
    link.on('event', (e: { seq?: number }) => e.seq !== undefined && link.ack(e.seq));
    await link.request('device.upsert', { id: 'soak' });
    const state = await link.request('device.connect', { id: 'soak' });
    await fetch(`${sim.control}/api/scan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: state.qr }) });
    await link.nextEvent('device.status', (d) => d.id === 'soak' && d.status === 'CONNECTED', 30_000);
    const to = '6281999000003@s.whatsapp.net';
    const send = (i: number) => link.request('message.send', { deviceId: 'soak', to, text: `soak ${i}`, ...(i % 2 ? { outboxId: `soak-${backend}-${i}` } : {}) });
    // A first send opens the encryption session; wait for its records to expire, for a clean start.
    await send(-1);
    const retentionMs = options.retentionSeconds * 1000;
    await sleep(retentionMs + Math.max(1_000, retentionMs / 50));
    // The link's own event list grows with every event: the bench keeps only what it needs.
    link.events.length = 0;
    const before = { store: await size(), host: await hostMemory(inspectorPort) };
    log(`${backend}: before ${JSON.stringify(before)}`);

    const started = performance.now();
    let next = 0;
    let failed = 0;
    const worker = async () => {
      for (let i = next++; i < options.sends; i = next++) {
        await send(i).catch(() => failed++);
        if (i % 5_000 === 0 && i) log(`${backend}: ${i} sent`);
        link.events.length = 0;
        // Yield between sends, as the raw Baileys bench does: acks must not pile up behind a loop.
        await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    const end = { store: await size(), host: await hostMemory(inspectorPort) };
    log(`${backend}: ${options.sends} sends in ${seconds.toFixed(1)} s; end ${JSON.stringify(end)}`);

    // Past the retention (and the file store's sweep interval, a hundredth of it).
    await sleep(retentionMs + Math.max(1_000, retentionMs / 50) + 2_000);
    const after = { store: await size(), host: await hostMemory(inspectorPort) };
    log(`${backend}: after the retention ${JSON.stringify(after)}`);
    let settled: typeof after | undefined;
    if (options.settleSeconds) {
      await sleep(options.settleSeconds * 1000);
      settled = { store: await size(), host: await hostMemory(inspectorPort) };
      log(`${backend}: ${options.settleSeconds} s later ${JSON.stringify(settled)}`);
    }
    link.close();
    return {
      sends: options.sends,
      failed,
      seconds: Math.round(seconds * 10) / 10,
      perSecond: Math.round(options.sends / seconds),
      before,
      end,
      after,
      ...(settled ? { settled, settledAfterSeconds: options.settleSeconds } : {}),
      deltaAfter: {
        keys: after.store.keys - before.store.keys,
        storeMb: mb(after.store.bytes - before.store.bytes),
        ...(after.store.files === undefined ? {} : { files: after.store.files - before.store.files! }),
        rssMb: Math.round((after.host.rssMb - before.host.rssMb) * 100) / 100,
        heapUsedMb: Math.round((after.host.heapUsedMb - before.host.heapUsedMb) * 100) / 100,
      },
    };
  } finally {
    await new Promise((r) => (child.once('exit', r), child.kill('SIGTERM')));
    redis?.disconnect();
    await redisServer?.stop();
  }
}

export async function runRetentionBench() {
  const options = {
    sends: Math.round(setting('RETENTION_SENDS', 5_000)),
    retentionSeconds: setting('RETENTION_SECONDS', 30),
    concurrency: Math.round(setting('RETENTION_CONCURRENCY', 8)),
    settleSeconds: process.env.RETENTION_SETTLE_SECONDS ? setting('RETENTION_SETTLE_SECONDS', 0) : 0,
  };
  const stores = (process.env.RETENTION_STORES ?? 'files,redis').split(',').map((s) => s.trim());
  for (const store of stores) if (store !== 'files' && store !== 'redis') throw new Error(`RETENTION_STORES: unknown store ${JSON.stringify(store)} (files, redis)`);
  const sim = await startSimProcess();
  try {
    const results: Record<string, Awaited<ReturnType<typeof soakOneStore>>> = {};
    for (const store of stores as ('files' | 'redis')[]) results[store] = await soakOneStore(sim, store, options);
    return { retentionSeconds: options.retentionSeconds, concurrency: options.concurrency, ...results };
  } finally {
    sim.child.kill('SIGTERM');
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runRetentionBench(), null, 2));
  process.exit(0);
}
