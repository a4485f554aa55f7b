// The seed's GET /api/status: devices as D1 knows them (the HostLink keeps D1 current from the
// host's events), and the host's public URL if its link is up.
import { asc } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { statusDevice, statusView } from '../api/devices.ts';
import { endpoint } from '../api/openapi.ts';
import { devicesTable } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { hostLink, relay } from '../link/relay.ts';

const DIAL_WAIT_MS = 1_500;

/**
 * Whether the host's link is up, and its public URL. A link that is down is dialled, but the
 * answer waits for that at most DIAL_WAIT_MS: the status page answers fast even for a host that
 * does not answer at all.
 */
export async function hostState(env: Env, hostId: string | null): Promise<{ online: boolean; publicUrl: string | null }> {
  const offline = { online: false, publicUrl: null };
  try {
    const { id, stub } = hostLink(env, hostId);
    const timeout = new Promise<typeof offline>((resolve) => setTimeout(() => resolve(offline), DIAL_WAIT_MS));
    const link = await Promise.race([stub.linkState(id, true), timeout]);
    if (!link.online) return offline;
    return { online: true, publicUrl: (await relay(env, hostId, 'host.status', {}, 2_000)).publicUrl };
  } catch {
    return offline;
  }
}

export const gatewayStatus = z.object({
  devices: z.array(statusDevice).meta({ description: 'Every device with the admin key; only its own with a device key' }),
  publicUrl: z
    .string()
    .nullable()
    .meta({ description: "The session host's public URL; null while it is unreachable", examples: ['https://waapi.hsblink.web.id'] }),
  hostOnline: z.boolean().meta({ description: 'Whether the link to the session host is up (not in the seed: an addition)' }),
});

export const status = new Hono<AppEnv>().get('/', endpoint({ summary: 'Devices and the gateway’s public URL', auth: 'device', responses: { 200: gatewayStatus } }), async (c) => {
  const { db, caller } = c.var;
  const [devices, host] = await Promise.all([
    caller.admin ? db.select().from(devicesTable).orderBy(asc(devicesTable.createdAt), asc(devicesTable.id)) : [caller.device],
    hostState(c.env, caller.admin ? null : caller.device.hostId),
  ]);
  return c.json({ devices: devices.map((d) => statusView(d)), publicUrl: host.publicUrl, hostOnline: host.online });
});
