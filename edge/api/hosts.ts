// Session hosts: the views the admin API answers with, each host's live link state, and removing
// a host together with its devices.
import { asc, eq } from 'drizzle-orm';
import { HTTPException } from 'hono/http-exception';
import { devicesTable, hostsTable, type Device, type Host } from '../db/schema.ts';
import type { DB } from '../env.ts';
import type { HostLink } from '../link/host-link.ts';
import { DEFAULT_HOST_ID } from '../link/projection.ts';
import { hostLink } from '../link/relay.ts';
import { deleteDevice } from './devices.ts';

/** `url`: the edge dials the host there; `dial-in`: the host dials the edge (EDGE_URL, HOST_ID). */
export type HostMode = 'url' | 'dial-in';
const modeOf = (url: string | null): HostMode => (url ? 'url' : 'dial-in');

/** A host as the API shows it; the secret stays in D1, where it lets the edge and the host prove themselves. */
export const hostView = ({ secret: _, createdAt, ...rest }: Host) => ({ ...rest, mode: modeOf(rest.url), createdAt: createdAt.toISOString() });

/** The default host comes from the edge's own settings (HOST_SECRET, and HOST_URL when the edge dials it); it has no D1 row. */
function defaultHost(env: Env) {
  if (!env.HOST_SECRET) return undefined;
  const url = env.HOST_URL || null;
  return { id: DEFAULT_HOST_ID, name: 'Default host', url, mode: modeOf(url), createdAt: null };
}

/** The host's link as its HostLink knows it now; never dials, never throws. */
async function linkStateOf(env: Env, hostId: string) {
  let state: Awaited<ReturnType<HostLink['linkState']>>;
  try {
    const { id, stub } = hostLink(env, hostId === DEFAULT_HOST_ID ? null : hostId);
    state = await stub.linkState(id, false);
  } catch (error) {
    state = { online: false, lastError: (error as Error).message, via: null, lastSeenAt: null, version: null };
  }
  return { ...state, lastSeenAt: state.lastSeenAt ? new Date(state.lastSeenAt).toISOString() : null };
}

type HostDevice = Pick<Device, 'id' | 'name' | 'status' | 'phoneNumber'>;

/** Every host (the default one first, when configured) with its link state and its devices: one D1 query for the devices, the link states asked in parallel. */
export async function listHosts(env: Env, db: DB) {
  const [rows, devices] = await Promise.all([
    db.select().from(hostsTable).orderBy(asc(hostsTable.createdAt), asc(hostsTable.id)),
    db
      .select({ id: devicesTable.id, name: devicesTable.name, status: devicesTable.status, phoneNumber: devicesTable.phoneNumber, hostId: devicesTable.hostId })
      .from(devicesTable)
      .orderBy(asc(devicesTable.createdAt), asc(devicesTable.id)),
  ]);
  const byHost = new Map<string, HostDevice[]>();
  for (const { hostId, ...device } of devices) {
    const key = hostId ?? DEFAULT_HOST_ID;
    byHost.set(key, [...(byHost.get(key) ?? []), device]);
  }
  const fallback = defaultHost(env);
  const hosts = [...(fallback ? [fallback] : []), ...rows.map(hostView)];
  return Promise.all(hosts.map(async (host) => ({ ...host, ...(await linkStateOf(env, host.id)), devices: byHost.get(host.id) ?? [] })));
}

/**
 * Removes a registered host. Devices that live on it make it a 409, unless `withDevices`: then
 * they are deleted first, exactly as the device API deletes one. Returns the deleted devices' ids.
 */
export async function removeHost(env: Env, db: DB, id: string, withDevices: boolean): Promise<string[]> {
  if (id === DEFAULT_HOST_ID) {
    throw new HTTPException(409, { message: "The default host comes from the edge's settings (HOST_SECRET, HOST_URL) and cannot be removed here: unset them instead" });
  }
  const [host] = await db.select({ id: hostsTable.id }).from(hostsTable).where(eq(hostsTable.id, id));
  if (!host) throw new HTTPException(404, { message: `Host not found: ${id}` });
  const devices = await db.select().from(devicesTable).where(eq(devicesTable.hostId, id));
  if (devices.length && !withDevices) {
    const names = devices.map((d) => `${d.name} (${d.id})`).join(', ');
    throw new HTTPException(409, { message: `Host ${id} still has devices: ${names}. Delete them first, or pass ?deleteDevices=true to delete them with the host` });
  }
  for (const device of devices) await deleteDevice(env, db, device);
  await db.delete(hostsTable).where(eq(hostsTable.id, id));
  return devices.map((d) => d.id);
}
