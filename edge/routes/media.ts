// Incoming media, downloaded through the edge: the device's session host fetches the file from
// WhatsApp and decrypts it on demand, and hands it over the link in chunks that this route
// streams to the client one after another, so a large video never sits whole in the Worker.
// With the device's key (or the admin key), or with the signed link a `message` webhook carries.
import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { checkMediaLink } from '../../session-host/link/media-link.ts';
import { endpoint, query } from '../api/openapi.ts';
import { deviceFor, type DeviceRef } from '../auth.ts';
import { devicesTable, hostsTable } from '../db/schema.ts';
import type { AppEnv, DB } from '../env.ts';
import { fromBase64 } from '../crypto.ts';
import { asRelayError, relayFailure } from '../errors.ts';
import { relay } from '../link/relay.ts';

/** Per link round trip: small enough for one frame, large enough that a 3 MB file is a dozen trips. */
export const CHUNK_BYTES = 256 * 1024;
/**
 * The host gives each step with WhatsApp 15 s: a chunk is one step, the first up to three (open,
 * ask the sender's phone to upload a dropped file again, open that); this leaves room for the link.
 */
const CHUNK_TIMEOUT_MS = 20_000;
const FIRST_CHUNK_TIMEOUT_MS = 50_000;

const signedLink = z
  .object({
    expires: z.coerce.number().int('must be unix seconds').positive('must be unix seconds').optional().meta({ description: 'Signed link: when it stops working (unix seconds)' }),
    sig: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')
      .optional()
      .meta({ description: 'Signed link: its signature; with it no key is needed' }),
  })
  .refine((q) => q.sig === undefined || q.expires !== undefined, { path: ['expires'], message: 'required with sig' })
  .refine((q) => q.expires === undefined || q.sig !== undefined, { path: ['sig'], message: 'required with expires' });

const BAD_LINK = 'Forbidden: this media link is not valid (its signature does not match the device and message)';

/** The device a signed link names, if the link's signature holds and it has not expired. */
async function signedDevice(db: DB, env: Env, deviceId: string, messageId: string, expires: number, sig: string): Promise<DeviceRef> {
  const [device] = await db.select({ id: devicesTable.id, hostId: devicesTable.hostId }).from(devicesTable).where(eq(devicesTable.id, deviceId));
  // An unknown device gets the same answer as a wrong signature: a link reveals nothing it was not signed for.
  if (!device) throw new HTTPException(403, { message: BAD_LINK });
  const secret = device.hostId === null ? env.HOST_SECRET : (await db.select({ secret: hostsTable.secret }).from(hostsTable).where(eq(hostsTable.id, device.hostId)))[0]?.secret;
  if (!secret) throw new HTTPException(403, { message: BAD_LINK });
  const check = await checkMediaLink(secret, deviceId, messageId, expires, sig);
  if (check.ok) return device;
  if (check.reason === 'expired') {
    throw new HTTPException(403, {
      message: `Forbidden: this media link expired at ${new Date(expires * 1000).toISOString()}; each webhook delivery carries a fresh one, and the device's key works without one`,
    });
  }
  throw new HTTPException(403, { message: BAD_LINK });
}

/** A failure of the host as the client's error: WhatsApp's media host failing is a 502, not the client's fault. */
function downloadFailure(error: unknown): HTTPException {
  const failure = asRelayError(error);
  if (failure.code === 'media_error') return new HTTPException(502, { message: failure.message });
  return relayFailure(failure);
}

/** `filename*` carries any name (RFC 6266); the plain `filename` a safe ASCII fallback for old clients. */
function disposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  let utf8 = '';
  try {
    utf8 = `; filename*=UTF-8''${encodeURIComponent(fileName)}`;
  } catch {
    // A name that is not valid Unicode (a lone surrogate): the ASCII fallback alone.
  }
  return `attachment; filename="${ascii}"${utf8}`;
}

/**
 * The sender chose the mimetype: anything that is not a plain `type/subtype` (with parameters)
 * goes out as bytes, and a sandbox keeps a file a browser would render (HTML, SVG) from running
 * scripts on the gateway's origin.
 */
