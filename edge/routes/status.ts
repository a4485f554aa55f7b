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

/**
 * The host's public URL, or null. Never dials: an offline host costs one call to its HostLink,
 * so the status page answers at once even then.
 */
export async function publicUrl(env: Env, hostId: string | null): Promise<string | null> {
  try {
    const { id, stub } = hostLink(env, hostId);
    if (!(await stub.linkState(id)).online) return null;
    return (await relay(env, hostId, 'host.status', {}, 2_000)).publicUrl;
  } catch {
    return null;
  }
}

export const gatewayStatus = z.object({
  devices: z.array(statusDevice).meta({ description: 'Every device with the admin key; only its own with a device key' }),
  publicUrl: z.string().nullable().meta({ description: "The session host's public URL; null while it is unreachable", examples: ['https://waapi.hsblink.web.id'] }),
});

export const status = new Hono<AppEnv>().get(
  '/',
  endpoint({ summary: 'Devices and the gateway’s public URL', auth: 'device', responses: { 200: gatewayStatus } }),
  async (c) => {
    const { db, caller } = c.var;
    const [devices, url] = await Promise.all([
      caller.admin ? db.select().from(devicesTable).orderBy(asc(devicesTable.createdAt), asc(devicesTable.id)) : [caller.device],
      publicUrl(c.env, caller.admin ? null : caller.device.hostId),
    ]);
    return c.json({ devices: devices.map((d) => statusView(d)), publicUrl: url });
  },
);
