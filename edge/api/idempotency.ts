// `Idempotency-Key` on the send routes: a client that retries after a lost answer (a timeout,
// a dropped connection) gets the first answer again and nothing is sent twice.
import { and, eq, lt } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { idempotencyTable } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { withHeader } from './openapi.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/** Put it after `endpoint()` (it needs the caller). Only successful answers are kept: a failure may be retried. */
const remembered: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header('idempotency-key');
  if (header === undefined) return next();
  if (!header || header.length > 255) throw new HTTPException(400, { message: 'Idempotency-Key: 1-255 characters' });
  const { db, caller } = c.var;
  // Per caller and route: two devices, or two routes, never share a key.
  const key = `${caller.admin ? 'admin' : caller.device.id} ${c.req.method} ${c.req.path} ${header}`;
  const now = new Date();
  // A claim (status 0) is taken before anything is sent, so two concurrent requests with one
  // key cannot both send: the second is told to retry instead.
  await db.delete(idempotencyTable).where(and(eq(idempotencyTable.key, key), lt(idempotencyTable.createdAt, new Date(now.getTime() - IDEMPOTENCY_TTL_MS))));
  const claimed = await db.insert(idempotencyTable).values({ key, status: 0, body: '', createdAt: now }).onConflictDoNothing().returning();
  if (!claimed.length) {
    const [first] = await db.select().from(idempotencyTable).where(eq(idempotencyTable.key, key));
    if (first && first.status > 0) {
      return new Response(first.body, { status: first.status, headers: { 'content-type': 'application/json', 'idempotent-replayed': 'true' } });
    }
    throw new HTTPException(409, { message: 'Idempotency-Key: a request with this key is still being processed' });
  }
  try {
    await next();
  } catch (error) {
    await db.delete(idempotencyTable).where(eq(idempotencyTable.key, key));
    throw error;
  }
  if (c.res.status >= 200 && c.res.status < 300) {
    await db.update(idempotencyTable).set({ status: c.res.status, body: await c.res.clone().text() }).where(eq(idempotencyTable.key, key));
  } else {
    await db.delete(idempotencyTable).where(eq(idempotencyTable.key, key));
  }
};

export const idempotent = withHeader(
  remembered,
  'Idempotency-Key',
  'Any string up to 255 characters: the same key from the same caller within 24 h returns the first successful answer and sends nothing again.',
);
