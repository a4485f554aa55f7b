// Memory soak: steady sends through the whole stack (HTTP → Worker → HostLink Durable Object →
// link → session host → Baileys → simulator) for a while, then an idle pause, printing the memory
// of every process on the way: workerd (the Workers runtime under `wrangler dev`), wrangler's own
// Node process, the Worker's JS heap (read over the DevTools protocol from wrangler's inspector),
// and the session host's RSS and heap (from its /metrics).
//
// The JS heap next to workerd's RSS tells our objects apart from the runtime's: what our code
// keeps shows in the heap; what grows only in RSS is the local runtime's (on Cloudflare a
// Durable Object is limited to 128 MB of isolate memory, which the heap is what counts against).
// To show which is which, trivial Workers then run under the same `wrangler dev`, with the
// same concurrency, measured the same way (workerd-baselines.ts): one returning "ok", one making
// a send's local D1 queries, one a Durable Object RPC. A table at the end sets their growth per
// request beside the gateway's, and it goes into the result.
//
// SOAK_SECONDS (default 180) sets how long sends go on, SOAK_IDLE_SECONDS (default 30) the pause
// after them, SOAK_CONCURRENCY (default 8) how many clients send at once, SOAK_SAMPLE_SECONDS
// (default 30) how often memory is printed; SOAK_BASELINE_* are workerd-baselines.ts's. Progress
// and the table go to stderr; the result is returned.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startStack, type Stack } from '../../bin/stack.ts';
import { closeInspectors, collectGarbage, edgeInspectors, edgeMemory, growthPerRequest, Inspector, mb, sleep, type EdgeInspectors, type EdgeMemory, type GrowthPerRequest } from './memory.ts';
import { startSimProcess } from './stack.ts';
import { baselineSettings, D1_QUERIES_PER_SEND, DO_RPCS_PER_SEND, runWorkerdBaselines, type BaselineResult } from './workerd-baselines.ts';

