// What the end-to-end tests share: the simulator with the whole local stack wired to it (the
// real `wrangler dev` and session host process), requests to its edge, and waiting for a condition.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type Stack, type StackOptions, startStack } from '../stack/stack.ts';
import { type StartOptions, WaSim } from '../wa-sim/sim.ts';

export { until } from './until.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the simulator and the gateway pointed at it: the host trusts the simulator's root key
 * and media certificate. `hostEnv` adds to the host's variables; DEBUG_STACK=1 shows the output.
 */
export async function startSimStack(name: string, options: { sim?: StartOptions; stack?: StackOptions } = {}): Promise<{ sim: WaSim; stack: Stack }> {
  const sim = await WaSim.start({ log: () => {}, ...options.sim });
  const caFile = join(mkdtempSync(join(tmpdir(), `${name}-ca-`)), 'ca.pem');
  writeFileSync(caFile, sim.caCertPem);
  const stack = await startStack({
    dataDir: mkdtempSync(join(tmpdir(), `${name}-stack-`)),
    edgePort: await freePort(),
    hostPort: await freePort(),
    onOutput: (source, text) => process.env.DEBUG_STACK && process.stderr.write(`[${source}] ${text}`),
    ...options.stack,
    hostEnv: { WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootPublicKey, NODE_EXTRA_CA_CERTS: caFile, LOG_LEVEL: 'warn', ...options.stack?.hostEnv },
  });
  return { sim, stack };
}

export interface EdgeCall {
  key?: string;
  /** Sent as a JSON body. */
  json?: unknown;
  headers?: Record<string, string>;
}

/** A request to the gateway's edge as an API client makes it: JSON in and out. */
export async function callEdge(edgeUrl: string, method: string, path: string, options: EdgeCall = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = options.key;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${edgeUrl}${path}`, { method, headers, body: options.json === undefined ? undefined : JSON.stringify(options.json) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}
