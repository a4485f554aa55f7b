// Benchmark: many idle devices on one session host (300 by default). The devices are linked to
// the simulator (several pairings at once), the host process is stopped and started again on its
// file store, and we measure how long it takes until every device is CONNECTED again without a
// QR code, then the host's memory per idle device against the same host with no device.
//
//   BENCH_DEVICES       how many devices (default 300)
//   BENCH_FULL_PAIRING=1  link with Baileys' full pre-key upload (812 per device) instead of the
//                       simulator's lighter mode for idle devices; restore does not upload
//                       pre-keys either way, so only the linking time differs
//
// The simulator runs in its own process, so the host's figures are its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LinkClient } from '../support/link-client.ts';
import { freePort } from '../../bin/stack.ts';
import { startSimProcess, type SimProcess } from './stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SECRET = 'bench-devices-secret-0123456789abcdef';
/** Pairings at once while linking (each makes Baileys generate and upload 812 pre-keys). */
const LINK_CONCURRENCY = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** A session host process on `dataDir`, with the given extra environment. */
async function spawnHost(sim: SimProcess, dataDir: string, port: number, extra: Record<string, string> = {}) {
  const env = { ...process.env, PORT: String(port), HOST_SECRET: SECRET, DATA_DIR: dataDir, WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootKey, NODE_EXTRA_CA_CERTS: sim.caFile, LOG_LEVEL: 'warn', ...extra };
  const child = spawn(process.execPath, ['session-host/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  while (
    !(await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null) throw new Error(`the session host exited with ${child.exitCode}`);
    await sleep(20);
  }
  return { child, url };
}

const stop = (child: ChildProcess) => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM')));

async function memoryOf(url: string) {
  const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } })).text();
  const value = (name: string) => Number(metrics.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
  return { rss: value('process_resident_memory_bytes'), heap: value('nodejs_heap_used_bytes') };
}

/** CPU seconds (user + system) a process has used so far. */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const loadAverage = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

const simRssMb = (sim: SimProcess) => mb(Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${sim.child.pid}/status`, 'utf8'))?.[1]) * 1024);

export async function runDevicesBench(options: { devices?: number } = {}) {
  const devices = options.devices ?? Number(process.env.BENCH_DEVICES ?? 300);
  const fullPairing = process.env.BENCH_FULL_PAIRING === '1';
  const sim = await startSimProcess(fullPairing ? {} : { SIM_IDLE_DEVICES: '1' });
  try {
    const port = await freePort();
    // The host with no device at all: the baseline the per-device figures are taken against.
    const empty = await spawnHost(sim, mkdtempSync(join(tmpdir(), 'bench-devices-empty-')), port);
    await sleep(3_000);
    const baseline = await memoryOf(empty.url);
    await stop(empty.child);

    const dataDir = mkdtempSync(join(tmpdir(), 'bench-devices-'));
    let host = await spawnHost(sim, dataDir, port);
    const link = await LinkClient.connect(host.url, SECRET);
    const ids = Array.from({ length: devices }, (_, i) => `idle${i}`);
    const linkStarted = performance.now();
    let next = 0;
    const linkOne = async () => {
      for (let i = next++; i < devices; i = next++) {
        const id = ids[i]!;
        await link.request('device.upsert', { id });
        const state = await link.request('device.connect', { id });
        const scanned = await fetch(`${sim.control}/api/scan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: state.qr }) });
        if (!scanned.ok) throw new Error(`scan of ${id} failed: ${await scanned.text()}`);
        await link.nextEvent('device.status', (d) => d.id === id && d.status === 'CONNECTED', 60_000);
      }
    };
    await Promise.all(Array.from({ length: LINK_CONCURRENCY }, linkOne));
    const linkSeconds = (performance.now() - linkStarted) / 1000;
    link.close();
    await stop(host.child);

    // The restart: from spawning the process to every device CONNECTED, as the edge sees it.
    const started = performance.now();
    host = await spawnHost(sim, dataDir, port);
    const startedSeconds = (performance.now() - started) / 1000;
    const relink = await LinkClient.connect(host.url, SECRET);
    let connected = 0;
    for (;;) {
      const { devices: states } = await relink.request('host.status', {});
      connected = states.filter((d) => d.status === 'CONNECTED').length;
      if (connected === devices) break;
      if (performance.now() - started > 120_000) throw new Error(`only ${connected} of ${devices} devices restored after 120 s`);
      await sleep(20);
    }
    const restoreSeconds = (performance.now() - started) / 1000;
    // CPU as well as wall time: on a shared machine the wall time says as much about the neighbours.
    const restoreCpuSeconds = cpuSeconds(host.child.pid!);
    const load = loadAverage();
    const qrsShown = relink.events.filter((e) => e.event === 'device.status' && (e.data as { status: string }).status === 'QR').length;
    relink.close();

    await sleep(3_000); // idle: let start-up garbage settle
    const loaded = await memoryOf(host.url);
    await stop(host.child);
    const perDevice = (bytes: number) => Math.round((bytes / devices / 1024 / 1024) * 1000) / 1000;
    return {
      devices,
      pairing: fullPairing ? 'full' : 'idle devices (no pre-key upload)',
      linkSeconds: Math.round(linkSeconds * 10) / 10,
      restore: { seconds: Math.round(restoreSeconds * 100) / 100, hostStartSeconds: Math.round(startedSeconds * 100) / 100, hostCpuSeconds: restoreCpuSeconds, loadAverage: load, qrsShown, targetSeconds: 10 },
      memory: {
        rssMbPerDevice: perDevice(loaded.rss - baseline.rss),
        heapMbPerDevice: perDevice(loaded.heap - baseline.heap),
        processRssMb: mb(loaded.rss),
        processHeapMb: mb(loaded.heap),
        baselineRssMb: mb(baseline.rss),
        baselineHeapMb: mb(baseline.heap),
        targets: { rssMbPerDevice: 2, heapMbPerDevice: 0.5 },
      },
      simulatorRssMb: simRssMb(sim),
    };
  } finally {
    sim.child.kill('SIGTERM');
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runDevicesBench(), null, 2));
  process.exit(0);
}
