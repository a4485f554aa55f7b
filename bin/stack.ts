// The whole gateway on this machine: local D1 migrated, `wrangler dev` serving the edge and the
// dashboard, and the session host linked to it; optionally the WhatsApp simulator too. Used by
// `npm start`, `npm run demo`, the end-to-end tests and the benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const VITE = join(ROOT, 'node_modules/vite/bin/vite.js');

/** Variables of DESIGN.md that the session host takes from the environment as they are. */
const HOST_VARIABLES = [
  'REDIS_URL',
  'WA_WS_URL',
  'WA_ROOT_KEY',
  'MEDIA_ALLOW_PRIVATE_NETWORKS',
  'PUBLIC_URL',
  'LOG_LEVEL',
  'NODE_EXTRA_CA_CERTS',
  'MEDIA_MAX_BYTES',
  'MEDIA_TIMEOUT_MS',
  'EDGE_URL',
  'RETENTION_DAYS',
  'METRICS_TOKEN',
];

export interface StackOptions {
  edgePort?: number;
  hostPort?: number;
  /** Local state: D1, the host's file store. */
  dataDir?: string;
  adminKey?: string;
  hostSecret?: string;
  /** Variables for the session host (on top of those taken from the environment). */
  hostEnv?: Record<string, string>;
  /**
   * The session host dials the edge (EDGE_URL, HOST_ID=default) instead of the edge dialling it:
   * the edge gets HOST_SECRET and no HOST_URL.
   */
  dialOut?: boolean;
  /** Extra Worker variables (e.g. DEMO_SIM_URL). */
  edgeVars?: Record<string, string>;
  /** Where child output goes; default: discarded unless it is an error at start. */
  onOutput?: (source: 'edge' | 'host', text: string) => void;
}

export interface Stack {
  edgeUrl: string;
  hostUrl: string;
  adminKey: string;
  hostSecret: string;
  dataDir: string;
  edge: ChildProcess;
  host: ChildProcess;
  /** Starts the session host again (after a crash or a kill), with the same settings. */
  restartHost(): Promise<void>;
  /** Kills the edge at once, as a crash does: `wrangler dev` and its workerd, no shutdown. */
  killEdge(): Promise<void>;
  /** Starts the edge again on the same local state (D1, Durable Objects), same port. */
  restartEdge(): Promise<void>;
  /** Stops the edge (`wrangler dev`); its state (D1, Durable Objects) stays on disk. */
  stopEdge(): Promise<void>;
  /** Starts the edge again on the same port and persisted state. */
  startEdge(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${args.join(' ')} failed (${code}):\n${output}`))));
  });
}

export async function waitForHealth(url: string, child: ChildProcess, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before it was ready:\n${output()}`);
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready:\n${output()}`);
}

/** The environment `wrangler dev` and its tools run in here: no metrics, no request.cf lookup. */
export const OFFLINE_ENV: NodeJS.ProcessEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' };

/** The gateway Worker's local state: D1 migrated under `persist`, the dashboard built once (the Worker serves it). */
export async function prepareEdge(persist: string): Promise<void> {
  await run([WRANGLER, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist], OFFLINE_ENV);
  if (!existsSync(join(ROOT, 'edge/public/index.html'))) await run([VITE, 'build', '--logLevel', 'error'], OFFLINE_ENV);
}

/** Secrets go to a Worker through an env file, not the command line (which `ps` shows). */
export function writeEnvFile(path: string, vars: Record<string, string>): void {
  writeFileSync(
    path,
    Object.entries(vars)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
    { mode: 0o600 },
  );
}

export interface WranglerDevOptions {
  port: number;
  /** Local state (D1, Durable Objects). */
  persist: string;
  envFile?: string;
  /** A wrangler.toml other than the project's (with `cwd` its folder). */
  config?: string;
  cwd?: string;
  logLevel?: 'warn' | 'error';
  onOutput?: (text: string) => void;
}

/**
 * `wrangler dev` on 127.0.0.1, offline, in its own process group, so a kill of the group takes
 * its workerd processes with it (as a crash of the edge would). `output()` is its recent output.
 */
export async function spawnWranglerDev(options: WranglerDevOptions): Promise<{ child: ChildProcess; output: () => string }> {
  const args = [WRANGLER, 'dev', '--local', ...(options.config ? ['--config', options.config] : []), '--ip', '127.0.0.1', '--port', String(options.port)];
  args.push('--inspector-port', String(await freePort()), '--persist-to', options.persist, ...(options.envFile ? ['--env-file', options.envFile] : []));
  args.push('--show-interactive-dev-session=false', '--log-level', options.logLevel ?? 'warn');
  const child = spawn(process.execPath, args, { cwd: options.cwd ?? ROOT, env: OFFLINE_ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (d: Buffer) => {
      output = (output + d).slice(-20_000);
      options.onOutput?.(d.toString());
    });
  }
  return { child, output: () => output };
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => (clearTimeout(timer), resolvePromise()));
    child.kill(signal);
  });
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dataDir = resolve(ROOT, options.dataDir ?? 'data');
  mkdirSync(dataDir, { recursive: true });
  const edgePort = options.edgePort ?? 8787;
  const hostPort = options.hostPort ?? 8790;
  const adminKey = options.adminKey ?? process.env.ADMIN_KEY ?? `admin_${randomBytes(16).toString('hex')}`;
  const hostSecret = options.hostSecret ?? process.env.HOST_SECRET ?? randomBytes(32).toString('hex');
  const hostUrl = `http://127.0.0.1:${hostPort}`;
  const edgeUrl = `http://127.0.0.1:${edgePort}`;
  const baseEnv = OFFLINE_ENV;
  const persist = join(dataDir, 'wrangler');
  await prepareEdge(persist);

