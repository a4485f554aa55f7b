// A session host wired to the simulator, in this process or as a child process (for crash tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../session-host/config.ts';
import { defaultSocketFactory, startHost, type Host, type HostOptions } from '../../session-host/host.ts';
import type { UserFacingSocketConfig } from '@whiskeysockets/baileys';
import { freePort } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

export const TEST_SECRET = 'test-host-secret-0123456789abcdef';

export const tempDir = (name = 'wa-host') => mkdtempSync(join(tmpdir(), `${name}-`));

/** The host's Prometheus text; /metrics takes the host secret (or METRICS_TOKEN) as a Bearer token. */
export async function hostMetrics(url: string, token = TEST_SECRET): Promise<string> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}: ${await res.text()}`);
  return res.text();
}

/** The environment a host needs to talk to the simulator. */
export function simEnv(sim: WaSim, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOST_SECRET: TEST_SECRET,
    PORT: '0',
    WA_WS_URL: sim.wsUrl,
    WA_ROOT_KEY: sim.rootPublicKey,
    MEDIA_ALLOW_PRIVATE_NETWORKS: 'true',
    LOG_LEVEL: 'silent',
    ...extra,
  };
}

export interface TestHostOptions extends Partial<HostOptions> {
  dataDir?: string;
  env?: Record<string, string>;
  /** Extra Baileys options (e.g. a short `qrTimeout`). */
  baileys?: Partial<UserFacingSocketConfig>;
}

export async function startTestHost(sim: WaSim, options: TestHostOptions = {}): Promise<Host> {
  const config = loadConfig(simEnv(sim, { DATA_DIR: options.dataDir ?? tempDir(), ...options.env }));
  return startHost({
    config,
    store: options.store,
    linkChallenges: options.linkChallenges,
    socketFactory: defaultSocketFactory(config, { fetchAgent: new Agent({ ca: sim.caCertPem }), ...options.baileys }),
    sessionOptions: { backoff: { baseMs: 200, maxMs: 2_000 }, ...options.sessionOptions },
    webhookRetry: { initialDelayMs: 100, maxDelayMs: 1_000, ...options.webhookRetry },
  });
}

/** The real `node session-host/main.ts` in a child process, as a self-hoster runs it. */
export async function spawnHost(sim: WaSim, env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const port = await freePort();
  const caFile = join(tempDir('wa-ca'), 'ca.pem');
  writeFileSync(caFile, sim.caCertPem);
  const child = spawn(process.execPath, ['session-host/main.ts'], {
    env: { ...process.env, ...simEnv(sim, { PORT: String(port), LOG_LEVEL: 'info', NODE_EXTRA_CA_CERTS: caFile, ...env }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`host exited with ${child.exitCode}: ${output}`);
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { child, url, output: () => output };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`host did not start: ${output}`);
}
