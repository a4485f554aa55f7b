// Session hosts beyond the default one (HOST_URL): registered here, each with its own HostLink.
import { asc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { body, dateTime, endpoint } from '../api/openapi.ts';
import { randomHex } from '../crypto.ts';
import { devicesTable, hostsTable, type Host } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';

export const host = z.object({
  id: z.string().meta({ examples: ['host_7c6a180b36896a0a'] }),
  name: z.string(),
  url: z.string().meta({ description: "The host's public URL; the edge dials <url>/link", examples: ['https://wa-home.example.com'] }),
  createdAt: dateTime,
});

export const newHost = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(100),
  url: z.url({ protocol: /^(https?|wss?)$/, error: 'must be an http(s) or ws(s) URL' }),
  secret: z.string().min(16, 'must be at least 16 characters').max(256).meta({ description: 'The HOST_SECRET the host was started with; never shown again' }),
});

// The secret stays in D1: it is what lets the edge prove itself to the host.
const hostView = ({ secret: _, createdAt, ...rest }: Host) => ({ ...rest, createdAt: createdAt.toISOString() });

export const hosts = new Hono<AppEnv>()
  .get('/', endpoint({ summary: 'List registered session hosts', auth: 'admin', responses: { 200: z.object({ hosts: z.array(host) }) } }), async (c) => {
    const rows = await c.var.db.select().from(hostsTable).orderBy(asc(hostsTable.createdAt), asc(hostsTable.id));
    return c.json({ hosts: rows.map(hostView) });
  })
  .post('/', endpoint({ summary: 'Register a session host', auth: 'admin', responses: { 201: host } }), body(newHost), async (c) => {
    const [created] = await c.var.db
      .insert(hostsTable)
      .values({ id: `host_${randomHex(8)}`, ...c.req.valid('json') })
      .returning();
    return c.json(hostView(created!), 201);
  })
  .delete(
    '/:id',
    endpoint({
      summary: 'Remove a session host',
      auth: 'admin',
      responses: { 200: z.object({ success: z.literal(true), id: z.string() }) },
      errors: { 404: 'No such host', 409: 'Devices still live on the host: delete them first' },
    }),
    async (c) => {
      const id = c.req.param('id');
      const { db } = c.var;
      const users = await db.select({ id: devicesTable.id }).from(devicesTable).where(eq(devicesTable.hostId, id));
      if (users.length) throw new HTTPException(409, { message: `Host ${id} still has devices: ${users.map((d) => d.id).join(', ')}` });
      const [gone] = await db.delete(hostsTable).where(eq(hostsTable.id, id)).returning();
      if (!gone) throw new HTTPException(404, { message: `Host not found: ${id}` });
      return c.json({ success: true as const, id });
    },
  );