const seconds = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of seconds, got ${process.env[name]}`);
  return value;
};

// ───────────── samples ─────────────

/** The edge's memory (see memory.ts) and the session host's, at one moment of the soak. */
export type Sample = { phase: string; atSeconds: number; sends: number } & EdgeMemory & {
    hostRssMb?: number;
    hostHeapMb?: number;
    /** Memory outside V8's heap: Buffers, WebAssembly memories (Baileys' crypto), native objects. */
    hostExternalMb?: number;
    hostArrayBuffersMb?: number;
  };

type NodeMemory = { rss: number; heapUsed: number; external: number; arrayBuffers: number };

/** The host's memory after a full collection (through its inspector), else as its /metrics has it. */
async function hostMemory(stack: Stack, inspector: Inspector | undefined): Promise<Partial<NodeMemory> | undefined> {
  if (inspector) {
    await inspector.call('HeapProfiler.collectGarbage').catch(() => undefined);
    const evaluated = await inspector.call<{ result: { value?: string } }>('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true }).catch(() => undefined);
    if (evaluated?.result.value) return JSON.parse(evaluated.result.value) as NodeMemory;
  }
  try {
    const text = await (await fetch(`${stack.hostUrl}/metrics`, { headers: { authorization: `Bearer ${stack.hostSecret}` } })).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    return { rss: value('process_resident_memory_bytes'), heapUsed: value('nodejs_heap_used_bytes') };
  } catch {
    return undefined;
  }
}

async function sample(stack: Stack, edge: EdgeInspectors, host: Inspector | undefined, phase: string, atSeconds: number, sends: number): Promise<Sample> {
  const memory = await edgeMemory(stack.edge.pid!, edge);
  const hostNow = await hostMemory(stack, host);
  return {
    phase,
    atSeconds,
    sends,
    ...memory,
    hostRssMb: mb(hostNow?.rss),
    hostHeapMb: mb(hostNow?.heapUsed),
    hostExternalMb: mb(hostNow?.external),
    hostArrayBuffersMb: mb(hostNow?.arrayBuffers),
  };
}

// ───────────── the soak ─────────────

type SoakOptions = { sendSeconds?: number; idleSeconds?: number; concurrency?: number; sampleSeconds?: number; log?: (line: string) => void };

/** Steady sends through the whole stack, with every process's memory sampled. */
async function soakGateway(options: SoakOptions) {
  const sendSeconds = options.sendSeconds ?? seconds('SOAK_SECONDS', 180);
  const idleSeconds = options.idleSeconds ?? seconds('SOAK_IDLE_SECONDS', 30);
  const sampleSeconds = options.sampleSeconds ?? seconds('SOAK_SAMPLE_SECONDS', 30);
  const concurrency = options.concurrency ?? Number(process.env.SOAK_CONCURRENCY ?? 8);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const sim = await startSimProcess();
  let stack: Stack | undefined;
  let edge: EdgeInspectors = { runtime: new Map() };
  let host: Inspector | undefined;
  let hostInspectorUrl: string | undefined;
  try {
    stack = await startStack({
      dataDir: mkdtempSync(join(tmpdir(), 'bench-soak-')),
      edgePort: await freePort(),
      hostPort: await freePort(),
      // The host's inspector, for its heap after a collection and its memory outside the heap.
      hostEnv: { WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootKey, NODE_EXTRA_CA_CERTS: sim.caFile, LOG_LEVEL: 'warn', NODE_OPTIONS: '--inspect=127.0.0.1:0' },
      onOutput: (source, text) => {
        if (source === 'host') hostInspectorUrl ??= /Debugger listening on (ws:\/\/\S+)/.exec(text)?.[1];
      },
    });
    const admin = { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' };
    const device = (await (await fetch(`${stack.edgeUrl}/api/devices`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'soak' }) })).json()) as { id: string; apiKey: string };
    const connect = (await (await fetch(`${stack.edgeUrl}/api/devices/${device.id}/connect`, { method: 'POST', headers: admin, body: '{}' })).json()) as { qr?: string };
    await fetch(`${sim.control}/api/scan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: connect.qr }) });
    for (let i = 0; ; i++) {
      const status = (await (await fetch(`${stack.edgeUrl}/api/status`, { headers: admin })).json()) as { devices: { status: string }[] };
      if (status.devices[0]?.status === 'CONNECTED') break;
      if (i === 200) throw new Error('the device did not connect');
      await sleep(100);
    }

    edge = await edgeInspectors(stack.edge.pid!, (line) => log(`soak: ${line}`));
    if (hostInspectorUrl) host = await Inspector.open(hostInspectorUrl).catch(() => undefined);
    // Touches the Worker and the local D1, so their isolates run the collection asked for.
    const { edgeUrl } = stack;
    const poke = () => fetch(`${edgeUrl}/api/devices`, { headers: admin }).then((r) => r.arrayBuffer());
    let started = performance.now();
    const samples: Sample[] = [];
    let sends = 0;
    let failures = 0;
    const take = async (phase: string) => {
      const at = Math.round((performance.now() - started) / 1000);
      await collectGarbage(edge, poke);
      const s = await sample(stack!, edge, host, phase, at, sends);
      samples.push(s);
      log(`soak ${JSON.stringify(s)}`);
    };
    await take('before');
    started = performance.now();

    // Half the clients use the seed's JSON route, half Fonnte's form-encoded /send; one of those
    // schedules its sends a second ahead, so they go through the HostLink's outbox (at a pace it
    // keeps up with: the queue holds steady rather than growing for the whole run).
    const deviceKey = `Bearer ${device.apiKey}`;
    const scheduler = concurrency >= 4 ? concurrency - 1 : -1;
    const sendOne = async (client: number, n: number) => {
      const to = `62819990${String(client).padStart(2, '0')}${String(n % 100).padStart(3, '0')}`;
      const form: Record<string, string> = { target: to, message: `soak ${client}/${n}` };
      if (client === scheduler) form.schedule = String(Math.ceil(Date.now() / 1000) + 1);
      const res =
        client % 2 === 0
          ? await fetch(`${stack!.edgeUrl}/api/send-message`, {
              method: 'POST',
              headers: { authorization: deviceKey, 'content-type': 'application/json' },
              body: JSON.stringify({ to, message: `soak ${client}/${n}` }),
            })
          : await fetch(`${stack!.edgeUrl}/send`, {
              method: 'POST',
              headers: { authorization: device.apiKey, 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams(form),
            });
      await res.arrayBuffer();
      if (res.ok) sends++;
      else failures++;
      if (client === scheduler) await sleep(250);
    };
    const sendUntil = started + sendSeconds * 1000;
    let nextSample = started + sampleSeconds * 1000;
    const clients = Array.from({ length: concurrency }, async (_, client) => {
      for (let n = 0; performance.now() < sendUntil; n++) await sendOne(client, n);
    });
    const sampler = (async () => {
      while (performance.now() < sendUntil) {
        await sleep(Math.max(0, Math.min(nextSample, sendUntil) - performance.now()));
        if (performance.now() >= sendUntil) break;
        await take('during');
        nextSample += sampleSeconds * 1000;
      }
    })();
    await Promise.all([...clients, sampler]);
    const sendingSeconds = (performance.now() - started) / 1000;
    await take('end of sends');
    const endOfSends = samples.at(-1)!;
    const firstDuring = samples.find((s) => s.phase === 'during');
    await sleep(idleSeconds * 1000);
    await take('after idle');

    const first = samples[0]!;
    const last = samples.at(-1)!;
    const sum = (values: number[]) => Math.round(values.reduce((a, b) => a + b, 0) * 10) / 10;
    const growth = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : Math.round((b - a) * 10) / 10);
    return {
      sendSeconds: Math.round(sendingSeconds),
      idleSeconds,
      concurrency,
      sends,
      failures,
      sendsPerSecond: Math.round((sends / sendingSeconds) * 10) / 10,
      growthMb: {
        workerdRss: growth(sum(first.workerdRssMb), sum(last.workerdRssMb)),
        wranglerNodeRss: growth(first.wranglerNodeRssMb, last.wranglerNodeRssMb),
        workerJsHeap: growth(first.workerJsHeapMb, last.workerJsHeapMb),
        runtimeJsHeap: growth(first.runtimeJsHeapMb, last.runtimeJsHeapMb),
        hostRss: growth(first.hostRssMb, last.hostRssMb),
        hostHeap: growth(first.hostHeapMb, last.hostHeapMb),
        hostExternal: growth(first.hostExternalMb, last.hostExternalMb),
      },
      // Every send is one request to wrangler dev (the collections' pokes, a few dozen, are not counted).
      perRequest: {
        endOfSends: growthPerRequest(first, endOfSends, sends + failures),
        // Past the first sample: what each further send costs once the first ones' one-off
        // growth (caches, pools, JIT) is behind, as the baselines' warm-up puts it behind them.
        steady: firstDuring && growthPerRequest(firstDuring, endOfSends, endOfSends.sends - firstDuring.sends),
        afterIdle: growthPerRequest(first, last, sends + failures),
      },
      samples,
    };
  } finally {
    closeInspectors(edge);
    host?.close();
    await stack?.stop();
    sim.child.kill('SIGTERM');
  }
}

