// Webhook signatures: HMAC-SHA256 with the device's webhook secret over `${timestamp}.${body}`,
// sent as `X-Webhook-Signature: sha256=<hex>` beside `X-Webhook-Timestamp`. Signing the timestamp
// lets receivers refuse old deliveries replayed at them.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * True when `signatureHeader` is the signature of `body` at `timestamp` (the raw header values)
 * and the timestamp is within `toleranceSeconds` of now (5 minutes by default; `Infinity` skips
 * that check). Pass the body exactly as received: re-serialised JSON will not match.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: number | string,
  body: string | Buffer,
  signatureHeader: string | undefined,
  { toleranceSeconds = 300, now = Date.now() }: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const seconds = Number(timestamp);
  if (!signatureHeader || !Number.isInteger(seconds)) return false;
  if (Math.abs(now / 1000 - seconds) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, seconds, body.toString()));
  const given = Buffer.from(signatureHeader.trim().toLowerCase());
  // Lengths are public (fixed by the format); only the bytes must be compared in constant time.
  return given.length === expected.length && timingSafeEqual(given, expected);
}
