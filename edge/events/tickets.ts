// Tickets for `GET /api/events` from a browser: a WebSocket opened by a page cannot carry an
// Authorization header, and a long-lived key in a URL ends up in logs and history. A ticket is
// asked for with the key (`POST /api/events/ticket`), names what it may see, lasts a minute and
// opens one socket (the EventHub remembers it used). Stateless to issue: an HMAC under a key
// derived from ADMIN_KEY, so no storage is touched until it is used.
import { base64, fromBase64, hmacHex, sameSecret } from '../crypto.ts';
import { type Audience, TICKET_TTL_MS } from './hub.ts';

interface TicketBody {
  /** Random id: what makes it single-use. */
  id: string;
  audience: Audience;
  expiresAt: number;
}

const signingKey = (env: Env) => `events-ticket\n${env.ADMIN_KEY}`;
const encode = (text: string) => base64(new TextEncoder().encode(text)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const decode = (text: string) => new TextDecoder().decode(fromBase64(text.replace(/-/g, '+').replace(/_/g, '/')));

export async function issueTicket(env: Env, audience: Audience): Promise<{ ticket: string; expiresAt: number }> {
  const body: TicketBody = { id: crypto.randomUUID(), audience, expiresAt: Date.now() + TICKET_TTL_MS };
  const payload = encode(JSON.stringify(body));
  return { ticket: `${payload}.${await hmacHex(signingKey(env), payload)}`, expiresAt: body.expiresAt };
}

/** The ticket's body if it is one of ours and has not expired (single use is the hub's check). */
export async function readTicket(env: Env, ticket: string): Promise<TicketBody | undefined> {
  const [payload, mac] = ticket.split('.');
  if (!payload || !mac || !(await sameSecret(mac, await hmacHex(signingKey(env), payload)))) return undefined;
  try {
    const body = JSON.parse(decode(payload)) as TicketBody;
    return body.expiresAt > Date.now() ? body : undefined;
  } catch {
    return undefined;
  }
}
