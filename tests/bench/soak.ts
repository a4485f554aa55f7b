// Memory soak: steady sends through the whole stack (HTTP → Worker → HostLink Durable Object →
// link → session host → Baileys → simulator) for a while, then an idle pause, printing the memory
// of every process on the way: workerd (the Workers runtime under `wrangler dev`), wrangler's own
// Node process, the Worker's JS heap (read over the DevTools protocol from wrangler's inspector),
// and the session host's RSS and heap (from its /metrics).
//
// The JS heap next to workerd's RSS tells our objects apart from the runtime's: what our code
// keeps shows in the heap; what grows only in RSS is the local runtime's (on Cloudflare a
// Durable Object is limited to 128 MB of isolate memory, which the heap is what counts against).
//
// SOAK_SECONDS (default 180) sets how long sends go on, SOAK_IDLE_SECONDS (default 30) the pause
// after them, SOAK_CONCURRENCY (default 8) how many clients send at once, SOAK_SAMPLE_SECONDS
// (default 30) how often memory is printed. Progress goes to stderr; the result is returned.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, startStack, type Stack } from '../stack/stack.ts';
import { startSimProcess } from './stack.ts';

const MB = 1024 * 1024;
const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : Math.round((bytes / MB) * 10) / 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of seconds, got ${process.env[name]}`);
  return value;
};

// ───────────── processes ─────────────

interface ProcessInfo {
  pid: number;
  ppid: number;
  name: string;
}

function processes(): ProcessInfo[] {
  const list: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The name is in parentheses and may itself hold spaces or parentheses.
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      list.push({ pid: Number(entry), ppid, name });
    } catch {
      // gone meanwhile
    }
  }
  return list;
}

/** `root` and every process under it. */
function tree(root: number): ProcessInfo[] {
  const all = processes();
  const found = all.filter((p) => p.pid === root);
  for (let i = 0; i < found.length; i++) found.push(...all.filter((p) => p.ppid === found[i]!.pid));
  return found;
}

/** Resident memory of a process, split into anonymous (heap, stacks…) and file-backed pages. */
function rss(pid: number): { rss: number; anon: number; file: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
  } catch {
    return undefined;
  }
}

// ───────────── the Worker's JS heap, over the DevTools protocol ─────────────

/** A DevTools protocol session with one isolate. */
class Inspector {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly socket: WebSocket;
  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : this.waiting.get(message.id);
      if (!waiter) return;
      this.waiting.delete(message.id!);
      if (message.error) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    });
  }

  static async open(url: string): Promise<Inspector> {
    // `ws` sends neither Origin nor User-Agent, which wrangler's inspector proxy takes as a local tool.
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', (error) => reject(new Error(`cannot open ${url}: ${error.message}`)));
    });
    return new Inspector(socket);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** V8's heap: in use, and committed (what the isolate holds from the process). */
  heap(): Promise<{ usedSize: number; totalSize: number } | undefined> {
    return this.call<{ usedSize: number; totalSize: number }>('Runtime.getHeapUsage').catch(() => undefined);
  }

  close(): void {
    this.socket.close();
  }
}

type Target = { id: string; webSocketDebuggerUrl?: string };
const targets = async (port: number) => (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Target[];

/** The Worker's isolate (where the HostLink Durable Object runs too), through wrangler's inspector proxy. */
async function workerInspector(stack: Stack): Promise<Inspector> {
  // The stack picks a free port and passes it on wrangler's command line.
  const args = readFileSync(`/proc/${stack.edge.pid}/cmdline`, 'utf8').split('\0');
  const port = Number(args[args.indexOf('--inspector-port') + 1]);
  const url = (await targets(port)).find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${port}`);
  return Inspector.open(url);
}

/** TCP ports `pid` listens on. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
    } catch {
      // closed meanwhile
    }
  }
  return readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[3] === '0A' && inodes.has(f[9]!))
    .map((f) => parseInt(f[1]!.split(':')[1]!, 16));
}

/**
 * Miniflare's own isolates in the Worker's workerd (the local D1, the entry worker, the cache…),
 * through workerd's inspector: their heaps are in workerd's RSS too, and do not exist on Cloudflare.
 */
async function runtimeInspectors(stack: Stack): Promise<Map<string, Inspector>> {
  const workerd = tree(stack.edge.pid!).find((p) => p.name === 'workerd' && readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes('--inspector-addr'));
  const found = new Map<string, Inspector>();
  if (!workerd) return found;
  for (const port of listeningPorts(workerd.pid)) {
    const list = await targets(port).catch(() => undefined);
    if (!Array.isArray(list)) continue;
    // The user Worker's isolate is wrangler's proxy's to hold.
    for (const t of list) if (t.webSocketDebuggerUrl && !t.id.startsWith('core:user')) found.set(t.id, await Inspector.open(t.webSocketDebuggerUrl));
    break;
  }
  return found;
}

// ───────────── samples ─────────────

export interface Sample {
  phase: string;
  atSeconds: number;
  sends: number;
  /** Each workerd process under wrangler dev: the Worker's (with Miniflare's services), the dev proxy's. */
  workerdRssMb: number[];
  workerdAnonMb: number[];
  wranglerNodeRssMb?: number;
  /** The Worker's isolate, where the HostLink Durable Object runs too: what counts against the 128 MB. */
  workerJsHeapMb?: number;
  workerJsHeapCommittedMb?: number;
  /** Miniflare's own isolates in the Worker's workerd (local D1, entry worker…), summed. */
  runtimeJsHeapMb?: number;
  runtimeJsHeapCommittedMb?: number;
  hostRssMb?: number;
  hostHeapMb?: number;
  /** Memory outside V8's heap: Buffers, WebAssembly memories (Baileys' crypto), native objects. */
  hostExternalMb?: number;
  hostArrayBuffersMb?: number;
}

