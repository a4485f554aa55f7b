// Devices: creation with a key shown once, the views the API answers with, and keeping the
// device's session host told about its settings.
import { eq } from 'drizzle-orm';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import type { DeviceState } from '../../session-host/link/protocol.ts';
import { hashKey, maskKey, newDeviceKey } from '../auth.ts';
import { randomHex } from '../crypto.ts';
import { deviceStatuses, devicesTable, hostsTable, messagesTable, type Device } from '../db/schema.ts';
import type { DB } from '../env.ts';
import { publish } from '../events/hub.ts';
import { hostLink, relay } from '../link/relay.ts';
import { dateTime } from './openapi.ts';

export const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
export const webhookUrl = z.union([z.literal(''), httpUrl]).meta({
  description: 'Where incoming messages and group changes are posted, and message and device statuses unless they have their own URL; empty for none',
});
/** Fonnte's separate URLs: null (the default) falls back to webhookUrl, "" sends none of that kind. */
const ownWebhookUrl = (what: string) =>
  z
    .union([z.literal(''), httpUrl])
    .nullable()
    .meta({ description: `Where ${what} are posted; null: to webhookUrl; empty: not posted` });
export const statusWebhookUrl = ownWebhookUrl('message statuses (sent, delivered, read, failed…)');
export const connectionWebhookUrl = ownWebhookUrl('device status changes (connect, disconnect)');

/** A device as the seed's `/api/status` shows it. */
export const statusDevice = z.object({
  id: z.string().meta({ examples: ['device_9f86d081884c7d65'] }),
  name: z.string(),
  apiKey: z.string().meta({ description: 'The key, masked: the full key is shown only at creation and regeneration', examples: ['wa_f1e2…1100'] }),
  webhookUrl: z.string(),
  status: z.enum(deviceStatuses),
  authenticated: z.boolean().meta({ description: 'status === CONNECTED' }),
  hasQr: z.boolean(),
  qr: z.string().nullable().meta({ description: 'The QR code to scan, while status is QR' }),
  phoneNumber: z.string().nullable(),
  pushName: z.string().nullable(),
  totalMessagesSent: z.number().int(),
});

/** A device as the admin API shows it. */
export const adminDevice = statusDevice.extend({
  hostId: z.string().nullable().meta({ description: 'Its session host; null for the default host (HOST_URL)' }),
  statusWebhookUrl,
  connectionWebhookUrl,
  webhookSecret: z.string().meta({ description: 'Signs its webhooks (HMAC-SHA256), so receivers can verify them' }),
  statusReason: z.string().nullable().meta({ description: 'Why it is not connected, when known' }),
  sendIntervalMs: z.number().int().meta({ description: 'Pacing of queued sends: at least this long between two messages' }),
  sendJitterMs: z.number().int().meta({ description: 'Pacing of queued sends: up to this much more, at random' }),
  createdAt: dateTime,
});

/** A device with its full key: the only moments the key is ever shown. */
export const keyedDevice = adminDevice.extend({
  apiKey: z.string().meta({ description: 'The full API key. Store it now: it is not shown again', examples: ['wa_f1e2d3c4b5a697887766554433221100'] }),
});

/** The seed's view; the host's fresher `state` (from a connect, say) wins over D1's. */
export function statusView(device: Device, state?: DeviceState): z.infer<typeof statusDevice> {
  const live = { ...device, ...(state && { ...state, statusReason: state.reason }) };
  return {
    id: live.id,
    name: live.name,
    apiKey: live.apiKeyMasked,
    webhookUrl: live.webhookUrl,
    status: live.status,
    authenticated: live.status === 'CONNECTED',
    hasQr: live.qr !== null,
    qr: live.qr,
    phoneNumber: live.phoneNumber,
    pushName: live.pushName,
    totalMessagesSent: live.totalMessagesSent,
  };
}

export function adminView(device: Device, state?: DeviceState): z.infer<typeof adminDevice> {
  return {
    ...statusView(device, state),
    hostId: device.hostId,
    statusWebhookUrl: device.statusWebhookUrl,
    connectionWebhookUrl: device.connectionWebhookUrl,
    webhookSecret: device.webhookSecret,
    statusReason: state ? state.reason : device.statusReason,
    sendIntervalMs: device.sendIntervalMs,
    sendJitterMs: device.sendJitterMs,
    createdAt: device.createdAt.toISOString(),
  };
}

