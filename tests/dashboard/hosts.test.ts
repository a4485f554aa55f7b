// The Hosts section as an admin uses it: real Chromium on the built dashboard, served by the real
// Worker under `wrangler dev`, with real session hosts started the way the page tells the admin
// to start them. The tests run in order and share one stack, as a person working through the page.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openPage } from '../support/browser.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, OFFLINE_ENV, startStack, waitForHealth, type Stack } from '../../bin/stack.ts';
import { WaSim } from '../wa-sim/index.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const ARTIFACTS = resolve(ROOT, 'test-artifacts/dashboard');

let sim: WaSim;
let stack: Stack;
let browser: Browser;
let page: Page;
let dataDir: string;
let simEnv: Record<string, string>;
const hostProcesses: ChildProcess[] = [];

/** The host registered with a URL (the edge dials it), and its device. */
const home = { name: 'Home server', id: '', device: 'Toko Rumah' };

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  sim = await WaSim.start({ log: () => {} });
  dataDir = mkdtempSync(join(tmpdir(), 'hosts-stack-'));
  const caFile = join(dataDir, 'wa-sim-ca.pem');
  writeFileSync(caFile, sim.caCertPem);
  simEnv = { WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootPublicKey, NODE_EXTRA_CA_CERTS: caFile, MEDIA_ALLOW_PRIVATE_NETWORKS: 'true', LOG_LEVEL: 'warn' };
  [stack, browser] = await Promise.all([startStack({ dataDir, edgePort: await freePort(), hostPort: await freePort(), hostEnv: simEnv }), launchChromium()]);
  page = await openPage(browser);
}, 120_000);

afterAll(async () => {
  await Promise.all(hostProcesses.map(stopProcess));
  await browser?.close();
  await stack?.stop();
  await sim?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => (clearTimeout(timer), done()));
    child.kill('SIGTERM');
  });
}