// ───────────── beside the baselines ─────────────

interface Row {
  run: string;
  requestsPerSecond?: number;
  d1?: number;
  rpcs?: number;
  perRequest: GrowthPerRequest;
  heap?: [EdgeMemory, EdgeMemory];
}

/** The table printed at the end: growth per request of the gateway's sends and of each baseline. */
function growthTable(rows: Row[]): string {
  const cell = (value: number | string | undefined, width: number) => String(value ?? '-').padStart(width);
  const heap = (h?: [EdgeMemory, EdgeMemory]) => (h ? `${h[0].workerJsHeapMb ?? '?'} → ${h[1].workerJsHeapMb ?? '?'}` : '-');
  const lines = [
    'workerd growth per request under wrangler dev (KB/request, RSS after a full collection in every isolate)',
    `${'run'.padEnd(26)}${cell('requests', 9)}${cell('req/s', 7)}${cell('D1', 4)}${cell('DO', 4)}${cell('Worker proc', 12)}${cell('dev proxy', 10)}${cell('workerd', 9)}${cell('wrangler', 9)}${cell('JS heap KB', 11)}${cell('JS heap MB', 14)}`,
  ];
  for (const r of rows) {
    const g = r.perRequest;
    lines.push(
      `${r.run.padEnd(26)}${cell(g.requests || undefined, 9)}${cell(r.requestsPerSecond, 7)}${cell(r.d1, 4)}${cell(r.rpcs, 4)}${cell(g.workerProcessKb, 12)}${cell(g.devProxyKb, 10)}${cell(g.workerdKb, 9)}${cell(g.wranglerNodeKb, 9)}${cell(g.workerJsHeapKb, 11)}${cell(heap(r.heap), 14)}`,
    );
  }
  return lines.join('\n');
}

const round = (n: number) => Math.round(n * 10) / 10;

