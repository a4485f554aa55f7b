// Memory of a `wrangler dev` process tree, measured one way for the gateway's soak and for the
// baselines beside it: each workerd process's RSS (the Worker's, with Miniflare's services, and
// the dev proxy's), wrangler's own Node process, and the JS heaps of the isolates in the Worker's
// workerd after a full collection (the Worker's through wrangler's inspector, Miniflare's own
// through workerd's).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import WebSocket from 'ws';

const MB = 1024 * 1024;
export const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : Math.round((bytes / MB) * 10) / 10);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ───────────── processes ─────────────

export interface ProcessInfo {
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
export function tree(root: number): ProcessInfo[] {
  const all = processes();
  const found = all.filter((p) => p.pid === root);
  for (let i = 0; i < found.length; i++) found.push(...all.filter((p) => p.ppid === found[i]!.pid));
  return found;
}

export const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

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

// The Worker's workerd is the one with an inspector; the dev proxy's (wrangler's public port) has none.
export const isWorkerProcess = (pid: number) => cmdline(pid).includes('--inspector-addr');

// ───────────── isolates, over the DevTools protocol ─────────────

/** A DevTools protocol session with one isolate (or one Node process). */
export class Inspector {
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

/** The Worker's isolate (where its Durable Objects run too), through wrangler's inspector proxy. */
async function workerInspector(wranglerPid: number): Promise<Inspector> {
  // The port is on wrangler's command line: whoever starts it picks a free one.
  const args = cmdline(wranglerPid).split('\0');
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
async function runtimeInspectors(wranglerPid: number): Promise<Map<string, Inspector>> {
  const workerd = tree(wranglerPid).find((p) => p.name === 'workerd' && isWorkerProcess(p.pid));
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

export interface EdgeInspectors {
  worker?: Inspector;
  runtime: Map<string, Inspector>;
}

/** Inspectors for every isolate of a running `wrangler dev`; what cannot be opened is logged and left out. */
export async function edgeInspectors(wranglerPid: number, log: (line: string) => void): Promise<EdgeInspectors> {
  const worker = await workerInspector(wranglerPid).catch((error: Error) => (log(`no Worker heap figures: ${error.message}`), undefined));
  const runtime = await runtimeInspectors(wranglerPid).catch((error: Error) => (log(`no runtime heap figures: ${error.message}`), new Map<string, Inspector>()));
  return { worker, runtime };
}

export function closeInspectors(inspectors: EdgeInspectors): void {
  for (const i of [inspectors.worker, ...inspectors.runtime.values()]) i?.close();
}

/**
 * A full collection in every isolate, so heaps show what is held rather than what is not yet
 * collected. workerd runs it when an isolate next has work, so `poke` (a request that touches the
 * Worker and, where it has one, the local D1) goes in until every isolate has collected (or a
 * few seconds have passed).
 */
export async function collectGarbage(inspectors: EdgeInspectors, poke: () => Promise<unknown>): Promise<void> {
  const all = [inspectors.worker, ...inspectors.runtime.values()].filter((i) => i !== undefined);
  let done = false;
  const collected = Promise.all(all.map((i) => i.call('HeapProfiler.collectGarbage').catch(() => undefined))).then(() => (done = true));
  // Isolates nothing reaches (the local cache, email…) do not collect; their heaps do not move either.
  for (let i = 0; !done && i < 10; i++) await Promise.race([collected, sleep(200).then(poke)]);
}

// ───────────── one sample ─────────────

export interface EdgeMemory {
  /** Each workerd process under wrangler dev, in process-tree order. */
  workerdRssMb: number[];
  workerdAnonMb: number[];
  /** The Worker's workerd (the Worker, its Durable Objects, Miniflare's services: local D1…). */
  workerProcessRssMb?: number;
  /** The workerd of wrangler's dev proxy, in front of the Worker's. */
  devProxyRssMb?: number;
  wranglerNodeRssMb?: number;
  /** The Worker's isolate, where its Durable Objects run too: what counts against the 128 MB. */
  workerJsHeapMb?: number;
  workerJsHeapCommittedMb?: number;
  /** Miniflare's own isolates in the Worker's workerd (local D1, entry worker…), summed. */
  runtimeJsHeapMb?: number;
  runtimeJsHeapCommittedMb?: number;
}

/** The memory of `wrangler dev` (by its pid) as it is now; collect garbage first for heaps that mean something. */
export async function edgeMemory(wranglerPid: number, inspectors: EdgeInspectors): Promise<EdgeMemory> {
  const procs = tree(wranglerPid);
  const workerd = procs.filter((p) => p.name === 'workerd').map((p) => ({ pid: p.pid, memory: rss(p.pid) }));
  const measured = workerd.filter((w) => w.memory !== undefined).map((w) => ({ pid: w.pid, memory: w.memory! }));
  const workerProcess = measured.find((w) => isWorkerProcess(w.pid));
  const devProxy = measured.find((w) => w !== workerProcess);
  // wrangler's bin script starts the CLI in a child Node process (Node names its thread MainThread).
  const node = procs.find((p) => p.name !== 'workerd' && cmdline(p.pid).includes('wrangler-dist/cli.js'));
  const workerHeap = await inspectors.worker?.heap();
  const runtimeHeaps = (await Promise.all([...inspectors.runtime.values()].map((i) => i.heap()))).filter((h) => h !== undefined);
  const total = (key: 'usedSize' | 'totalSize') => (runtimeHeaps.length ? mb(runtimeHeaps.reduce((a, h) => a + h[key], 0)) : undefined);
  return {
    workerdRssMb: measured.map((w) => mb(w.memory.rss)!),
    workerdAnonMb: measured.map((w) => mb(w.memory.anon)!),
    workerProcessRssMb: mb(workerProcess?.memory.rss),
    devProxyRssMb: mb(devProxy?.memory.rss),
    wranglerNodeRssMb: node && mb(rss(node.pid)?.rss),
    workerJsHeapMb: mb(workerHeap?.usedSize),
    workerJsHeapCommittedMb: mb(workerHeap?.totalSize),
    runtimeJsHeapMb: total('usedSize'),
    runtimeJsHeapCommittedMb: total('totalSize'),
  };
}

// ───────────── growth per request ─────────────

/** KB of growth per request between two samples, for each figure the table compares. */
export interface GrowthPerRequest {
  requests: number;
  workerdKb?: number;
  workerProcessKb?: number;
  devProxyKb?: number;
  wranglerNodeKb?: number;
  workerJsHeapKb?: number;
  runtimeJsHeapKb?: number;
}

export function growthPerRequest(before: EdgeMemory, after: EdgeMemory, requests: number): GrowthPerRequest {
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const per = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || requests === 0 ? undefined : Math.round((((b - a) * 1024) / requests) * 10) / 10);
  return {
    requests,
    workerdKb: per(sum(before.workerdRssMb), sum(after.workerdRssMb)),
    workerProcessKb: per(before.workerProcessRssMb, after.workerProcessRssMb),
    devProxyKb: per(before.devProxyRssMb, after.devProxyRssMb),
    wranglerNodeKb: per(before.wranglerNodeRssMb, after.wranglerNodeRssMb),
    workerJsHeapKb: per(before.workerJsHeapMb, after.workerJsHeapMb),
    runtimeJsHeapKb: per(before.runtimeJsHeapMb, after.runtimeJsHeapMb),
  };
}
