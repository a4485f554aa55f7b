// Slows key guessing: one KeyGuard Durable Object per client address counts its wrong API keys
// in a token bucket. A client may get BURST keys wrong at once, then one more every REFILL_MS;
// beyond that it is answered 429 with Retry-After. Only wrong keys reach it: a right key never
// waits for it and is never counted.
//
// Not Workers' rate-limiting binding: it counts per Cloudflare location and only eventually, in
// fixed 10 or 60 s windows, and answers only yes or no, so it can give no Retry-After; and a
// guesser that spreads its tries over a window's edge gets twice the limit. A Durable Object per
// client is exact, global, and cheap here, because only failures pay for the round trip.
import { DurableObject } from 'cloudflare:workers';

export const KEY_GUESS_BURST = 20;
export const KEY_GUESS_REFILL_MS = 3_000;

interface Bucket {
  tokens: number;
  /** Unix ms when `tokens` was counted. */
  at: number;
}

export class KeyGuard extends DurableObject<Env> {
  /**
   * Records a wrong key. Returns 0 when the client was still within its allowance, else the
   * seconds until it may try again (a try meanwhile is not counted: waiting is the way out).
   */
  async failed(): Promise<number> {
    const now = Date.now();
    const saved = await this.ctx.storage.get<Bucket>('bucket');
    const tokens = saved ? Math.min(KEY_GUESS_BURST, saved.tokens + (now - saved.at) / KEY_GUESS_REFILL_MS) : KEY_GUESS_BURST;
    if (tokens < 1) return Math.ceil(((1 - tokens) * KEY_GUESS_REFILL_MS) / 1000);
    const left = tokens - 1;
    await this.ctx.storage.put('bucket', { tokens: left, at: now } satisfies Bucket);
    // Forgotten once full again, so the state is bounded by the clients guessing right now.
    await this.ctx.storage.setAlarm(now + Math.ceil((KEY_GUESS_BURST - left) * KEY_GUESS_REFILL_MS));
    return 0;
  }

  async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

/**
 * Who is guessing: the client address Cloudflare puts in CF-Connecting-IP (an IPv6 client by
 * its /64, which one machine usually holds whole). Without it (local `wrangler dev`, tests)
 * every caller is one client.
 */
export function clientOf(request: Request): string {
  const ip = request.headers.get('cf-connecting-ip')?.trim();
  if (!ip) return 'local';
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