/** What the baselines add up to for a gateway send: the request, its D1 queries and its RPC. */
function predicted(byName: Map<string, BaselineResult>): { row?: Row; perD1QueryKb?: number; perRpcKb?: number } {
  const ok = byName.get('ok')?.perRequest;
  const d1 = byName.get('d1')?.perRequest;
  const rpc = byName.get('do')?.perRequest;
  if (!ok?.workerProcessKb || !d1?.workerProcessKb || !rpc?.workerProcessKb) return {};
  const key = (k: 'workerProcessKb' | 'devProxyKb' | 'workerdKb' | 'wranglerNodeKb') => (ok[k] === undefined || d1[k] === undefined || rpc[k] === undefined ? undefined : round(d1[k] + rpc[k] - ok[k]));
  return {
    row: {
      run: 'ok + D1 + DO (predicted)',
      d1: D1_QUERIES_PER_SEND,
      rpcs: DO_RPCS_PER_SEND,
      perRequest: { requests: 0, workerProcessKb: key('workerProcessKb'), devProxyKb: key('devProxyKb'), workerdKb: key('workerdKb'), wranglerNodeKb: key('wranglerNodeKb') },
    },
    perD1QueryKb: round((d1.workerProcessKb - ok.workerProcessKb) / D1_QUERIES_PER_SEND),
    perRpcKb: round(rpc.workerProcessKb - ok.workerProcessKb),
  };
}

/**
 * The soak, then the same request count and concurrency against trivial Workers under the same
 * `wrangler dev` (workerd-baselines.ts), with the growth per request of each printed side by side.
 */
export async function runSoakBench(options: SoakOptions = {}) {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const gateway = await soakGateway({ ...options, log });
  let baselines: BaselineResult[] = [];
  let baselineError: string | undefined;
  try {
    baselines = await runWorkerdBaselines({ ...baselineSettings(gateway.concurrency, gateway.sends + gateway.failures), log });
  } catch (error) {
    // The soak's own figures stand without them.
    baselineError = (error as Error).message;
    log(`soak: baselines failed: ${baselineError}`);
  }
  const first = gateway.samples[0]!;
  const end = gateway.samples.find((s) => s.phase === 'end of sends')!;
  const byName = new Map(baselines.map((b) => [b.name, b]));
  const sum = predicted(byName);
  const rows: Row[] = [
    { run: 'gateway send', requestsPerSecond: gateway.sendsPerSecond, d1: D1_QUERIES_PER_SEND, rpcs: DO_RPCS_PER_SEND, perRequest: gateway.perRequest.endOfSends, heap: [first, end] },
    ...(gateway.perRequest.steady
      ? [{ run: 'gateway, past 1st sample', perRequest: gateway.perRequest.steady, heap: [gateway.samples.find((s) => s.phase === 'during')!, end] as [EdgeMemory, EdgeMemory] }]
      : []),
    { run: `gateway, +${gateway.idleSeconds} s idle`, perRequest: gateway.perRequest.afterIdle, heap: [first, gateway.samples.at(-1)!] },
    ...baselines.map(
      (b): Row => ({ run: `baseline ${b.name}`, requestsPerSecond: b.requestsPerSecond, d1: b.d1QueriesPerRequest, rpcs: b.doRpcsPerRequest, perRequest: b.perRequest, heap: [b.before, b.after] }),
    ),
    ...(sum.row ? [sum.row] : []),
  ];
  const table = growthTable(rows);
  const footer = sum.perD1QueryKb === undefined ? '' : `\nWorker process per local D1 query: ${sum.perD1QueryKb} KB; per Durable Object RPC: ${sum.perRpcKb} KB (from the baselines)`;
  log(`\n${table}${footer}\n`);
  return {
    ...gateway,
    workerdBaselines: {
      d1QueriesPerSend: D1_QUERIES_PER_SEND,
      doRpcsPerSend: DO_RPCS_PER_SEND,
      perD1QueryKb: sum.perD1QueryKb,
      perDoRpcKb: sum.perRpcKb,
      predictedPerSendKb: sum.row?.perRequest,
      runs: baselines,
      ...(baselineError ? { error: baselineError } : {}),
    },
    table: table.split('\n'),
  };
}

if (import.meta.main) {
  console.log(JSON.stringify(await runSoakBench(), null, 2));
  process.exit(0);
}