function fileHeaders(mimetype: string, fileName: string | null): Record<string, string> {
  const type = /^[\w.+-]+\/[\w.+-]+(\s*;[\x20-\x7e]*)?$/.test(mimetype) ? mimetype : 'application/octet-stream';
  const headers: Record<string, string> = {
    'content-type': type,
    'content-security-policy': "default-src 'none'; sandbox",
    'x-content-type-options': 'nosniff',
    'cache-control': 'private, no-store',
  };
  if (fileName) headers['content-disposition'] = disposition(fileName);
  return headers;
}

/**
 * The file as a response whose body pulls the next chunk from the host only when the client has
 * taken the last one: the Worker holds a chunk or two, whatever the file's size. The first chunk
 * is fetched before answering, so a missing file is a clean 404, not a broken stream.
 */
async function streamed(env: Env, device: DeviceRef, messageId: string): Promise<Response> {
  const chunk = (offset: number) => relay(env, device.hostId, 'media.download', { deviceId: device.id, messageId, offset, length: CHUNK_BYTES }, offset ? CHUNK_TIMEOUT_MS : FIRST_CHUNK_TIMEOUT_MS);
  const first = await chunk(0).catch((error) => {
    throw downloadFailure(error);
  });
  const { total, mimetype, fileName } = first;
  let offset = 0;
  const push = (controller: ReadableStreamDefaultController<Uint8Array>, data: string) => {
    const bytes = fromBase64(data);
    offset += bytes.length;
    if (bytes.length) controller.enqueue(bytes);
    if (bytes.length < CHUNK_BYTES || (total !== null && offset >= total)) controller.close();
  };
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => push(controller, first.data),
    async pull(controller) {
      let next: typeof first;
      try {
        next = await chunk(offset);
      } catch (error) {
        // Mid-body there is no status to change: the client sees the body cut short.
        console.warn(`media ${device.id}/${messageId}: stopped at byte ${offset}: ${asRelayError(error).message}`);
        controller.error(error);
        return;
      }
      push(controller, next.data);
    },
  });
  const headers = fileHeaders(mimetype, fileName);
  if (total === null) return new Response(body, { headers });
  // A FixedLengthStream is how a Worker answers with a Content-Length while streaming.
  const { readable, writable } = new FixedLengthStream(total);
  body.pipeTo(writable).catch(() => undefined);
  return new Response(readable, { headers: { ...headers, 'content-length': String(total) } });
}

export const media = new Hono<AppEnv>().get(
  '/:deviceId/:messageId',
  endpoint({
    summary: 'Download the media of an incoming message',
    description:
      "The file of an image, video, audio, document or sticker the device received (within the host's retention), decrypted, byte for byte, with its mimetype as Content-Type and its file name (when it has one) in Content-Disposition. With the device's key or the admin key, or without a key through the signed link (`expires`, `sig`) that the `message` webhook carries in `media.url` and `url`, valid 30 minutes from each delivery.",
    auth: 'device',
    signedLink: true,
    produces: '*/*',
    responses: { 200: z.string().meta({ description: 'The file' }) },
    errors: {
      403: 'A device key asking for another device, or a signed link that is expired or does not match',
      404: 'No such device, no media in a message it received, or the file is no longer on WhatsApp',
      502: "WhatsApp's media host failed",
      503: 'Session host is offline',
      504: 'Session host did not answer in time',
    },
  }),
  query(signedLink),
  async (c) => {
    const { deviceId, messageId } = c.req.param();
    if (messageId.length > 128) throw new HTTPException(400, { message: 'messageId: at most 128 characters (a WhatsApp message id)' });
    const { expires, sig } = c.req.valid('query');
    const device = sig === undefined ? await deviceFor(c.var.db, c.var.caller, deviceId) : await signedDevice(c.var.db, c.env, deviceId, messageId, expires!, sig);
    return streamed(c.env, device, messageId);
  },
);
