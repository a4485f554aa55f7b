// Who may read the host's own HTTP endpoints beyond the link: a Bearer token that is the host
// secret or METRICS_TOKEN (a scraper can hold the latter without being able to open a link).
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Why `authorization` (the raw header) does not carry one of `tokens`, or null when it does.
 * Each candidate is hashed first, so the comparison takes the same time whatever its length.
 */
export function bearerRefusal(authorization: string | undefined, tokens: readonly string[]): string | null {
  if (!authorization) return 'Authorization: Bearer <HOST_SECRET or METRICS_TOKEN> is required';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match) return 'Authorization must be "Bearer <token>"';
  const given = digest(match[1]!);
  // Every token is compared, so the time taken does not say which one (or whether one) matched.
  let valid = false;
  for (const token of tokens) valid = timingSafeEqual(given, digest(token)) || valid;
  return valid ? null : 'the Bearer token is not valid';
}