type NodeMemory = { rss: number; heapUsed: number; external: number; arrayBuffers: number };

/** The host's memory after a full collection (through its inspector), else as its /metrics has it. */
async function hostMemory(stack: Stack, inspector: Inspector | undefined): Promise<Partial<NodeMemory> | undefined> {
  if (inspector) {
    await inspector.call('HeapProfiler.collectGarbage').catch(() => undefined);
    const evaluated = await inspector
      .call<{ result: { value?: string } }>('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })
      .catch(() => undefined);
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

interface Inspectors {
  worker?: Inspector;
  runtime: Map<string, Inspector>;
  host?: Inspector;
}

async function sample(stack: Stack, inspectors: Inspectors, phase: string, atSeconds: number, sends: number): Promise<Sample> {
  const procs = tree(stack.edge.pid!);
  const workerd = procs.filter((p) => p.name === 'workerd').map((p) => rss(p.pid)).filter((m) => m !== undefined);
  // wrangler's bin script starts the CLI in a child Node process (Node names its thread MainThread).
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  const node = procs.find((p) => p.name !== 'workerd' && cmdline(p.pid).includes('wrangler-dist/cli.js'));
  const workerHeap = await inspectors.worker?.heap();
  const runtimeHeaps = (await Promise.all([...inspectors.runtime.values()].map((i) => i.heap()))).filter((h) => h !== undefined);
  const total = (key: 'usedSize' | 'totalSize') => (runtimeHeaps.length ? mb(runtimeHeaps.reduce((a, h) => a + h[key], 0)) : undefined);
  const host = await hostMemory(stack, inspectors.host);
  return {
    phase,
    atSeconds,
    sends,
    workerdRssMb: workerd.map((m) => mb(m.rss)!),
    workerdAnonMb: workerd.map((m) => mb(m.anon)!),
    wranglerNodeRssMb: node && mb(rss(node.pid)?.rss),
    workerJsHeapMb: mb(workerHeap?.usedSize),
    workerJsHeapCommittedMb: mb(workerHeap?.totalSize),
    runtimeJsHeapMb: total('usedSize'),
    runtimeJsHeapCommittedMb: total('totalSize'),
    hostRssMb: mb(host?.rss),
    hostHeapMb: mb(host?.heapUsed),
    hostExternalMb: mb(host?.external),
    hostArrayBuffersMb: mb(host?.arrayBuffers),
  };
}

/**
 * A full collection in every isolate, so heaps show what is held rather than what is not yet
 * collected. workerd runs it when an isolate next has work, so requests that touch the Worker and
 * the local D1 go in until every isolate has collected (or a few seconds have passed).
 */
async function collectGarbage(stack: Stack, inspectors: Inspectors): Promise<void> {
  const all = [inspectors.worker, ...inspectors.runtime.values()].filter((i) => i !== undefined);
  let done = false;
  const collected = Promise.all(all.map((i) => i.call('HeapProfiler.collectGarbage').catch(() => undefined))).then(() => (done = true));
  const poke = () => fetch(`${stack.edgeUrl}/api/devices`, { headers: { authorization: `Bearer ${stack.adminKey}` } }).then((r) => r.arrayBuffer());
  // Isolates nothing reaches (the local cache, email…) do not collect; their heaps do not move either.
  for (let i = 0; !done && i < 10; i++) await Promise.race([collected, sleep(200).then(poke)]);
}

// ───────────── the soak ─────────────

export async function runSoakBench(
  options: { sendSeconds?: number; idleSeconds?: number; concurrency?: number; sampleSeconds?: number; log?: (line: string) => void } = {},
) {
  const sendSeconds = options.sendSeconds ?? seconds('SOAK_SECONDS', 180);
  const idleSeconds = options.idleSeconds ?? seconds('SOAK_IDLE_SECONDS', 30);
  const sampleSeconds = options.sampleSeconds ?? seconds('SOAK_SAMPLE_SECONDS', 30);
  const concurrency = options.concurrency ?? Number(process.env.SOAK_CONCURRENCY ?? 8);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const sim = await startSimProcess();
  let stack: Stack | undefined;
  const inspectors: Inspectors = { runtime: new Map() };
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

    inspectors.worker = await workerInspector(stack).catch((error: Error) => (log(`soak: no Worker heap figures: ${error.message}`), undefined));
    inspectors.runtime = await runtimeInspectors(stack).catch((error: Error) => (log(`soak: no runtime heap figures: ${error.message}`), new Map()));
    if (hostInspectorUrl) inspectors.host = await Inspector.open(hostInspectorUrl).catch(() => undefined);
    let started = performance.now();
    const samples: Sample[] = [];
    let sends = 0;
    let failures = 0;
    const take = async (phase: string) => {
      const at = Math.round((performance.now() - started) / 1000);
      await collectGarbage(stack!, inspectors);
      const s = await sample(stack!, inspectors, phase, at, sends);
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
      samples,
    };
  } finally {
    for (const i of [inspectors.worker, inspectors.host, ...inspectors.runtime.values()]) i?.close();
    await stack?.stop();
    sim.child.kill('SIGTERM');
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runSoakBench(), null, 2));
  process.exit(0);
}
