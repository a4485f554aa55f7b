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
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { sha256Hex } from '../crypto.ts';
import type { AppEnv } from '../env.ts';
import type { ClaimRequest } from '../link/claims.ts';
import { withHeader } from './openapi.ts';

/** A keyed request's claim, as the send path takes it in the device's HostLink. */
export interface Claim extends ClaimRequest {
  /** From the key: keeps two requests claimed in the same millisecond apart. */
  tag: string;
  /** Ids handed out so far in this run. */
  taken: number;
  /** The HostLink holding the claim, once a send has taken it. */
  heldBy?: string;
}

const claims = new AsyncLocalStorage<Claim>();

/** The claim of the request being served, if it has an Idempotency-Key. */
export const currentClaim = () => claims.getStore();

/** An earlier try holds the claim: this run's ids start again, from that try's time. */
export function rerunFrom(claim: Claim, since: number): void {
  claim.since = since;
  claim.taken = 0;
}

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

/**
 * Put it after `endpoint()` with `auth: 'sender'` (it needs the sender). The claim itself is
 * taken by the send (see `dispatch`), in the one call into the device's HostLink; a request
 * refused before it sends (a bad body, an unknown device) never claims its key.
 */
const remembered: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header('idempotency-key');
  if (header === undefined) return next();
  if (!header || header.length > 255) throw new HTTPException(400, { message: 'Idempotency-Key: 1-255 characters' });
  const { sender } = c.var;
  // Per caller and route: two devices, or two routes, never share a key.
  const key = `${sender.admin ? 'admin' : sender.device.id} ${c.req.method} ${c.req.path} ${header}`;
  const claim: Claim = { key, fingerprint: await fingerprintOf(c.req.raw), since: Date.now(), tag: (await sha256Hex(key)).slice(0, 8), taken: 0 };
  await claims.run(claim, next);
  const { heldBy } = claim;
  if (!heldBy || c.res.status < 200 || c.res.status >= 300 || c.res.headers.has('idempotent-replayed')) return;
  // Kept after the answer (a retry before it is kept runs again under the same ids, and the host
  // answers it with the same outcome). Not timed: it is no part of this request's time.
  const body = await c.res.clone().text();
  c.executionCtx.waitUntil(
    c.env.HOST_LINK.getByName(heldBy)
      .keepAnswer(heldBy, key, claim.since, c.res.status, body)
      .catch((error: unknown) => console.error('idempotency: answer not kept:', error)),
  );
  // Otherwise (not sent, or failed) the claim stays: a retry runs again under the same ids and
  // gets the host's answer.
};

export const idempotent = withHeader(
  remembered,
  'Idempotency-Key',
  'Any string up to 255 characters. The same key from the same caller within 24 h never sends twice: a retry returns the first successful answer, or, if the first try did not succeed (a timeout, a dropped connection), tries again under the same message ids, so the session host answers with what really happened. A key reused with a different body is refused with 422.',
);
