// Benchmark: the session host's memory per connected device at 1, 10 and 50 devices, and how
// long they take to come back after a restart; and the WhatsApp simulator in its own process
// (`npm run sim`), which the benchmarks share, so that the clients they compare compete with it
// alike. Sends through the whole stack against raw Baileys are in sends.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LinkClient } from '../support/link-client.ts';
import { freePort } from '../../bin/stack.ts';

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
    const state = await fetch(`${control}/api/state`).then(
      (r) => r.json() as Promise<{ wsUrl: string; rootPublicKey: string }>,
      () => undefined,
    );
    if (state) return { child, control, wsUrl: state.wsUrl, rootKey: state.rootPublicKey, caFile: join(dataDir, 'ca.pem') };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('simulator did not start');
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** The host's memory with `devices` linked and idle, reopened from saved credentials. */
async function hostMemory(sim: SimProcess, devices: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-mem-'));
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), HOST_SECRET: SECRET, DATA_DIR: dataDir, WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootKey, NODE_EXTRA_CA_CERTS: sim.caFile, LOG_LEVEL: 'warn' };
  const url = `http://127.0.0.1:${port}`;
  const spawnHost = async () => {
    const child = spawn(process.execPath, ['session-host/main.ts'], { cwd: ROOT, env, stdio: 'ignore' });
    while (
      !(await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      await new Promise((r) => setTimeout(r, 50));
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
  const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } })).text();
  const value = (name: string) => Number(metrics.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
  const memory = { rssBytes: value('process_resident_memory_bytes'), heapBytes: value('nodejs_heap_used_bytes'), restoreSeconds };
  await stop(child);
  return memory;
}

export async function runHostMemoryBench(options: { deviceCounts?: number[] } = {}) {
  const sim = await startSimProcess();
  try {
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
      hostMemory: { baselineRssMb: Math.round((baseline.rssBytes / 1024 / 1024) * 10) / 10, baselineHeapMb: Math.round((baseline.heapBytes / 1024 / 1024) * 10) / 10, perDevice },
    };
  } finally {
    sim.child.kill('SIGTERM');
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runHostMemoryBench(), null, 2));
}
