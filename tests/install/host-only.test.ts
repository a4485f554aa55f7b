// A self-hoster's install, as the README gives it: a clean clone of what is committed, `npm ci
// --omit=dev` with the system's npm, `npm run host`. It must bring Node 24 and nothing of the
// edge's toolchain, raise no install-script warning, and the host must link to an edge.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, killGroup, prepareEdge, spawnWranglerDev, waitForHealth, writeEnvFile } from '../../bin/stack.ts';
import { callEdge, until } from '../support/e2e.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
/** What only the edge, the dashboard or the tests need: none of it belongs on a self-hoster's machine. */
const TOOLCHAIN = ['wrangler', 'workerd', 'miniflare', 'vite', 'esbuild', 'playwright-core', 'vitest', 'typescript', 'hono', 'drizzle-orm', '@cloudflare/vitest-plugin'];

/**
 * A shell as the self-hoster has it: the system's npm and Node first, no npm settings inherited
 * from the `npm test` that runs this file, and no `node_modules/.bin` of this checkout.
 */
const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => !dir.includes('node_modules'))
    .join(delimiter);
  return { ...env, ...extra };
};

/** Names of every package under `dir`'s node_modules, nested ones included. */
function installedPackages(dir: string, names = new Set<string>()): Set<string> {
  const modules = join(dir, 'node_modules');
  if (!existsSync(modules)) return names;
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue;
    const scoped = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((name) => `${entry}/${name}`) : [entry];
    for (const name of scoped) {
      names.add(name);
      installedPackages(join(modules, name), names);
    }
  }
  return names;
}

const work = mkdtempSync(join(tmpdir(), 'wa-host-only-'));
const clone = join(work, 'wa-gateway');
const children: ChildProcess[] = [];
let install: { stdout: string; stderr: string };

beforeAll(async () => {
  // Only what is committed: in CI the checkout is a clean clone already, here it is the branch's HEAD.
  await run('git', ['clone', '--quiet', ROOT, clone]);
  install = await run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: clone, env: cleanEnv(), maxBuffer: 16 * 1024 * 1024 });
  const { stdout } = await run('du', ['-sk', join(clone, 'node_modules')]);
  console.log(`host-only install (npm ci --omit=dev): node_modules is ${Math.round(Number.parseInt(stdout, 10) / 1024)} MB`);
}, 600_000);

afterAll(async () => {
  for (const child of children) await killGroup(child);
  rmSync(work, { recursive: true, force: true });
}, 60_000);

it('installs without an install-script warning, with Node 24 and none of the edge toolchain', async () => {
  const output = `${install.stdout}\n${install.stderr}`;
  expect(output).not.toMatch(/install scripts|allowScripts|allow-scripts/i);
  const installed = installedPackages(clone);
  expect(TOOLCHAIN.filter((name) => installed.has(name))).toEqual([]);
  expect(installed).toContain('@whiskeysockets/baileys');
  const { stdout } = await run(join(clone, 'node_modules/.bin/node'), ['--version']);
  expect(stdout).toMatch(/^v24\./);
});

it('starts with `npm run host` and links to an edge', async () => {
  const hostPort = await freePort();
  const edgePort = await freePort();
  const hostSecret = randomBytes(32).toString('hex');
  const adminKey = `admin_${randomBytes(16).toString('hex')}`;
  const hostUrl = `http://127.0.0.1:${hostPort}`;

  let hostOutput = '';
  // Its own process group: npm starts node, and the cleanup must reach both.
  const host = spawn('npm', ['run', 'host'], {
    cwd: clone,
    env: cleanEnv({ PORT: String(hostPort), HOST_SECRET: hostSecret, DATA_DIR: join(work, 'host-data'), LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(host);
  for (const stream of [host.stdout, host.stderr]) stream.on('data', (d: Buffer) => (hostOutput = (hostOutput + d).slice(-20_000)));
  await waitForHealth(hostUrl, host, () => hostOutput);

  // The edge from this checkout, with this host as its single host.
  const persist = join(work, 'edge');
  await prepareEdge(persist);
  const envFile = join(work, 'edge.env');
  writeEnvFile(envFile, { ADMIN_KEY: adminKey, HOST_URL: hostUrl, HOST_SECRET: hostSecret });
  const edge = await spawnWranglerDev({ port: edgePort, persist, envFile });
  children.push(edge.child);
  const edgeUrl = `http://127.0.0.1:${edgePort}`;
  await waitForHealth(edgeUrl, edge.child, edge.output);

  const admin = { key: `Bearer ${adminKey}` };
  const created = await callEdge(edgeUrl, 'POST', '/api/devices', { ...admin, json: { name: 'Home' } });
  expect(created.status).toBe(201);
  // The host reports the device the edge created through the link.
  const status = await callEdge(edgeUrl, 'GET', '/api/status', admin);
  expect(status.status).toBe(200);
  expect(status.json.devices).toEqual([expect.objectContaining({ id: created.json.id, status: 'DISCONNECTED' })]);
  const metrics = () => fetch(`${hostUrl}/metrics`, { headers: { authorization: `Bearer ${hostSecret}` } }).then((r) => r.text());
  await until(async () => /^wa_link_connected 1$/m.test(await metrics()), 'the link up on the host', 30_000);
  expect(await metrics()).toMatch(/^wa_sessions\{status="DISCONNECTED"\} 1$/m);
}, 300_000);
