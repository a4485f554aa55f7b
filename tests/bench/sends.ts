// Benchmark: sends at concurrency 1, 8 and 32 through the whole gateway (HTTP → wrangler dev's
// proxy → Worker → HostLink Durable Object → link → session host → Baileys → simulator) and from
// raw Baileys, against the same simulator process, level by level in the same run: messages/s,
// p50/p99 latency, the ratio, and the CPU each process spends per message.
//
// Fairness: the gateway answers a send only once WhatsApp (here the simulator) has acked it;
// raw Baileys' `sendMessage` resolves when the message is written to the socket. So raw Baileys
// is measured until the server's ack (`CB:ack,class:message` for the message's id), and, for
// reference, until the write as well. The ratio is the gateway's against raw Baileys until the ack.
// Each level is a closed loop: `concurrency` clients, each sending its next message once its
// last one is answered, after a warm-up.
//
// Also: `wrangler dev`'s own per-request cost (its `/healthz`, latency and CPU), the D1 calls and
// the Durable Object and host times per send from the `Server-Timing` headers, and a CPU profile
// of the Worker's isolate (where the HostLink Durable Object runs too) over an extra
// concurrency-8 run, so the profile's overhead stays out of the other figures.
//
// SEND_BENCH_MESSAGES (default 300) sends per level and kind, SEND_BENCH_CONCURRENCY (default
// "1,8,32"), SEND_BENCH_PROFILE_MESSAGES (default 300; 0 = no profile). The table goes to stderr,
// the result is returned.
import makeWASocket, { generateMessageIDV2, WA_CERT_DETAILS, type BinaryNode, type WASocket } from '@whiskeysockets/baileys';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { MemoryAuth } from '../support/baileys-client.ts';
import { freePort, startStack, type Stack } from '../../bin/stack.ts';
import { cpuPerMessage, edgeCpuMs, ownCpuMs, treeCpuMs, type CpuReading } from './cpu.ts';
import { closeInspectors, edgeInspectors } from './memory.ts';
import { startProfile, summariseProfile, type ProfileSummary } from './profile.ts';
import { post, startSimProcess, type SimProcess } from './stack.ts';

function settings() {
  const positive = (name: string, fallback: number, allowZero = false) => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) throw new Error(`${name} must be a whole number${allowZero ? '' : ' above 0'}, got ${process.env[name]}`);
    return value;
  };
  const levels = (process.env.SEND_BENCH_CONCURRENCY ?? '1,8,32').split(',').map(Number);
  if (!levels.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`SEND_BENCH_CONCURRENCY must be whole numbers above 0, comma-separated, got ${process.env.SEND_BENCH_CONCURRENCY}`);
  return { messages: positive('SEND_BENCH_MESSAGES', 300), levels, profileMessages: positive('SEND_BENCH_PROFILE_MESSAGES', 300, true) };
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
// A loop that never yields lets acks pile up (DESIGN.md): every client yields between sends.
const yieldToLoop = () => new Promise((r) => setImmediate(r));

export interface LoadResult {
  messages: number;
  concurrency: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function latencySummary(latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)) };
}

