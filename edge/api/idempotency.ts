// `Idempotency-Key` on the send routes: a client that retries after a lost or unclear answer (a
// timeout, a dropped connection, a crash of the edge) gets the real outcome and nothing is sent
// twice.
//
// The session host's outbox is the truth about what went out: it never sends one outbox id twice
// and answers a repeat with its first result. So a keyed request takes its message log ids (which
// are the outbox ids) from its claim, not from the clock: the same key always yields the same ids.
// A retry of a request that did not finish (it failed with an unknown outcome, or the edge died
// under it) runs again under those ids, and the host answers with what really happened instead of
// sending again; twins running at once get the one outcome too. Only successful answers are kept
// and replayed as they were.
import { AsyncLocalStorage } from 'node:async_hooks';
import { and, asc, eq, inArray, lt } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { sha256Hex } from '../crypto.ts';
import { idempotencyTable } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { withHeader } from './openapi.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Expired keys removed per keyed request: enough to keep up, never a long statement. */
const SWEEP_LIMIT = 50;

interface Claim {
  /** From the key: keeps two requests claimed in the same millisecond apart. */
  tag: string;
  /** The claim's first time, unix ms: every run of the request numbers its ids from it. */
  since: number;
  /** Ids handed out so far in this run. */
  taken: number;
}

const claims = new AsyncLocalStorage<Claim>();

/**
 * Inside a request with an `Idempotency-Key`: its next message log id, the same on every run of
 * that request (the n-th id of a retry is the n-th id of the first try). Undefined elsewhere.
 */
export function claimedMessageId(): { id: string; createdAt: Date } | undefined {
  const claim = claims.getStore();
  if (!claim) return undefined;
  const ms = claim.since + claim.taken++;
  return { id: `msg_${ms.toString(36).padStart(9, '0')}${claim.tag}`, createdAt: new Date(ms) };
}

/** The request body, as far as it identifies the request (a multipart boundary is random per try). */
async function fingerprintOf(request: Request): Promise<string> {
  const type = request.headers.get('content-type') ?? '';
  let body = await request.clone().text();
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (boundary) body = body.replaceAll(boundary, '');
  return sha256Hex(`${type.split(';')[0]!.trim()}\n${body}`);
}

/** Put it after `endpoint()` with `auth: 'sender'` (it needs the sender). */
const remembered: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header('idempotency-key');
  if (header === undefined) return next();
  if (!header || header.length > 255) throw new HTTPException(400, { message: 'Idempotency-Key: 1-255 characters' });
  const { db, sender } = c.var;
  const t = idempotencyTable;
  // Per caller and route: two devices, or two routes, never share a key.
  const key = `${sender.admin ? 'admin' : sender.device.id} ${c.req.method} ${c.req.path} ${header}`;
  const fingerprint = await fingerprintOf(c.req.raw);
  const now = Date.now();
  const expired = new Date(now - IDEMPOTENCY_TTL_MS);
  // One round trip: this key if it expired, a bounded sweep of other expired keys (oldest first,
  // by index), the claim, and whichever claim now holds the key.
  const [, , claimed, [held]] = await db.batch([
    db.delete(t).where(and(eq(t.key, key), lt(t.createdAt, expired))),
    db.delete(t).where(inArray(t.key, db.select({ key: t.key }).from(t).where(lt(t.createdAt, expired)).orderBy(asc(t.createdAt)).limit(SWEEP_LIMIT))),
    db
      .insert(t)
      .values({ key, status: 0, body: '', fingerprint, createdAt: new Date(now) })
      .onConflictDoNothing()
      .returning({ key: t.key }),
    db.select().from(t).where(eq(t.key, key)),
  ]);
  if (!held) throw new Error('idempotency claim vanished');
  if (held.fingerprint !== fingerprint) {
    throw new HTTPException(422, { message: 'Idempotency-Key: already used for a different request (the body differs)' });
  }
  if (held.status > 0) {
    return new Response(held.body, { status: held.status, headers: { 'content-type': 'application/json', 'idempotent-replayed': 'true' } });
  }

  // Not finished yet (first try, a try that ended unclear or failed, one cut by a crash, or a twin
  // running now): run it, under the claim's ids.
  const claim: Claim = { tag: (await sha256Hex(key)).slice(0, 8), since: held.createdAt.getTime(), taken: 0 };
  await claims.run(claim, next);
  const ours = and(eq(t.key, key), eq(t.createdAt, held.createdAt));
  if (c.res.status >= 200 && c.res.status < 300) {
    // Kept after the answer: a retry that comes before it is written runs again under the same
    // ids, and the host answers it with the same outcome.
    const answer = { status: c.res.status, body: await c.res.clone().text() };
    c.executionCtx.waitUntil(
      db
        .update(t)
        .set(answer)
        .where(ours)
        .then(
          () => undefined,
          (error: unknown) => console.error('idempotency: answer not kept:', error),
        ),
    );
  } else if (claimed.length && claim.taken === 0) {
    // Refused before any message got an id (a bad body, an unknown device): nothing can have
    // gone out, so the key is free for a corrected request.
    await db.delete(t).where(ours);
  }
  // Otherwise the claim stays: a retry runs again under the same ids and gets the host's answer.
};

export const idempotent = withHeader(
  remembered,
  'Idempotency-Key',
  'Any string up to 255 characters. The same key from the same caller within 24 h never sends twice: a retry returns the first successful answer, or, if the first try did not succeed (a timeout, a dropped connection), tries again under the same message ids, so the session host answers with what really happened. A key reused with a different body is refused with 422.',
);
