// Baselines for the soak's reading of workerd's memory: trivial Workers under the same
// `wrangler dev`, sent the same way (requests, concurrency) and measured the same way
// (memory.ts), so the gateway's growth per request can be set beside what the local runtime
// itself costs per request, per local D1 query and per Durable Object RPC.
//
// The Workers are generated into a temp dir at run time:
//   ok      returns "ok";
//   d1      makes a gateway send's D1 queries (D1_QUERIES_PER_SEND), nothing else;
//   do      makes one Durable Object RPC;
//   gateway both, split as a send splits them: the route's queries, and one RPC into a Durable
//           Object that makes the HostLink's (not run by default: its growth is the sum of the
//           others', and it is the slowest).
//
// SOAK_BASELINE_REQUESTS requests per baseline (default: as many as the soak sent, at most 500,
// to stay near a minute and a half), after SOAK_BASELINE_WARMUP (default 100); SOAK_BASELINES
// (default "ok,d1,do") picks which run. Concurrency is the soak's. Short runs read a little high:
// some growth comes once, after the warm-up (measured: the D1 baseline's Worker process 75 KB per
// request over 500 requests, 59 over 2000; "ok" 22 and 19).
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, killGroup, spawnWranglerDev, waitForHealth } from '../../bin/stack.ts';
import { closeInspectors, collectGarbage, edgeInspectors, edgeMemory, growthPerRequest, sleep, type EdgeMemory, type GrowthPerRequest } from './memory.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The local D1 queries one gateway send makes, steady state, direct or through the outbox:
 * in the Worker the device key's lookup (auth.ts), the log row's insert and its update with the
 * outcome (api/send.ts, or the outbox's update in host-link.ts); in the HostLink the host's
 * `message.status` 'sent' event (one update) and the simulator's delivery receipt (the row read,
 * then updated). Plus one RPC into the HostLink (`request`, or `enqueue` for a scheduled send).
 */
export const D1_QUERIES_PER_SEND = 6;
export const DO_RPCS_PER_SEND = 1;

const SCHEMA = [
  'CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, api_key_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL)',
  'CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, device_id TEXT NOT NULL, "to" TEXT NOT NULL, preview TEXT, status TEXT NOT NULL DEFAULT \'queued\', wa_message_id TEXT, sent_at INTEGER, delivered_at INTEGER, created_at INTEGER NOT NULL)',
  "INSERT OR IGNORE INTO devices VALUES ('dev_1', 'hash_1', 'baseline')",
];

// Small inline Workers; the queries mirror the gateway's in shape (by key, by primary key, batches of one).
const D1_PARTS = `
const SCHEMA = ${JSON.stringify(SCHEMA)};
// The route's share: the key's lookup, the log row queued, then updated with the outcome.
async function lookup(db) {
  return db.prepare('SELECT * FROM devices WHERE api_key_hash = ?').bind('hash_1').first();
}
async function logQueued(db, id) {
  await db.batch([db.prepare('INSERT INTO messages (id, device_id, "to", preview, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING').bind(id, 'dev_1', '6281999000001', 'baseline', Date.now())]);
}
async function logSent(db, id) {
  await db.batch([db.prepare("UPDATE messages SET status = CASE WHEN status IN ('queued', 'failed') THEN 'sent' ELSE status END, wa_message_id = ?, sent_at = ? WHERE id = ?").bind('wa_' + id, Date.now(), id)]);
}
// The HostLink's share: the 'sent' event, then the delivery receipt (read, then written).
async function applyEvents(db, id) {
  await db.prepare("UPDATE messages SET status = 'sent' WHERE id = ? AND status = 'queued'").bind(id).run();
  const row = await db.prepare('SELECT * FROM messages WHERE id = ?').bind(id).first();
  if (row) await db.prepare("UPDATE messages SET status = 'delivered', delivered_at = ? WHERE id = ?").bind(Date.now(), row.id).run();
}
async function setup(db) {
  await db.batch(SCHEMA.map((q) => db.prepare(q)));
}
`;

const linkClass = (method: string) => `
import { DurableObject } from 'cloudflare:workers';
export class Link extends DurableObject {
  ${method}
}
`;

const SOURCES: Record<string, { source: string; d1: boolean; durableObject: boolean; d1Queries: number; doRpcs: number }> = {
  ok: { source: `export default { fetch: () => new Response('ok') };`, d1: false, durableObject: false, d1Queries: 0, doRpcs: 0 },
  d1: {
    source: `${D1_PARTS}
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === '/healthz') return new Response('ok');
    if (path === '/setup') return setup(env.DB).then(() => new Response('ok'));
    const id = crypto.randomUUID();
    await lookup(env.DB);
    await logQueued(env.DB, id);
    await logSent(env.DB, id);
    await applyEvents(env.DB, id);
    return new Response('ok');
  },
};`,
    d1: true,
    durableObject: false,
    d1Queries: D1_QUERIES_PER_SEND,
    doRpcs: 0,
  },
  do: {
    source: `${linkClass("async ping() { return 'pong'; }")}
export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === '/healthz') return new Response('ok');
    return new Response(await env.LINK.getByName('default').ping());
  },
};`,
    d1: false,
    durableObject: true,
    d1Queries: 0,
    doRpcs: 1,
  },
  gateway: {
    source: `${linkClass("async send(id) { await applyEvents(this.env.DB, id); return 'sent'; }")}${D1_PARTS}
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === '/healthz') return new Response('ok');
    if (path === '/setup') return setup(env.DB).then(() => new Response('ok'));
    const id = crypto.randomUUID();
    await lookup(env.DB);
    await logQueued(env.DB, id);
    await env.LINK.getByName('default').send(id);
    await logSent(env.DB, id);
    return new Response('ok');
  },
};`,
    d1: true,
    durableObject: true,
    d1Queries: D1_QUERIES_PER_SEND,
    doRpcs: DO_RPCS_PER_SEND,
  },
};
export const BASELINES = Object.keys(SOURCES);
// The gateway-shaped one is the slowest to run, and its growth is the others' sum: on request.
const DEFAULT_BASELINES = ['ok', 'd1', 'do'];
const DEFAULT_REQUESTS = 500;