/** `concurrency` clients sending `messages` in all, each its next once its last is answered. */
async function closedLoop(concurrency: number, messages: number, send: (i: number) => Promise<void>): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  const client = async () => {
    for (let i = next++; i < messages; i = next++) {
      const started = performance.now();
      await send(i);
      latencies.push(performance.now() - started);
      await yieldToLoop();
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = (performance.now() - started) / 1000;
  return { messages, concurrency, perSecond: round(messages / seconds, 1), ...latencySummary(latencies) };
}

/** Warms up, then runs the closed loop with the CPU of `cpu`'s processes read before and after. */
async function measured(concurrency: number, messages: number, send: (i: number) => Promise<void>, cpu: () => CpuReading) {
  await closedLoop(concurrency, Math.max(20, concurrency * 3), (i) => send(-1 - i)); // sessions, JIT, connections
  const before = cpu();
  const result = await closedLoop(concurrency, messages, send);
  return { ...result, cpuMsPerMessage: cpuPerMessage(before, cpu(), messages) };
}

// ───────────── raw Baileys ─────────────

interface RawClient {
  /** Sends one text; resolves when it is written, or when the server has acked it. */
  send(text: string, until: 'write' | 'ack'): Promise<void>;
  /** Resolves once every message sent so far has been acked. */
  drained(): Promise<void>;
  close(): void;
}

async function openRawClient(sim: SimProcess): Promise<RawClient> {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(sim.rootKey, 'base64');
  const auth = new MemoryAuth();
  let sock!: WASocket;
  await new Promise<void>((resolveOpen) => {
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
  // Waiters by message id, registered before the send so an ack can never come first unseen.
  const acks = new Map<string, () => void>();
  let allAcked: (() => void) | undefined;
  sock.ws.on('CB:ack,class:message', (node: BinaryNode) => {
    const done = acks.get(node.attrs.id!);
    if (!done) return;
    acks.delete(node.attrs.id!);
    done();
    if (acks.size === 0) allAcked?.();
  });
  const to = '6281999000001@s.whatsapp.net';
  return {
    async send(text, until) {
      const messageId = generateMessageIDV2(sock.user?.id);
      const acked = new Promise<void>((resolveAck) => acks.set(messageId, resolveAck));
      await sock.sendMessage(to, { text }, { messageId });
      if (until === 'ack') await acked;
    },
    drained: () => (acks.size === 0 ? Promise.resolve() : new Promise<void>((r) => (allAcked = r))),
    close: () => sock.end(undefined),
  };
}

// ───────────── the whole stack ─────────────

/** Server-Timing of the sends of one run, summed. */
class TimingTotals {
  responses = 0;
  d1Calls = 0;
  d1Ms = 0;
  doCalls = 0;
  doMs = 0;
  hostMs = 0;

  add(header: string | null): void {
    if (!header) return;
    this.responses++;
    for (const metric of header.split(',')) {
      const [name, ...params] = metric.trim().split(';');
      const dur = Number(params.find((p) => p.startsWith('dur='))?.slice(4) ?? 0);
      if (name === 'd1') {
        this.d1Calls += Number(/"(\d+) calls"/.exec(metric)?.[1] ?? 0);
        this.d1Ms += dur;
      } else if (name === 'do') {
        this.doCalls += Number(/"(\d+) calls"/.exec(metric)?.[1] ?? 0);
        this.doMs += dur;
      } else if (name === 'host') this.hostMs += dur;
    }
  }

  perSend() {
    const n = this.responses || 1;
    return {
      responses: this.responses,
      d1CallsPerSend: round(this.d1Calls / n, 3),
      doCallsPerSend: round(this.doCalls / n, 3),
      d1Ms: round(this.d1Ms / n),
      doMs: round(this.doMs / n),
      hostMs: round(this.hostMs / n),
    };
  }
}

interface StackClient {
  stack: Stack;
  send(text: string, timing?: TimingTotals): Promise<void>;
}

async function openStack(sim: SimProcess): Promise<StackClient> {
  const stack = await startStack({
    dataDir: mkdtempSync(join(tmpdir(), 'bench-sends-')),
    edgePort: await freePort(),
    hostPort: await freePort(),
    hostEnv: { WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootKey, NODE_EXTRA_CA_CERTS: sim.caFile, LOG_LEVEL: 'warn' },
  });
  try {
    const admin = { authorization: `Bearer ${stack.adminKey}` };
    const device = (await post(`${stack.edgeUrl}/api/devices`, { name: 'bench' }, admin)) as { id: string; apiKey: string };
    const connect = (await post(`${stack.edgeUrl}/api/devices/${device.id}/connect`, {}, admin)) as { qr?: string };
    await post(`${sim.control}/api/scan`, { qr: connect.qr });
    for (let i = 0; ; i++) {
      const status = (await (await fetch(`${stack.edgeUrl}/api/status`, { headers: admin })).json()) as { devices: { status: string }[] };
      if (status.devices[0]?.status === 'CONNECTED') break;
      if (i === 200) throw new Error(`the bench device did not connect: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${device.apiKey}` };
    return {
      stack,
      async send(text, timing) {
        const res = await fetch(`${stack.edgeUrl}/api/send-message`, { method: 'POST', headers, body: JSON.stringify({ to: '6281999000002', message: text }) });
        const body = await res.text();
        if (!res.ok) throw new Error(`send: ${res.status} ${body}`);
        timing?.add(res.headers.get('server-timing'));
      },
    };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

// ───────────── the run ─────────────

export interface SendLevel {
  concurrency: number;
  /** Raw Baileys, each send until the simulator's ack: what the gateway is compared with. */
  rawUntilAck: LoadResult & { cpuMsPerMessage: CpuReading };
  /** Raw Baileys, each send until `sendMessage` resolves (written, not yet acked). */
  rawUntilWrite: LoadResult & { cpuMsPerMessage: CpuReading };
  stack: LoadResult & { cpuMsPerMessage: CpuReading; serverTiming: ReturnType<TimingTotals['perSend']> };
  /** Whole-stack messages/s over raw Baileys' (until the ack). */
  ratio: number;
}

// V8 samples by wall clock; more often than this and the sampling itself shows in the run.
const PROFILE_INTERVAL_US = 1000;

export interface WorkerdProfile {
  concurrency: number;
  messages: number;
  samplingIntervalUs: number;
  /** The profiled run's own rate (sampling slows it a little). */
  perSecond: number;
  /** CPU of the whole Worker workerd process (Miniflare's services, local D1 included) per send. */
  workerWorkerdCpuMsPerMessage: number;
  /**
   * Sampled time of the Worker's isolate (the Worker and its Durable Objects) per send. V8 samples
   * by wall clock, so on a busy machine this counts time the thread was preempted, and "(program)"
   * holds workerd's own C++ on that thread; the shares are what to read.
   */
  sampledMsPerMessage: number;
  workerIsolate: ProfileSummary;
}

export async function runSendBench() {
  const { messages, levels, profileMessages } = settings();
  // Other work on the machine slows every figure here: the 1-minute load before and after says how much.
  const loadBefore = round(loadavg()[0]!);
  const sim = await startSimProcess();
  let raw: RawClient | undefined;
  let client: StackClient | undefined;
  try {
    raw = await openRawClient(sim);
    client = await openStack(sim);
    const { stack } = client;
    const simCpu = () => treeCpuMs(sim.child.pid!);
    const rawCpu = () => ({ benchProcess: ownCpuMs(), sim: simCpu() });
    const stackCpu = () => ({ benchProcess: ownCpuMs(), sim: simCpu(), host: treeCpuMs(stack.host.pid!), ...edgeCpuMs(stack.edge.pid!) });

    // What `wrangler dev` itself costs per request (its proxy in front of the Worker, and a
    // trivial route), so the gateway's own share can be told apart from the dev server's.
    const devServer = await measured(1, 200, async () => void (await (await fetch(`${stack.edgeUrl}/healthz`)).text()), stackCpu);
    log(`sends: wrangler dev's /healthz at concurrency 1: p50 ${devServer.p50Ms} ms, ${devServer.perSecond}/s`);

    const results: SendLevel[] = [];
    for (const concurrency of levels) {
      const rawUntilWrite = await measured(concurrency, messages, (i) => raw!.send(`raw ${i}`, 'write'), rawCpu);
      await raw.drained();
      const rawUntilAck = await measured(concurrency, messages, (i) => raw!.send(`raw ${i}`, 'ack'), rawCpu);
      const timing = new TimingTotals();
      const stackRun = await measured(concurrency, messages, (i) => client!.send(`stack ${i}`, i >= 0 ? timing : undefined), stackCpu);
      const level = { concurrency, rawUntilAck, rawUntilWrite, stack: { ...stackRun, serverTiming: timing.perSend() }, ratio: round(stackRun.perSecond / rawUntilAck.perSecond) };
      results.push(level);
      log(`sends: concurrency ${concurrency}: stack ${stackRun.perSecond}/s, raw Baileys ${rawUntilAck.perSecond}/s until the ack (ratio ${level.ratio})`);
    }

    const profile = profileMessages > 0 ? await profileRun(client, Math.min(8, Math.max(...levels)), profileMessages) : undefined;
    const at = (c: number) => results.find((l) => l.concurrency === c);
    const result = {
      messagesPerLevel: messages,
      machine: { cores: availableParallelism(), loadAverageBefore: loadBefore, loadAverageAfter: round(loadavg()[0]!) },
      devServer: { concurrency: 1, p50Ms: devServer.p50Ms, p99Ms: devServer.p99Ms, perSecond: devServer.perSecond, cpuMsPerRequest: devServer.cpuMsPerMessage },
      levels: results,
      targets: {
        /** ≥ 0.5 (goal 0.8). */
        ratioAt32: at(32)?.ratio,
        /** At concurrency 1: the gateway's p50 minus raw Baileys' (until the ack) minus wrangler dev's own; ≤ 5 ms. */
        addedP50OverDevServerMsAt1: at(1) && round(at(1)!.stack.p50Ms - at(1)!.rawUntilAck.p50Ms - devServer.p50Ms),
        /** Steady state: 0. */
        d1CallsPerSend: round(
          results.reduce((a, l) => a + l.stack.serverTiming.d1CallsPerSend * l.stack.serverTiming.responses, 0) /
            Math.max(
              1,
              results.reduce((a, l) => a + l.stack.serverTiming.responses, 0),
            ),
          3,
        ),
      },
      workerdProfile: profile,
    };
    printTable(result);
    return result;
  } finally {
    raw?.close();
    await client?.stack.stop();
    sim.child.kill('SIGTERM');
  }
}

/** An extra run at `concurrency` with the Worker's isolate profiled. */
async function profileRun(client: StackClient, concurrency: number, messages: number): Promise<WorkerdProfile | undefined> {
  const { stack } = client;
  const inspectors = await edgeInspectors(stack.edge.pid!, (line) => log(`sends: ${line}`));
  try {
    if (!inspectors.worker) return undefined;
    await closedLoop(concurrency, 40, (i) => client.send(`profile warm-up ${i}`));
    const cpuBefore = edgeCpuMs(stack.edge.pid!).workerWorkerd;
    const stop = await startProfile(inspectors.worker, PROFILE_INTERVAL_US);
    const run = await closedLoop(concurrency, messages, (i) => client.send(`profile ${i}`));
    const cpuAfter = edgeCpuMs(stack.edge.pid!).workerWorkerd;
    const summary = summariseProfile(await stop());
    return {
      concurrency,
      messages,
      samplingIntervalUs: PROFILE_INTERVAL_US,
      perSecond: run.perSecond,
      workerWorkerdCpuMsPerMessage: round((cpuAfter - cpuBefore) / messages),
      sampledMsPerMessage: round(summary.busyMs / messages),
      workerIsolate: summary,
    };
  } finally {
    closeInspectors(inspectors);
  }
}

// ───────────── the table ─────────────

function printTable(result: Awaited<ReturnType<typeof runSendBench>>): void {
  const pad = (v: unknown, n: number) => String(v ?? '–').padStart(n);
  const cpuKeys = ['benchProcess', 'sim', 'host', 'workerWorkerd', 'devProxyWorkerd', 'wranglerNode'];
  const cpuHead = ['bench', 'sim', 'host', 'workerd', 'proxy', 'wrangler'];
  const row = (label: string, c: number, r: LoadResult & { cpuMsPerMessage: CpuReading }) =>
    `${label.padEnd(16)}${pad(c, 4)}${pad(r.perSecond, 9)}${pad(r.p50Ms, 9)}${pad(r.p99Ms, 9)}   ${cpuKeys.map((k, i) => pad(r.cpuMsPerMessage[k], Math.max(7, cpuHead[i]!.length + 1))).join('')}`;
  log('');
  log(`sends (${result.messagesPerLevel} per run; raw Baileys in the bench process; latency until the simulator's ack unless "write")`);
  log(`machine: ${result.machine.cores} cores, 1-minute load ${result.machine.loadAverageBefore} before, ${result.machine.loadAverageAfter} after`);
  log(`${''.padEnd(16)}${pad('c', 4)}${pad('msg/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}   CPU ms per message:${''}`);
  log(`${''.padEnd(47)}${cpuHead.map((h) => pad(h, Math.max(7, h.length + 1))).join('')}`);
  log(row('dev /healthz', 1, { ...result.devServer, messages: 0, concurrency: 1, cpuMsPerMessage: result.devServer.cpuMsPerRequest }));
  for (const l of result.levels) {
    log(row('raw (write)', l.concurrency, l.rawUntilWrite));
    log(row('raw (ack)', l.concurrency, l.rawUntilAck));
    log(row('whole stack', l.concurrency, l.stack));
    const t = l.stack.serverTiming;
    log(`${''.padEnd(16)}ratio ${l.ratio}; Server-Timing per send: ${t.d1CallsPerSend} D1 calls (${t.d1Ms} ms), ${t.doCallsPerSend} DO calls (${t.doMs} ms), host ${t.hostMs} ms`);
  }
  const t = result.targets;
  log(`targets: ratio at 32 ${t.ratioAt32 ?? '–'} (≥ 0.5), added p50 over wrangler dev at 1 ${t.addedP50OverDevServerMsAt1 ?? '–'} ms (≤ 5), D1 calls per send ${t.d1CallsPerSend} (0)`);
  const p = result.workerdProfile;
  if (!p) return;
  const w = p.workerIsolate;
  log('');
  log(`workerd profile of the Worker's isolate (Worker + HostLink DO), concurrency ${p.concurrency}, ${p.messages} sends at ${p.perSecond}/s while sampled every ${p.samplingIntervalUs} µs:`);
  log(`  the Worker's workerd process used ${p.workerWorkerdCpuMsPerMessage} ms CPU per send; the isolate was sampled busy ${p.sampledMsPerMessage} ms (wall) per send, by part:`);
  for (const c of w.categories) log(`    ${pad(c.percent, 5)}%  ${c.category}`);
  log('  top functions by self time:');
  for (const f of w.topFunctions) log(`    ${pad(f.percent, 5)}%  ${f.function}  ${f.where}  [${f.category}]`);
  log('  top files:');
  for (const f of w.topFiles.slice(0, 10)) log(`    ${pad(f.percent, 5)}%  ${f.file}  [${f.category}]`);
}

if (import.meta.main) {
  console.log(JSON.stringify(await runSendBench(), null, 2));
  process.exit(0); // Baileys leaves timers behind after its sockets close
}