export async function findDevice(db: DB, id: string): Promise<Device> {
  const [device] = await db.select().from(devicesTable).where(eq(devicesTable.id, id));
  if (!device) throw new HTTPException(404, { message: `Device not found: ${id}` });
  return device;
}

async function newKey() {
  const apiKey = newDeviceKey();
  return { apiKey, apiKeyHash: await hashKey(apiKey), apiKeyMasked: maskKey(apiKey) };
}

/**
 * Tells the device's HostLink its key (or that it is gone) before the admin API answers: sends
 * are checked there, so from this moment an old key is refused everywhere.
 */
export async function keepKey(env: Env, device: Device, change: 'set' | 'forget'): Promise<void> {
  const { id: hostId, stub } = hostLink(env, device.hostId);
  if (change === 'set') await stub.setKey(hostId, device.id, device.apiKeyHash);
  else await stub.forgetDevice(hostId, device.id);
}

export async function createDevice(db: DB, input: { name: string; webhookUrl?: string; statusWebhookUrl?: string | null; connectionWebhookUrl?: string | null; hostId?: string | null }) {
  if (input.hostId) {
    const [host] = await db.select({ id: hostsTable.id }).from(hostsTable).where(eq(hostsTable.id, input.hostId));
    if (!host) throw new HTTPException(400, { message: `hostId: no session host with id ${JSON.stringify(input.hostId)}` });
  }
  const { apiKey, ...key } = await newKey();
  const [device] = await db
    .insert(devicesTable)
    .values({
      id: `device_${randomHex(8)}`,
      name: input.name,
      webhookUrl: input.webhookUrl ?? '',
      statusWebhookUrl: input.statusWebhookUrl ?? null,
      connectionWebhookUrl: input.connectionWebhookUrl ?? null,
      hostId: input.hostId ?? null,
      webhookSecret: `whsec_${randomHex(24)}`,
      ...key,
    })
    .returning();
  return { device: device!, apiKey };
}

/** A new key for the device; the old one stops working with this write. */
export async function regenerateKey(db: DB, id: string) {
  const { apiKey, ...key } = await newKey();
  const [device] = await db.update(devicesTable).set(key).where(eq(devicesTable.id, id)).returning();
  if (!device) throw new HTTPException(404, { message: `Device not found: ${id}` });
  return { device, apiKey };
}

/**
 * Deletes a device and its message log. Its key is refused from this call on; its host logs it
 * out of WhatsApp if it can be reached now.
 */
export async function deleteDevice(env: Env, db: DB, device: Device): Promise<void> {
  await db.batch([db.delete(messagesTable).where(eq(messagesTable.deviceId, device.id)), db.delete(devicesTable).where(eq(devicesTable.id, device.id))]);
  await keepKey(env, device, 'forget');
  await tellHost(env, device, 'delete');
}

/**
 * What the host keeps of a device. `edgeUrl`: the origin the admin API was called through, which
 * is where the host's links to incoming media point (unless the host has its own EDGE_URL).
 */
export const settingsOf = (d: Device, edgeUrl?: string) => ({
  id: d.id,
  name: d.name,
  webhookUrl: d.webhookUrl,
  statusWebhookUrl: d.statusWebhookUrl,
  connectionWebhookUrl: d.connectionWebhookUrl,
  webhookSecret: d.webhookSecret,
  ...(edgeUrl && { edgeUrl }),
});

/** The edge's public origin as a request reached it. */
export const edgeOrigin = (request: Request) => new URL(request.url).origin;

/**
 * Tells the device's host about a change, if it can be reached now. D1 holds the truth: the
 * HostLink pushes every device's settings whenever the link (re)connects, so a host that is
 * offline now catches up then, and the change itself must not fail for it. Live-event listeners
 * hear of it too (a device added, renamed or deleted), so a dashboard need not poll for it.
 */
export async function tellHost(env: Env, device: Device, change: 'upsert' | 'delete', edgeUrl?: string): Promise<void> {
  await publish(env, [{ event: 'device', deviceId: device.id, data: { id: device.id, ...(change === 'delete' ? { deleted: true } : { changed: true }) } }]);
  try {
    if (change === 'upsert') await relay(env, device.hostId, 'device.upsert', settingsOf(device, edgeUrl), 5_000);
    else await relay(env, device.hostId, 'device.delete', { id: device.id }, 10_000);
  } catch (error) {
    console.warn(`device ${device.id}: the host was not told (${change}): ${(error as Error).message}`);
  }
}