/** The gateway's own compatibility settings, so the baselines run on the same runtime behaviour. */
function compatibility(): string {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  return ['compatibility_date', 'compatibility_flags'].map((key) => new RegExp(`^${key} = .*$`, 'm').exec(toml)?.[0] ?? '').join('\n');
}

function config(name: string, spec: (typeof SOURCES)[string]): string {
  const lines = [`name = "baseline-${name}"`, 'main = "worker.js"', compatibility(), 'send_metrics = false'];
  if (spec.d1) lines.push('[[d1_databases]]', 'binding = "DB"', 'database_name = "baseline"', 'database_id = "00000000-0000-0000-0000-000000000000"');
  if (spec.durableObject) lines.push('[[durable_objects.bindings]]', 'name = "LINK"', 'class_name = "Link"', '[[migrations]]', 'tag = "v1"', 'new_sqlite_classes = ["Link"]');
  return `${lines.join('\n')}\n`;
}

interface DevServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `wrangler dev` on a generated Worker, started as bin/stack.ts starts the gateway's. */
async function startDev(dir: string): Promise<DevServer> {
  const port = await freePort();
  const { child, output } = await spawnWranglerDev({ port, persist: join(dir, 'state'), config: join(dir, 'wrangler.toml'), cwd: dir });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    await Promise.race([exited, sleep(5_000)]);
    await killGroup(child); // whatever of it outlived wrangler
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHealth(url, child, output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, child, stop };
}

/** `count` requests from `concurrency` clients at once; how many failed. */
async function load(url: string, count: number, concurrency: number): Promise<number> {
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const res = await fetch(url, { method: 'POST' });
        await res.arrayBuffer();
        if (!res.ok) failed++;
      }
    }),
  );
  return failed;
}

export interface BaselineResult {
  name: string;
  d1QueriesPerRequest: number;
  doRpcsPerRequest: number;
  requests: number;
  failures: number;
  requestsPerSecond: number;
  /** The whole baseline: wrangler dev's start, the warm-up, the requests, the collections. */
  seconds: number;
  before: EdgeMemory;
  after: EdgeMemory;
  perRequest: GrowthPerRequest;
}

/** The baselines' settings from the environment (see the top of this file). */
export function baselineSettings(concurrency: number, gatewayRequests?: number) {
  const count = (name: string, fallback: number) => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got ${process.env[name]}`);
    return value;
  };
  return {
    requests: count('SOAK_BASELINE_REQUESTS', Math.min(gatewayRequests ?? DEFAULT_REQUESTS, DEFAULT_REQUESTS)),
    warmup: count('SOAK_BASELINE_WARMUP', 100),
    concurrency,
    names: (process.env.SOAK_BASELINES ?? DEFAULT_BASELINES.join(','))
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean),
  };
}

export async function runWorkerdBaselines(options: { requests: number; concurrency: number; warmup?: number; names?: string[]; log?: (line: string) => void }): Promise<BaselineResult[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const warmup = options.warmup ?? 100;
  const names = options.names ?? DEFAULT_BASELINES;
  const unknown = names.filter((n) => !SOURCES[n]);
  if (unknown.length) throw new Error(`SOAK_BASELINES: unknown baseline ${unknown.join(', ')} (known: ${BASELINES.join(', ')})`);
  const root = mkdtempSync(join(tmpdir(), 'bench-baseline-'));
  const results: BaselineResult[] = [];
  try {
    for (const name of names) {
      const spec = SOURCES[name]!;
      const dir = join(root, name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'worker.js'), spec.source);
      writeFileSync(join(dir, 'wrangler.toml'), config(name, spec));
      const began = performance.now();
      const dev = await startDev(dir);
      const inspectors = await edgeInspectors(dev.child.pid!, (line) => log(`baseline ${name}: ${line}`));
      try {
        if (spec.d1) await fetch(`${dev.url}/setup`).then((r) => r.arrayBuffer());
        await load(dev.url, warmup, options.concurrency);
        // A poke touches the Worker and, where it has one, the local D1 (as the gateway soak's does).
        const poke = () => fetch(dev.url, { method: 'POST' }).then((r) => r.arrayBuffer());
        await collectGarbage(inspectors, poke);
        const before = await edgeMemory(dev.child.pid!, inspectors);
        const started = performance.now();
        const failures = await load(dev.url, options.requests, options.concurrency);
        const elapsed = (performance.now() - started) / 1000;
        await collectGarbage(inspectors, poke);
        const after = await edgeMemory(dev.child.pid!, inspectors);
        const result: BaselineResult = {
          name,
          d1QueriesPerRequest: spec.d1Queries,
          doRpcsPerRequest: spec.doRpcs,
          requests: options.requests,
          failures,
          requestsPerSecond: Math.round((options.requests / elapsed) * 10) / 10,
          seconds: Math.round((performance.now() - began) / 1000),
          before,
          after,
          perRequest: growthPerRequest(before, after, options.requests),
        };
        log(`baseline ${JSON.stringify({ ...result, before: undefined, after: undefined })}`);
        results.push(result);
      } finally {
        closeInspectors(inspectors);
        await dev.stop();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return results;
}

if (import.meta.main) {
  const results = await runWorkerdBaselines(baselineSettings(Number(process.env.SOAK_CONCURRENCY ?? 8)));
  console.log(JSON.stringify(results, null, 2));
}
