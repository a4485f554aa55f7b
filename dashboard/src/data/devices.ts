// Device management. Every change is followed by a fresh status (and host list, which shows each
// host's devices), so the page shows it at once.
import { refreshHosts } from './hosts.ts';
import { api } from './session.ts';
import { refreshStatus, type Device } from './status.ts';

/** A device with its full API key: the only moments the key is ever shown. */
export interface KeyedDevice extends Device {
  webhookSecret: string;
}

export interface DeviceSettings extends Device {
  webhookSecret: string;
  /** Null: posted to webhookUrl; "": not posted. */
  statusWebhookUrl: string | null;
  connectionWebhookUrl: string | null;
  statusReason: string | null;
}

export interface WaGroup {
  id: string;
  name: string;
}

async function thenRefresh<T>(call: Promise<T>): Promise<T> {
  const result = await call;
  await Promise.all([refreshStatus(), refreshHosts()]);
  return result;
}

const path = (id: string, action = '') => `/api/devices/${encodeURIComponent(id)}${action}`;

/** The webhook URLs a device form sets (see DeviceSettings). */
export interface WebhookUrls {
  webhookUrl?: string;
  statusWebhookUrl?: string | null;
  connectionWebhookUrl?: string | null;
}

/** `hostId`: a registered host; absent or null for the default host. */
export const createDevice = (input: { name: string; hostId?: string | null } & WebhookUrls) => thenRefresh(api<KeyedDevice>('POST', '/api/devices', input));
export const getDevice = (id: string) => api<DeviceSettings>('GET', path(id));
export const updateDevice = (id: string, changes: { name?: string } & WebhookUrls) => thenRefresh(api<Device>('PATCH', path(id), changes));
export const deleteDevice = (id: string) => thenRefresh(api('DELETE', path(id)));
export const regenerateKey = (id: string) => thenRefresh(api<KeyedDevice>('POST', path(id, '/token')));
export const connectDevice = (id: string) => thenRefresh(api<Device>('POST', path(id, '/connect')));
export const disconnectDevice = (id: string) => thenRefresh(api<Device>('POST', path(id, '/disconnect')));
export const logoutDevice = (id: string) => thenRefresh(api<Device>('POST', path(id, '/logout')));

export async function pairingCode(id: string, phone: string): Promise<string> {
  const { code } = await thenRefresh(api<{ code: string }>('POST', path(id, '/pairing-code'), { phone }));
  return code;
}

/** Demo only (npm run demo): the WhatsApp simulator plays the phone and scans the device's QR code. */
export const scanWithSimulator = (id: string) => thenRefresh(api<{ phone: string }>('POST', `/api/demo/devices/${encodeURIComponent(id)}/scan`));

export async function listWaGroups(id: string, signal?: AbortSignal): Promise<WaGroup[]> {
  const { groups } = await api<{ groups: WaGroup[] }>('GET', path(id, '/wa-groups'), undefined, signal);
  return groups;
}
