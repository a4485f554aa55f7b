import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { ErrorCode } from '../session-host/link/protocol.ts';
import type { AppEnv } from './env.ts';
import { RelayError } from './link/relay.ts';

// Fonnte's /send answers errors as {status:false, reason}; every other route as {error}.
export const fonnteError = z.object({
  status: z.literal(false),
  reason: z.string().meta({ description: "Fonnte's phrase for a request error (target invalid, input invalid, url invalid, JSON format invalid, …); the seed's words for 401" }),
  detail: z.string().optional().meta({ description: 'What exactly was wrong, naming the field' }),
  requestid: z.number().int().optional(),
});
export const apiError = z.object({ error: z.string() });
export const isFonnte = (path: string) => path === '/send';
export const errorBody = (path: string, message: string) => (isFonnte(path) ? { status: false, reason: message } : { error: message });

// ───────────── Fonnte's request errors ─────────────

/**
 * Fonnte's `requestid`, in every /send answer: the unix second times a million plus a random
 * part, so it is an integer that grows with time and two requests in one second share it only
 * by a one-in-a-million chance, with no shared counter to ask.
 */
export function requestIdOf(c: Context<AppEnv>): number {
  let id = c.get('requestid');
  if (id === undefined) {
    id = Math.floor(Date.now() / 1000) * 1_000_000 + Math.floor(Math.random() * 1_000_000);
    c.set('requestid', id);
  }
  return id;
}

/**
 * Fonnte's fixed phrase for a request error, from the precise message ("<field>: <reason>", the
 * first field at fault decides): clients match on these words, people read `detail`.
 */
export function fonntePhrase(detail: string): string {
  if (/^Malformed JSON/.test(detail)) return 'JSON format invalid';
  const path = /^([\w.]+): /.exec(detail)?.[1]?.split('.') ?? [];
  if (path.length === 1 && path[0] === 'data') return 'JSON format invalid';
  const field = path.filter((part) => !/^\d+$/.test(part)).at(-1);
  if (field === 'target' || field === 'to') return 'target invalid';
  if (field === 'url') return 'url invalid';
  if (field === 'file') return /\b4 MB\b/.test(detail) ? 'file size must under 4MB' : 'file format not supported';
  return 'input invalid';
}

/** A request error on /send as Fonnte answers it: HTTP 200, its phrase, our words in `detail`. */
export const fonnteRequestError = (c: Context<AppEnv>, detail: string) => c.json({ status: false, reason: fonntePhrase(detail), detail, requestid: requestIdOf(c) }, 200);

// The single error path: expected failures are thrown as HTTPException and keep their
// status and message (or their own response); anything else is logged and answered with the
// seed's 500 shape, so no internals (stack traces, SQL) ever reach a client.
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof HTTPException) {
    if (isFonnte(c.req.path) && !err.res && err.status === 400) return fonnteRequestError(c, err.message);
    if (isFonnte(c.req.path) && !err.res) return c.json({ ...errorBody(c.req.path, err.message), requestid: requestIdOf(c) }, err.status);
    return err.res ? err.getResponse() : c.json(errorBody(c.req.path, err.message), err.status);
  }
  console.error(`${c.req.method} ${c.req.path} failed:`, err);
  return c.json({ ...errorBody(c.req.path, 'Internal Server Error'), ...(isFonnte(c.req.path) && { requestid: requestIdOf(c) }) }, 500);
};

export const notFound: NotFoundHandler<AppEnv> = (c) => c.json({ error: 'Not found' }, 404);

// How a failure on the session host (or of the link to it) reaches a client. A timeout is a
// 504, not a 503: the host may still carry the request out, so a blind retry could send twice.
export const relayStatus: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  media_error: 400,
  not_found: 404,
  not_connected: 503,
  host_offline: 503,
  store_unavailable: 503,
  timeout: 504,
  send_failed: 502,
  internal: 500,
  forbidden: 403,
};

// The host's own words where they help the client (what was wrong with the media, why WhatsApp
// refused); fixed words where they would only expose the setup (the host's address).
const fixedReasons: Partial<Record<ErrorCode, string>> = {
  not_connected: 'Device is not connected',
  host_offline: 'Session host is offline',
  store_unavailable: "Session host's store is unavailable",
  timeout: 'Session host did not answer in time (it may still carry the request out)',
  internal: 'Internal Server Error',
};

/** Any error from `relay()` as a RelayError; anything else is unexpected, so logged. */
export function asRelayError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  console.error('relay failed unexpectedly:', error);
  return new RelayError('internal', 'Internal Server Error');
}

export const relayReason = (error: RelayError) => fixedReasons[error.code] ?? error.message;

/** A relay failure as the HTTP error to throw, its reason after `prefix` (e.g. "Failed to send message: "). */
export function relayFailure(error: unknown, prefix = ''): HTTPException {
  const failure = asRelayError(error);
  return new HTTPException(relayStatus[failure.code], { message: prefix + relayReason(failure) });
}
