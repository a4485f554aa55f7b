// What the end-to-end tests share: the simulator with the whole local stack wired to it (the
// real `wrangler dev` and session host process), requests to its edge, and waiting for a condition.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type Stack, type StackOptions, startStack } from '../../bin/stack.ts';
import { type StartOptions, WaSim } from '../wa-sim/sim.ts';

import { until } from './until.ts';

export { until };

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

/** A device as `/api/status` reports it to the admin. */
export async function reportedDevice(stack: Stack, deviceId: string): Promise<{ id: string; status: string; qr: string | null } | undefined> {
  const { json } = await callEdge(stack.edgeUrl, 'GET', '/api/status', { key: `Bearer ${stack.adminKey}` });
  return (json.devices as { id: string; status: string; qr: string | null }[] | undefined)?.find((d) => d.id === deviceId);
}

/** Resolves once the device is CONNECTED (after a QR scan, a host restart…). */
export const untilConnected = (stack: Stack, deviceId: string) => until(async () => (await reportedDevice(stack, deviceId))?.status === 'CONNECTED', `device ${deviceId} CONNECTED`, 60_000);

/**
 * Connects a device and plays its phone scanning the QR code; resolves once it is CONNECTED, with
 * the number and linked-device JID the simulator gave it.
 */
export async function linkDevice(stack: Stack, sim: WaSim, deviceId: string, account: { name?: string; phone?: string } = {}) {
  const { json } = await callEdge(stack.edgeUrl, 'POST', `/api/devices/${deviceId}/connect`, { key: `Bearer ${stack.adminKey}` });
  const qr: string = json.qr ?? (await until(async () => (await reportedDevice(stack, deviceId))?.qr, 'a QR code'));
  const linked = await sim.scanQr(qr, account);
  await untilConnected(stack, deviceId);
  return linked;
}

/** Creates a device through the admin API (with the settings POST /api/devices takes) and links it. */
export async function createLinkedDevice(stack: Stack, sim: WaSim, settings: { name: string; webhookUrl?: string; statusWebhookUrl?: string | null; connectionWebhookUrl?: string | null }) {
  const { json } = await callEdge(stack.edgeUrl, 'POST', '/api/devices', { key: `Bearer ${stack.adminKey}`, json: settings });
  const { phone, deviceJid } = await linkDevice(stack, sim, json.id, { name: `${settings.name} WA` });
  return { id: json.id as string, apiKey: json.apiKey as string, phone, deviceJid };
}