/** A session host started as the page says (`npm run host` runs this), on a port of its own. */
async function startHost(env: Record<string, string>): Promise<void> {
  const port = env.PORT!;
  const child = spawn(process.execPath, ['session-host/main.ts'], {
    cwd: ROOT,
    env: { ...OFFLINE_ENV, ...simEnv, HOST: '127.0.0.1', DATA_DIR: mkdtempSync(join(dataDir, 'host-')), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  hostProcesses.push(child);
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (d: Buffer) => (output = (output + d).slice(-20_000)));
  await waitForHealth(`http://127.0.0.1:${port}`, child, () => output);
}

// A host's link comes up after the edge's next dial (or the host's), which may be a few seconds away.
const eventually = <T>(value: () => Promise<T> | T) => expect.poll(value, { timeout: 30_000, interval: 250 });
const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

async function api(method: string, path: string) {
  const res = await fetch(`${stack.edgeUrl}${path}`, { method, headers: { authorization: `Bearer ${stack.adminKey}` } });
  return { status: res.status, json: (await res.json()) as any };
}

const hostsSection = () => page.locator('wa-hosts section.card');
const hostRow = (id: string) => hostsSection().locator(`tbody tr[data-host-id="${id}"]`);

/** Adds a host through the form; returns its id and secret as the page shows them, once. */
async function addHost(name: string, url?: string) {
  await hostsSection().getByRole('button', { name: 'Add Host' }).click();
  const form = page.getByRole('dialog', { name: 'Add host' });
  await form.getByLabel('Host name').fill(name);
  if (url) await form.getByLabel(/Host URL/).fill(url);
  await form.getByRole('button', { name: 'Add host' }).click();
  const shown = page.getByRole('dialog', { name: `${name} is added` });
  const secret = (await shown.getByTestId('host-secret').textContent()) ?? '';
  expect(secret).toMatch(/^[0-9a-f]{64}$/);
  const text = (await shown.textContent()) ?? '';
  const id = /HOST_ID=(host_[0-9a-f]+)/.exec(text)?.[1] ?? '';
  // Both ways to run it, with this edge's URL, the host's id and its secret filled in.
  expect(text).toContain(`EDGE_URL=${stack.edgeUrl} HOST_ID=${id} HOST_SECRET=${secret} npm run host`);
  expect(text).toContain(`HOST_SECRET=${secret} npm run host`);
  expect(text).toContain('cloudflared tunnel --url http://127.0.0.1:8790');
  await shot(`hosts-${url ? 'url' : 'dial-in'}-secret-once`);
  await shown.getByRole('button', { name: 'Done' }).click();
  // Shown once: from now on neither the page nor the API carries it.
  await eventually(() => hostRow(id).count()).toBe(1);
  expect(await hostsSection().textContent()).not.toContain(secret);
  expect(JSON.stringify((await api('GET', '/api/hosts')).json)).not.toContain(secret);
  return { id, secret };
}

/** Adds a device through the device form, on the host picked by name. */
async function addDevice(name: string, hostName: string) {
  await page.locator('wa-devices section.card').getByRole('button', { name: 'Add Device' }).click();
  const form = page.getByRole('dialog', { name: 'Add device' });
  await form.getByLabel('Device name').fill(name);
  await form.getByLabel(/^Host/).selectOption({ label: hostName });
  await form.getByRole('button', { name: 'Add device' }).click();
  await page
    .getByRole('dialog', { name: `${name} is ready` })
    .getByRole('button', { name: 'Done' })
    .click();
}

const deviceNamed = async (name: string) => ((await api('GET', '/api/devices')).json.devices as any[]).find((d) => d.name === name);

describe('the Hosts section', () => {
  it('lists the default host, online, after signing in', async () => {
    await page.goto(stack.edgeUrl);
    await page.getByLabel('Admin key').fill(stack.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Hosts' }).waitFor();
    const row = hostRow('default');
    await eventually(() => row.textContent()).toContain('Default host');
    expect(await row.textContent()).toContain(`Edge dials ${stack.hostUrl}`);
    await eventually(() => row.getByTestId('host-status').textContent()).toContain('Online');
  });

  it('adds a host with a URL; started with the secret shown, it comes online once its URL is right', async () => {
    // A quick tunnel's URL changes whenever it restarts: the host is registered with an old one.
    const [stale, port] = [await freePort(), await freePort()];
    const { id, secret } = await addHost(home.name, `http://127.0.0.1:${stale}`);
    home.id = id;
    const row = hostRow(id);
    expect(await row.textContent()).toContain(`Edge dials http://127.0.0.1:${stale}`);
    await startHost({ PORT: String(port), HOST_SECRET: secret });
    await eventually(() => row.getByTestId('host-status').textContent()).toContain('Offline');

    await row.getByRole('button', { name: `Edit ${home.name}` }).click();
    const form = page.getByRole('dialog', { name: `Edit ${home.name}` });
    expect(await form.getByLabel(/Host URL/).inputValue()).toBe(`http://127.0.0.1:${stale}`);
    await form.getByLabel(/Host URL/).fill(`http://127.0.0.1:${port}`);
    await form.getByRole('button', { name: 'Save' }).click();
    await eventually(() => row.textContent()).toContain(`Edge dials http://127.0.0.1:${port}`);
    await eventually(() => row.getByTestId('host-status').textContent()).toContain('Online');
    expect((await api('GET', '/api/hosts')).json.hosts.find((h: { id: string }) => h.id === id)).toMatchObject({ online: true, mode: 'url' });
  });

  it("adds a device on that host through the device form's host picker, and the host lists it", async () => {
    await addDevice(home.device, home.name);
    await eventually(async () => (await deviceNamed(home.device))?.hostId).toBe(home.id);
    const row = hostRow(home.id);
    await eventually(() => row.locator('td[data-label="Devices"]').textContent()).toContain(home.device);
    expect(await row.locator('td[data-label="Devices"]').textContent()).toMatch(/Disconnected|Connecting|Waiting for scan|Connected/);
    // The host itself was told: connecting it starts a session there (a QR code to scan).
    const device = await deviceNamed(home.device);
    expect((await api('POST', `/api/devices/${device.id}/connect`)).json).toMatchObject({ status: 'QR', hostId: home.id });
    await shot('hosts-with-device');
  });

  it('adds a host without a URL; started with the commands shown, it dials in and runs a device', async () => {
    const { id, secret } = await addHost('Laptop');
    const row = hostRow(id);
    expect(await row.textContent()).toContain('Dials in');
    await startHost({ PORT: String(await freePort()), EDGE_URL: stack.edgeUrl, HOST_ID: id, HOST_SECRET: secret });
    await eventually(() => row.getByTestId('host-status').textContent()).toContain('Online');
    // What the link says of it: the host dialled, was just heard from, and reported its version.
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    await eventually(() => row.textContent()).toContain(version);
    const listed = (await api('GET', '/api/hosts')).json.hosts.find((h: { id: string }) => h.id === id);
    expect(listed).toMatchObject({ online: true, via: 'host', mode: 'dial-in', version, lastSeenAt: expect.any(String) });

    await addDevice('Toko Laptop', 'Laptop');
    await eventually(() => row.locator('td[data-label="Devices"]').textContent()).toContain('Toko Laptop');
    const device = await deviceNamed('Toko Laptop');
    expect(device.hostId).toBe(id);
    expect((await api('POST', `/api/devices/${device.id}/connect`)).json).toMatchObject({ status: 'QR', hostId: id });
  });

  it('removes a host after saying which devices go with it', async () => {
    const device = await deviceNamed(home.device);
    await hostRow(home.id)
      .getByRole('button', { name: `Remove ${home.name}` })
      .click();
    const confirm = page.getByRole('dialog', { name: `Remove ${home.name}?` });
    const said = await confirm.textContent();
    expect(said).toContain(home.device);
    expect(said).toContain('deleted with it');
    expect(said).toContain('API keys stop working');
    await shot('hosts-remove-confirm');
    await confirm.getByRole('button', { name: 'Remove' }).click();

    await eventually(() => hostRow(home.id).count()).toBe(0);
    await eventually(() => page.locator('wa-devices section.card').textContent()).not.toContain(home.device);
    expect((await api('GET', `/api/devices/${device.id}`)).status).toBe(404);
    expect(await hostRow('default').count()).toBe(1);
  });
});
