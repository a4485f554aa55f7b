// Signed links to incoming media: `GET <edge>/api/media/<device>/<message>?expires=<unix s>&sig=<hex>`
// lets a webhook receiver fetch a file without the device's key, for a limited time. The host
// signs (it writes the webhook), the edge checks (it serves the file); both hold the host's
// secret, so no per-link state exists anywhere and a link cannot be forged or extended.
import { hmac, sameMac, toHex } from './protocol.ts';

/** How long a link in a webhook works: as long as Fonnte's attachment links. */
export const MEDIA_LINK_TTL_SECONDS = 30 * 60;

/** What the signature covers; the first line keeps it from ever matching another of the secret's uses. */
const signedText = (deviceId: string, messageId: string, expires: number) => `wa-gateway-media/1\n${deviceId}\n${messageId}\n${expires}`;

/** The route's path for one incoming message's media (the key or a signature still required). */
export const mediaPath = (deviceId: string, messageId: string) => `/api/media/${encodeURIComponent(deviceId)}/${encodeURIComponent(messageId)}`;

export async function signMedia(secret: string, deviceId: string, messageId: string, expires: number): Promise<string> {
  return toHex(await hmac(secret, signedText(deviceId, messageId, expires)));
}

/** A link under `edgeUrl` (its origin and any base path) that works until `expires` (unix seconds). */
export async function signedMediaUrl(secret: string, edgeUrl: string, deviceId: string, messageId: string, expires: number): Promise<string> {
  const sig = await signMedia(secret, deviceId, messageId, expires);
  return `${edgeUrl.replace(/\/+$/, '')}${mediaPath(deviceId, messageId)}?expires=${expires}&sig=${sig}`;
}

export type MediaLinkCheck = { ok: true } | { ok: false; reason: 'expired' | 'bad signature' };

/** Checks a link's signature in constant time, then its expiry (`now` in unix seconds). */
export async function checkMediaLink(secret: string, deviceId: string, messageId: string, expires: number, sig: string, now = Math.floor(Date.now() / 1000)): Promise<MediaLinkCheck> {
  if (!sameMac(await hmac(secret, signedText(deviceId, messageId, expires)), sig)) return { ok: false, reason: 'bad signature' };
  return expires > now ? { ok: true } : { ok: false, reason: 'expired' };
}