  const fromEnv = Object.fromEntries(HOST_VARIABLES.filter((k) => process.env[k]).map((k) => [k, process.env[k]!]));
  const dialOut = options.dialOut ? { EDGE_URL: edgeUrl, HOST_ID: 'default' } : {};
  const hostEnv = { ...baseEnv, ...fromEnv, ...options.hostEnv, ...dialOut, PORT: String(hostPort), HOST: '127.0.0.1', HOST_SECRET: hostSecret, DATA_DIR: join(dataDir, 'host') };
  let hostOutput = '';
  const spawnHost = () => {
    const child = spawn(process.execPath, ['session-host/main.ts'], { cwd: ROOT, env: hostEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (d: Buffer) => {
        hostOutput = (hostOutput + d).slice(-20_000);
        options.onOutput?.('host', d.toString());
      });
    }
    return child;
  };
  const stack = { host: spawnHost() } as Stack;
  await waitForHealth(hostUrl, stack.host, () => hostOutput);

  const envFile = join(dataDir, 'edge.env');
  const dialled: Record<string, string> = options.dialOut ? {} : { HOST_URL: process.env.HOST_URL ?? hostUrl };
  writeEnvFile(envFile, { ADMIN_KEY: adminKey, ...dialled, HOST_SECRET: hostSecret, ...options.edgeVars });
  let edgeOutput = () => '';
  const spawnEdge = async () => {
    const edge = await spawnWranglerDev({ port: edgePort, persist, envFile, onOutput: (text) => options.onOutput?.('edge', text) });
    edgeOutput = edge.output;
    return edge.child;
  };
  stack.edge = await spawnEdge();
  try {
    await waitForHealth(edgeUrl, stack.edge, edgeOutput);
  } catch (error) {
    await Promise.all([stopChild(stack.host), killGroup(stack.edge)]);
    throw error;
  }

  return Object.assign(stack, {
    edgeUrl,
    hostUrl,
    adminKey,
    hostSecret,
    dataDir,
    async restartHost() {
      await stopChild(stack.host);
      stack.host = spawnHost();
      await waitForHealth(hostUrl, stack.host, () => hostOutput);
    },
    async killEdge() {
      await killGroup(stack.edge);
    },
    async restartEdge() {
      await killGroup(stack.edge);
      stack.edge = await spawnEdge();
      await waitForHealth(edgeUrl, stack.edge, edgeOutput);
    },
    async stopEdge() {
      await stopChild(stack.edge, 'SIGINT');
    },
    async startEdge() {
      stack.edge = await spawnEdge();
      await waitForHealth(edgeUrl, stack.edge, edgeOutput);
    },
    async stop() {
      await Promise.all([stopChild(stack.edge, 'SIGINT'), stopChild(stack.host)]);
      await killGroup(stack.edge); // anything of it that outlived wrangler
    },
  });
}

/** SIGKILLs a child started in its own process group, with everything it started. */
export async function killGroup(child: ChildProcess): Promise<void> {
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    return; // the group is gone already
  }
  await exited;
}
