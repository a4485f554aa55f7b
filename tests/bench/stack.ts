// Benchmark: sending through the whole gateway (HTTP → Worker → Durable Object → link → session
// host → Baileys → simulator) against raw Baileys sending to the same simulator, in the same run;
// and the session host's memory per connected device at 1, 10 and 50 devices.
//
// The simulator runs in its own process (`npm run sim`) for both measurements, so the raw client
// and the gateway compete with it alike. Latency is the time until the send is accepted: the HTTP
// answer for the gateway, `sendMessage` resolving for raw Baileys (both mean: written to WhatsApp).
import makeWASocket, { WA_CERT_DETAILS, type WASocket } from '@whiskeysockets/baileys';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { MemoryAuth } from '../support/baileys-client.ts';
import { LinkClient } from '../support/link-client.ts';
import { freePort, startStack } from '../stack/stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SECRET = 'bench-host-secret-0123456789abcdef';

export interface SimProcess {
  child: ChildProcess;
  control: string;
  wsUrl: string;
  rootKey: string;
  caFile: string;
}

export async function startSimProcess(env: Record<string, string> = {}): Promise<SimProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-sim-'));
  const child = spawn(process.execPath, ['tests/wa-sim/cli.ts'], { cwd: ROOT, env: { ...process.env, ...env, SIM_PORT: String(port), SIM_DATA_DIR: dataDir }, stdio: 'ignore' });
  const control = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const state = await fetch(`${control}/api/state`).then((r) => r.json() as Promise<{ wsUrl: string; rootPublicKey: string }>, () => undefined);
    if (state) return { child, control, wsUrl: state.wsUrl, rootKey: state.rootPublicKey, caFile: join(dataDir, 'ca.pem') };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('simulator did not start');
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const yieldToLoop = () => new Promise((r) => setImmediate(r));

/** Sends `count` messages one after another; latency per send, and throughput over the whole run. */
async function measure(count: number, send: (i: number) => Promise<void>) {
  for (let i = 0; i < 20; i++) await send(-1 - i); // warm up: sessions, JIT, connections
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await send(i);
    latencies.push(performance.now() - t);
    await yieldToLoop();
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return { messages: count, p50Ms: round(percentile(latencies, 50)), p99Ms: round(percentile(latencies, 99)), perSecond: round(count / seconds) };
}

async function rawBaileys(sim: SimProcess, count: number) {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(sim.rootKey, 'base64');
  const auth = new MemoryAuth();
  let sock!: WASocket;
  const open = new Promise<void>((resolveOpen) => {
    const connect = () => {
      sock = makeWASocket({
        auth: auth.state,
        waWebSocketUrl: sim.wsUrl,
        logger: pino({ level: 'silent' }),
        fetchAgent: new Agent({ ca: readFileSync(sim.caFile) }),
        shouldSyncHistoryMessage: () => false,
        markOnlineOnConnect: false,
      });
      sock.ev.on('creds.update', (update) => Object.assign(auth.creds, update));
      sock.ev.on('connection.update', (u) => {
        if (u.qr) void post(`${sim.control}/api/scan`, { qr: u.qr });
        if (u.connection === 'open') resolveOpen();
        if (u.connection === 'close' && (u.lastDisconnect?.error as { output?: { statusCode?: number } })?.output?.statusCode === 515) connect();
      });
    };
    connect();
  });
  await open;
  const to = '6281999000001@s.whatsapp.net';
  const result = await measure(count, async (i) => {
    await sock.sendMessage(to, { text: `raw ${i}` });
  });
  sock.end(undefined);
  return result;
}

