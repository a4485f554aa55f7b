// The link between the edge and a session host: an authenticated WebSocket carrying JSON frames.
// Defined once here and imported by both ends; every frame is validated on receipt.
//
// Handshake (the edge dials the host):
//   1. The edge's upgrade request carries `x-link-ts` (unix ms), `x-link-nonce` (random hex) and
//      `x-link-sig` = hex HMAC-SHA256(secret, "wa-gateway-link/1\nedge\n<ts>\n<nonce>"). The host
//      refuses (401, no upgrade) a wrong signature, a timestamp outside ±LINK_WINDOW_MS, or a
//      nonce it has already seen.
//   2. The host's first frame is `welcome` with its own nonce and
//      sig = hex HMAC-SHA256(secret, "wa-gateway-link/1\nhost\n<edge nonce>\n<host nonce>"), so
//      the edge knows it reached a host that holds the secret before it sends anything.
// The secret never crosses the wire.
import { z } from 'zod';

export const LINK_PROTOCOL = 'wa-gateway-link/1';
export const LINK_WINDOW_MS = 30_000;
export const LINK_HEADERS = { timestamp: 'x-link-ts', nonce: 'x-link-nonce', signature: 'x-link-sig' } as const;

export const edgeProofMessage = (ts: string, nonce: string) => `${LINK_PROTOCOL}\nedge\n${ts}\n${nonce}`;
export const hostProofMessage = (edgeNonce: string, hostNonce: string) => `${LINK_PROTOCOL}\nhost\n${edgeNonce}\n${hostNonce}`;

// ───────────── shared shapes ─────────────

export const deviceStatus = z.enum(['DISCONNECTED', 'CONNECTING', 'QR', 'CONNECTED', 'LOGGED_OUT']);
export type DeviceStatus = z.infer<typeof deviceStatus>;

/** A device as the host reports it (the seed's `/api/status` fields that the host knows). */
export const deviceState = z.object({
  id: z.string(),
  status: deviceStatus,
  qr: z.string().nullable(),
  phoneNumber: z.string().nullable(),
  pushName: z.string().nullable(),
  totalMessagesSent: z.number().int().nonnegative(),
  /** Why the device is not connected, when that is worth telling (e.g. "QR not scanned in time"). */
  reason: z.string().nullable(),
});
export type DeviceState = z.infer<typeof deviceState>;

const deviceId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'device ids are 1-64 letters, digits, _ or -');

export const deviceSettings = z.object({
  id: deviceId,
  name: z.string().max(100).optional(),
  webhookUrl: z.string().url().or(z.literal('')).optional(),
  webhookSecret: z.string().min(16).optional(),
});
export type DeviceSettings = z.infer<typeof deviceSettings>;

export const mediaType = z.enum(['image', 'video', 'document']);
export type MediaType = z.infer<typeof mediaType>;

/** A recipient as WhatsApp addresses it: `<digits>@s.whatsapp.net` or a group `<id>@g.us`. */
export const recipientJid = z.string().regex(/^(\d{5,20}@s\.whatsapp\.net|[\d-]{5,40}@g\.us)$/, 'a WhatsApp JID (digits@s.whatsapp.net or id@g.us)');

export const sendParams = z.object({
  deviceId,
  to: recipientJid,
  text: z.string().max(65_536).optional(),
  media: z.object({ type: mediaType, url: z.string().url(), fileName: z.string().max(255).optional() }).optional(),
  /** The edge's id for this send: the host never sends the same outbox id twice. */
  outboxId: z.string().max(100).optional(),
  /** Show "typing…" for this long before sending. */
  typingMs: z.number().int().min(0).max(30_000).optional(),
});
export type SendParams = z.infer<typeof sendParams>;

export const sendResult = z.object({ id: z.string(), timestamp: z.number().int(), to: z.string() });
export type SendResult = z.infer<typeof sendResult>;

export const waGroup = z.object({ id: z.string(), name: z.string() });

// ───────────── requests: method → params and result ─────────────

export const methods = {
  'host.status': { params: z.object({}), result: z.object({ publicUrl: z.string().nullable(), devices: z.array(deviceState) }) },
  'device.upsert': { params: deviceSettings, result: deviceState },
  'device.delete': { params: z.object({ id: deviceId }), result: z.object({ deleted: z.boolean() }) },
  'device.connect': { params: z.object({ id: deviceId }), result: deviceState },
  'device.pairingCode': { params: z.object({ id: deviceId, phone: z.string().regex(/^\d{6,15}$/, 'digits only, with country code') }), result: z.object({ code: z.string() }) },
  'device.disconnect': { params: z.object({ id: deviceId }), result: deviceState },
  'device.logout': { params: z.object({ id: deviceId }), result: deviceState },
  'message.send': { params: sendParams, result: sendResult },
  'groups.list': { params: z.object({ deviceId }), result: z.object({ groups: z.array(waGroup) }) },
  /** A status change only the edge sees (queued, failed before sending, cancelled), for the device's webhook. */
  'webhook.status': {
    params: z.object({ deviceId, messageId: z.string(), to: z.string(), status: z.enum(['queued', 'failed']), reason: z.string().nullable(), timestamp: z.number().int() }),
    result: z.object({ queued: z.boolean() }),
  },
} as const;

export type Method = keyof typeof methods;
export type Params<M extends Method> = z.infer<(typeof methods)[M]['params']>;
export type Result<M extends Method> = z.infer<(typeof methods)[M]['result']>;

// ───────────── events: host → edge ─────────────

export const messageStatus = z.enum(['sent', 'delivered', 'read', 'played', 'failed']);
export type MessageStatus = z.infer<typeof messageStatus>;

export const events = {
  'device.status': deviceState,
  'message.status': z.object({ deviceId: z.string(), id: z.string(), outboxId: z.string().optional(), to: z.string(), status: messageStatus, timestamp: z.number().int() }),
  'message.incoming': z.object({ deviceId: z.string(), id: z.string(), from: z.string(), chat: z.string(), type: z.string(), text: z.string(), timestamp: z.number().int() }),
} as const;

export type EventName = keyof typeof events;
export type EventData<E extends EventName> = z.infer<(typeof events)[E]>;

// ───────────── frames ─────────────

/**
 * Error codes a request can fail with; the edge maps them to HTTP statuses. `store_unavailable`:
 * the host's store (Redis) is down, so the host refused before doing anything; safe to retry.
 */
export const errorCode = z.enum(['bad_request', 'not_found', 'not_connected', 'media_error', 'send_failed', 'timeout', 'host_offline', 'store_unavailable', 'internal']);
export type ErrorCode = z.infer<typeof errorCode>;

export const requestFrame = z.object({ id: z.string().min(1).max(100), method: z.string(), params: z.unknown() });
export const replyFrame = z.union([
  z.object({ id: z.string(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.string(), ok: z.literal(false), error: z.object({ code: errorCode, message: z.string() }) }),
]);
export const eventFrame = z.object({ event: z.string(), data: z.unknown() });
export const welcomeFrame = z.object({ type: z.literal('welcome'), nonce: z.string(), sig: z.string(), publicUrl: z.string().nullable() });

export type RequestFrame = z.infer<typeof requestFrame>;
export type ReplyFrame = z.infer<typeof replyFrame>;
export type EventFrame = z.infer<typeof eventFrame>;
export type WelcomeFrame = z.infer<typeof welcomeFrame>;

/** A typed failure that crosses the link: thrown on one side, rebuilt from `{code, message}` on the other. */
export class LinkError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'LinkError';
    this.code = code;
  }
}
