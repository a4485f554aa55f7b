// Dial-out: a session host with EDGE_URL, HOST_ID and HOST_SECRET opens the link to the edge
// itself. The edge here has HOST_SECRET and no HOST_URL, so it has nothing it could dial: whatever
// works, works over the link the host opened. The real Worker under `wrangler dev` (its Durable
// Object accepting with the Hibernation API), the real host process, and the simulator.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challengeReply, dialHeaders, edgeLinkPaths } from '../../session-host/link/protocol.ts';
import { callEdge, createLinkedDevice, startSimStack, until, untilConnected } from '../support/e2e.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import { freePort, type Stack, waitForHealth } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let receiver: WebhookReceiver;
let device: { id: string; apiKey: string; phone: string };
const others: ChildProcess[] = [];

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
  ({ sim, stack } = await startSimStack('dial-out', { stack: { dialOut: true, hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
}, 120_000);

afterAll(async () => {
  for (const child of others) child.kill('SIGKILL');
  await stack?.stop();
  await sim?.stop();
  await receiver?.stop();
});

interface HostHealth {
  links: number;
  edge?: { dialing: string; up: boolean; lastError: string | null };
}
const health = async (url: string) => (await (await fetch(`${url}/healthz`)).json()) as HostHealth;
const linkedUp = () => until(async () => (await health(stack.hostUrl)).edge?.up === true, 'the host to have its link to the edge up', 60_000);

/** Sends a text through the edge and resolves with what the simulator got. */
async function sendThrough(text: string) {
  const sent = await callEdge(stack.edgeUrl, 'POST', '/api/send-message', { key: `Bearer ${device.apiKey}`, json: { to: '6281234567801', message: text } });
  expect(sent.status).toBe(200);
  return sim.waitForOutgoing((m) => m.id === sent.json.id);
}

/** A session host process of its own, dialling this stack's edge as host `default`. */
async function otherHost(secret: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, ['session-host/main.ts'], {
    env: { ...process.env, PORT: String(port), HOST_SECRET: secret, DATA_DIR: mkdtempSync(join(tmpdir(), 'dial-out-other-')), EDGE_URL: stack.edgeUrl, HOST_ID: 'default', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (d) => (output += d));
  others.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child, () => output);
  return { url, child };
}

/** The link's handshake as a dialler makes it, up to the upgrade's answer (status, and the socket if it opened). */
async function dialIn(headers: Record<string, string>): Promise<{ status: number; body: string; ws?: WebSocket }> {
  const url = new URL(edgeLinkPaths('default').socket, stack.edgeUrl);
  url.protocol = 'ws:';
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ status: 101, body: '', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

const challenge = async () => challengeReply.parse(await (await fetch(new URL(edgeLinkPaths('default').challenge, stack.edgeUrl))).json()).challenge;

describe('a session host that dials the edge', () => {
  it('links with no URL to dial, pairs a device through the simulator, sends and receives', async () => {
    await linkedUp();
    receiver.received.length = 0;
    device = await createLinkedDevice(stack, sim, { name: 'Dial-out shop', webhookUrl: receiver.url });
    expect((await sendThrough('sent over a link the host opened')).text).toBe('sent over a link the host opened');

    await sim.sendIncoming(device.phone, '6281234567802', 'halo from a customer');
    const hook = await until(() => receiver.received.find((r) => r.json.message === 'halo from a customer'), 'the incoming message at the webhook');
    expect(hook.json).toMatchObject({ device: device.phone, sender: '6281234567802' });
  });

  it('refuses a wrong secret and a replayed proof, and a second host with the same id while the first is connected', async () => {
    // The wrong secret, as a misconfigured host: refused, and it says why.
    const wrong = await otherHost('not-the-secret-the-edge-has-0000');
    const refused = await until(async () => (await health(wrong.url)).edge?.lastError, 'the wrong-secret host to be refused');
    expect(refused).toContain('HTTP 401');
    expect((await health(wrong.url)).edge?.up).toBe(false);

    // The right secret while the host is connected: the proof holds, the id is taken.
    const proof = await dialHeaders(stack.hostSecret, 'host', await challenge());
    const second = await dialIn(proof.headers);
    expect(second.status).toBe(409);
    expect(second.body).toContain('already connected');
    // The same proof again: its challenge was used, so a captured handshake opens nothing.
    const replayed = await dialIn(proof.headers);
    expect(replayed).toMatchObject({ status: 401, body: expect.stringContaining('unknown challenge') });
    // Nor does a proof made with another secret over a fresh challenge.
    const forged = await dialIn((await dialHeaders('not-the-secret-the-edge-has-0000', 'host', await challenge())).headers);
    expect(forged).toMatchObject({ status: 401, body: expect.stringContaining('bad signature') });

    // A second real host with the right secret: refused while the first holds the link.
    const twin = await otherHost(stack.hostSecret);
    expect(await until(async () => (await health(twin.url)).edge?.lastError, 'the twin host to be refused')).toContain('HTTP 409');
    wrong.child.kill('SIGKILL');
    twin.child.kill('SIGKILL');

    // The first host never noticed.
    expect((await health(stack.hostUrl)).edge?.up).toBe(true);
    expect((await sendThrough('still linked after the refusals')).text).toBe('still linked after the refusals');
  });

  it('survives a restart of the host', async () => {
    await stack.restartHost();
    await linkedUp();
    await untilConnected(stack, device.id);
    expect((await sendThrough('after the host restarted')).text).toBe('after the host restarted');
  });

  it('survives a restart of the edge: the host dials it again', async () => {
    await stack.restartEdge();
    await linkedUp();
    await untilConnected(stack, device.id);
    expect((await sendThrough('after the edge restarted')).text).toBe('after the edge restarted');
    receiver.received.length = 0;
    await sim.sendIncoming(device.phone, '6281234567802', 'still there?');
    await until(() => receiver.received.find((r) => r.json.message === 'still there?'), 'the incoming message after the edge restarted');
  });

  it('the host refuses links on its own port: it dials, it does not listen for the edge', async () => {
    const asked = await fetch(`${stack.hostUrl}/link/challenge`);
    expect(asked.status).toBe(404);
  });
});
