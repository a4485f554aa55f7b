// Where a session host that dials in (EDGE_URL, HOST_ID, HOST_SECRET) reaches its HostLink:
// `GET /link/<host id>/challenge`, then the WebSocket upgrade to `/link/<host id>`. No API key:
// the host proves the host secret inside the handshake (HostLink.fetch). An id no host has is a
// 404 here, before any Durable Object is woken (or created) for it.
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { hostIdPattern } from '../../session-host/link/protocol.ts';
import { hostsTable } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { DEFAULT_HOST_ID } from '../link/host-link.ts';

async function hostExists(env: Env, id: string): Promise<boolean> {
  if (id === DEFAULT_HOST_ID) return Boolean(env.HOST_SECRET);
  const [row] = await drizzle(env.DB).select({ id: hostsTable.id }).from(hostsTable).where(eq(hostsTable.id, id));
  return Boolean(row);
}

const toHostLink = async (c: { env: Env; req: { param(name: 'hostId'): string; raw: Request } }) => {
  const id = c.req.param('hostId');
  if (!hostIdPattern.test(id) || !(await hostExists(c.env, id))) throw new HTTPException(404, { message: `No session host with id ${id}` });
  return c.env.HOST_LINK.getByName(id).fetch(c.req.raw);
};

export const link = new Hono<AppEnv>().get('/:hostId/challenge', (c) => toHostLink(c)).get('/:hostId', (c) => toHostLink(c));
