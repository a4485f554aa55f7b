// Session hosts: the default one (HOST_SECRET, HOST_URL) and more registered here, each with its
// own HostLink. The edge dials a host that has a URL; a host without one dials the edge itself.
import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { hostView, listHosts, removeHost } from '../api/hosts.ts';
import { body, dateTime, endpoint, query } from '../api/openapi.ts';
import { randomHex } from '../crypto.ts';
import { deviceStatuses, hostsTable } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { hostLink } from '../link/relay.ts';

const hostUrl = z
  .url({ protocol: /^(https?|wss?)$/, error: 'must be an http(s) or ws(s) URL' })
  .nullable()
  .meta({
    description: "The host's public URL, which the edge dials (<url>/link); null: the host dials the edge itself (EDGE_URL, HOST_ID, HOST_SECRET)",
    examples: ['https://wa-home.example.com'],
  });

export const host = z.object({
  id: z.string().meta({ examples: ['host_7c6a180b36896a0a'] }),
  name: z.string(),
  url: hostUrl,
  mode: z.enum(['url', 'dial-in']).meta({ description: 'url: the edge dials the URL; dial-in: the host dials the edge' }),
  createdAt: dateTime,
});

export const createdHost = host.extend({
  secret: z.string().meta({ description: 'The HOST_SECRET to start the host with: shown only in this answer' }),
});

export const liveHost = host.extend({
  id: z.string().meta({ description: '"default" for the default host', examples: ['host_7c6a180b36896a0a'] }),
  createdAt: dateTime.nullable().meta({ description: 'null for the default host, which comes from the edge’s settings' }),
  online: z.boolean().meta({ description: 'Whether its link is up now' }),
  via: z.enum(['edge', 'host']).nullable().meta({ description: 'Who dialled the link that is up: the edge (the URL) or the host' }),
  lastSeenAt: dateTime.nullable().meta({ description: 'When the host was last heard from; null if never' }),
  version: z.string().nullable().meta({ description: "The host's version, as it reported it" }),
  lastError: z.string().nullable().meta({ description: 'Why the link is down, when known' }),
  devices: z.array(z.object({ id: z.string(), name: z.string(), status: z.enum(deviceStatuses), phoneNumber: z.string().nullable() })),
});

const name = z.string().trim().min(1, 'must not be empty').max(100);

export const newHost = z.object({
  name,
  url: hostUrl.optional(),
  secret: z.string().min(16, 'must be at least 16 characters').max(256).optional().meta({
    description: 'The HOST_SECRET the host is (or will be) started with; absent: the edge makes one (32 random bytes, hex)',
  }),
});

export const hostChanges = z.object({ name: name.optional(), url: hostUrl.optional() });

const removal = z.object({
  deleteDevices: z.enum(['true', 'false']).optional().meta({ description: "true: delete the host's devices with it (their keys stop working, their WhatsApp sessions end)" }),
});

/**
 * A host's record changed (or is gone): its link follows now, without holding the answer. The
 * link up drops; a URL is dialled at once (then retried with backoff until the host answers).
 */
function relinkSoon(env: Env, ctx: { waitUntil(work: Promise<unknown>): void }, hostId: string): void {
  const { id, stub } = hostLink(env, hostId);
  ctx.waitUntil(stub.relink(id).catch(() => undefined));
}

export const hosts = new Hono<AppEnv>()
  .get(
    '/',
    endpoint({
      summary: 'List session hosts with their link state and devices',
      description: 'The default host (id "default") comes first when the edge has HOST_SECRET.',
      auth: 'admin',
      responses: { 200: z.object({ hosts: z.array(liveHost) }) },
    }),
    async (c) => c.json({ hosts: await listHosts(c.env, c.var.db) }),
  )
  .post(
    '/',
    endpoint({
      summary: 'Register a session host',
      description: 'The answer holds the host’s secret: the only time it is shown.',
      auth: 'admin',
      responses: { 201: createdHost },
    }),
    body(newHost),
    async (c) => {
      const { name, url = null, secret = randomHex(32) } = c.req.valid('json');
      const [created] = await c.var.db
        .insert(hostsTable)
        .values({ id: `host_${randomHex(8)}`, name, url, secret })
        .returning();
      if (url) relinkSoon(c.env, c.executionCtx, created!.id);
      return c.json({ ...hostView(created!), secret }, 201);
    },
  )
  .patch(
    '/:id',
    endpoint({
      summary: 'Rename a session host or change its URL',
      description: "A quick tunnel's URL changes on every restart: set the new one here. null: the host dials the edge itself.",
      auth: 'admin',
      responses: { 200: host },
      errors: { 404: 'No such host' },
    }),
    body(hostChanges),
    async (c) => {
      const id = c.req.param('id');
      const changes = c.req.valid('json');
      const { db } = c.var;
      const [changed] = Object.keys(changes).length ? await db.update(hostsTable).set(changes).where(eq(hostsTable.id, id)).returning() : await db.select().from(hostsTable).where(eq(hostsTable.id, id));
      if (!changed) throw new HTTPException(404, { message: `Host not found: ${id}` });
      if (changes.url !== undefined) relinkSoon(c.env, c.executionCtx, id);
      return c.json(hostView(changed));
    },
  )
  .delete(
    '/:id',
    endpoint({
      summary: 'Remove a session host',
      description: 'With deleteDevices=true its devices are deleted first, as DELETE /api/devices/{id} deletes one.',
      auth: 'admin',
      responses: { 200: z.object({ success: z.literal(true), id: z.string(), deletedDevices: z.array(z.string()) }) },
      errors: { 404: 'No such host', 409: 'The default host, or devices still live on the host (without deleteDevices=true)' },
    }),
    query(removal),
    async (c) => {
      const id = c.req.param('id');
      const deletedDevices = await removeHost(c.env, c.var.db, id, c.req.valid('query').deleteDevices === 'true');
      // Its link ends: a host that dials in is refused from now on (no such host).
      relinkSoon(c.env, c.executionCtx, id);
      return c.json({ success: true as const, id, deletedDevices });
    },
  );