async function wholeStack(sim: SimProcess, count: number) {
  const stack = await startStack({
    dataDir: mkdtempSync(join(tmpdir(), 'bench-stack-')),
    edgePort: await freePort(),
    hostPort: await freePort(),
    hostEnv: { WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootKey, NODE_EXTRA_CA_CERTS: sim.caFile, LOG_LEVEL: 'warn' },
  });
  try {
    const admin = { authorization: `Bearer ${stack.adminKey}` };
    const device = (await post(`${stack.edgeUrl}/api/devices`, { name: 'bench' }, admin)) as { id: string; apiKey: string };
    const connect = (await post(`${stack.edgeUrl}/api/devices/${device.id}/connect`, {}, admin)) as { qr?: string };
    await post(`${sim.control}/api/scan`, { qr: connect.qr });
    for (let i = 0; i < 100; i++) {
      const status = (await (await fetch(`${stack.edgeUrl}/api/status`, { headers: admin })).json()) as { devices: { status: string }[] };
      if (status.devices[0]?.status === 'CONNECTED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const headers = { authorization: `Bearer ${device.apiKey}` };
    // What `wrangler dev` itself costs per request (its proxy in front of the Worker), so the
    // gateway's own share can be told apart from the local dev server's.
    const devServer = await measure(100, async () => {
      await (await fetch(`${stack.edgeUrl}/healthz`)).text();
    });
    const sends = await measure(count, async (i) => {
      await post(`${stack.edgeUrl}/api/send-message`, { to: '6281999000002', message: `stack ${i}` }, headers);
    });
    return { ...sends, devServerHealthzP50Ms: devServer.p50Ms };
  } finally {
    await stack.stop();
  }
}

/** The host's memory with `devices` linked and idle, reopened from saved credentials. */
async function hostMemory(sim: SimProcess, devices: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-mem-'));
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), HOST_SECRET: SECRET, DATA_DIR: dataDir, WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootKey, NODE_EXTRA_CA_CERTS: sim.caFile, LOG_LEVEL: 'warn' };
  const url = `http://127.0.0.1:${port}`;
  const spawnHost = async () => {
    const child = spawn(process.execPath, ['session-host/main.ts'], { cwd: ROOT, env, stdio: 'ignore' });
    while (!(await fetch(`${url}/healthz`).then((r) => r.ok, () => false))) await new Promise((r) => setTimeout(r, 50));
    return child;
  };
  const stop = (child: ChildProcess) => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM')));
  let child = await spawnHost();
  let restoreSeconds: number | undefined;
  if (devices > 0) {
    const link = await LinkClient.connect(url, SECRET);
    for (let i = 0; i < devices; i++) {
      const id = `mem${i}`;
      await link.request('device.upsert', { id });
      const state = await link.request('device.connect', { id });
      await post(`${sim.control}/api/scan`, { qr: state.qr });
      await link.nextEvent('device.status', (d) => d.id === id && d.status === 'CONNECTED', 30_000);
    }
    link.close();
    await stop(child);
    const started = performance.now();
    child = await spawnHost();
    const link2 = await LinkClient.connect(url, SECRET);
    for (;;) {
      const { devices: states } = await link2.request('host.status', {});
      if (states.filter((d) => d.status === 'CONNECTED').length === devices) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    restoreSeconds = (performance.now() - started) / 1000;
    link2.close();
  }
  await new Promise((r) => setTimeout(r, 3_000)); // idle: let start-up garbage settle
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(metrics.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
  const memory = { rssBytes: value('process_resident_memory_bytes'), heapBytes: value('nodejs_heap_used_bytes'), restoreSeconds };
  await stop(child);
  return memory;
}

export async function runStackBench(options: { messages?: number; deviceCounts?: number[]; skipStack?: boolean } = {}) {
  const messages = options.messages ?? 300;
  const sim = await startSimProcess();
  try {
    const raw = await rawBaileys(sim, messages);
    const stack = options.skipStack ? raw : await wholeStack(sim, messages);
    const baseline = await hostMemory(sim, 0);
    const perDevice: Record<string, unknown> = {};
    for (const n of options.deviceCounts ?? [1, 10, 50]) {
      const m = await hostMemory(sim, n);
      const mb = (bytes: number) => Math.round((bytes / n / 1024 / 1024) * 1000) / 1000;
      perDevice[n] = {
        rssMbPerDevice: mb(m.rssBytes - baseline.rssBytes),
        heapMbPerDevice: mb(m.heapBytes - baseline.heapBytes),
        processRssMb: Math.round((m.rssBytes / 1024 / 1024) * 10) / 10,
        restoreSeconds: m.restoreSeconds && Math.round(m.restoreSeconds * 100) / 100,
      };
    }
    return {
      sends: { raw, stack, throughputRatio: Math.round((stack.perSecond / raw.perSecond) * 100) / 100, addedP50Ms: Math.round((stack.p50Ms - raw.p50Ms) * 100) / 100 },
      hostMemory: { baselineRssMb: Math.round((baseline.rssBytes / 1024 / 1024) * 10) / 10, baselineHeapMb: Math.round((baseline.heapBytes / 1024 / 1024) * 10) / 10, perDevice },
    };
  } finally {
    sim.child.kill('SIGTERM');
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runStackBench(), null, 2));
}
