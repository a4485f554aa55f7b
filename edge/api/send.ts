// Sending through a device's session host: one call into its HostLink, which logs every message.
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { MediaType, SendParams } from '../../session-host/link/protocol.ts';
import { adminTarget, forgetKey, namedDevice, senderFromD1, unauthorized, type DeviceRef, type Sender } from '../auth.ts';
import { randomHex } from '../crypto.ts';
import { messageStatuses, messageTypes, type Message, type MessageType } from '../db/schema.ts';
import type { DB } from '../env.ts';
import type { Delivery, Failed, SendItem, SendMode } from '../link/dispatch.ts';
import { hostLink, RelayError } from '../link/relay.ts';
import { claimedMessageId, currentClaim, rerunFrom } from './idempotency.ts';
import { dateTime } from './openapi.ts';
import type { Recipient } from './phone.ts';

export const mediaTypes = ['image', 'video', 'document', 'audio', 'voice', 'sticker'] as const satisfies readonly MediaType[];
/** Media by `url`, or by `upload`: a file the request carried, already put on the device's host. */
export type Media = { type: MediaType; url?: string; upload?: string; fileName?: string; shared?: string; viewOnce?: boolean };
/** What a message is when it is neither a text nor media, and whom it replies to and mentions. */
export type Rich = Pick<SendParams, 'location' | 'contacts' | 'poll' | 'reaction' | 'quotedId' | 'mentions'>;
/**
 * A message to send; `dueAt` (unix ms) when it is queued for later. A `rich` one is logged as
 * `type`, with `preview` as its text in the log. `linkPreview: false`: a URL in the text gets no card.
 */
export type Outgoing = {
  to: Recipient;
  text?: string;
  media?: Media;
  typingMs?: number;
  dueAt?: number;
  rich?: Rich;
  type?: MessageType;
  preview?: string;
  linkPreview?: boolean;
  /** One recipient's copy of this broadcast. */
  broadcastId?: string;
};

// WhatsApp shows these inline; anything else goes as a document, which it always accepts.
const IMAGE = /\.(jpe?g|png|gif|webp)$/i;
const VIDEO = /\.(mp4|3gp|mov|m4v)$/i;
const AUDIO = /\.(mp3|ogg|m4a|wav|aac|opus)$/i;

/** Fonnte picks the media type from the file's extension: in the URL's path, else in `filename`. */
export function mediaTypeOf(url: string, fileName?: string): MediaType {
  const path = new URL(url).pathname;
  const name = /\.\w+$/.test(path) ? path : (fileName ?? '');
  return IMAGE.test(name) ? 'image' : VIDEO.test(name) ? 'video' : AUDIO.test(name) ? 'audio' : 'document';
}

let lastMs = 0;
/**
 * Message ids sort in creation order (a millisecond clock that never repeats within an isolate,
 * then randomness), so the log pages newest first by id alone. Workers freeze the clock during
 * a request, hence the counter.
 */
export function newMessageId(): { id: string; createdAt: Date } {
  lastMs = Math.max(Date.now(), lastMs + 1);
  return { id: `msg_${lastMs.toString(36).padStart(9, '0')}${randomHex(4)}`, createdAt: new Date(lastMs) };
}

/** A new message's id: in a request with an Idempotency-Key, the one its every try gives it. */
const messageId = () => claimedMessageId() ?? newMessageId();

/** The errors a send can end in, for the routes' documentation. */
export const sendErrors = {
  404: 'No such device (admin key with deviceId)',
  422: 'Idempotency-Key: already used for a different request',
  502: 'WhatsApp refused the message',
  503: 'Device is not connected, or its session host is offline',
  504: 'Session host did not answer in time (the message may still go out)',
};

/** A request's media for one of its sends: with several sends, keyed so the host downloads it once for all. */
function shared(media: Media | undefined, ids: { id: string }[]): Media | undefined {
  return media && ids.length > 1 ? { ...media, shared: ids[0]!.id } : media;
}

/** What a send needs of its request: D1 (only on a cold cache), the bindings, the caller, and the request (for the key guard). */
export interface SendContext {
  db: DB;
  env: Env;
  sender: Sender;
  request: Request;
}

/** The device a send request acts on, and how its key is known: a 400, 403 or 404 if it names none it may use. */
export async function targetOf(ctx: SendContext, deviceId: string | undefined, fresh = false) {
  const { sender, db } = ctx;
  if (sender.admin) return adminTarget(db, namedDevice(undefined, deviceId), fresh);
  namedDevice(sender.device.id, deviceId);
  if (!fresh) return sender;
  // The HostLink refused what this isolate knew of the key: D1 decides whether it is still a key.
  forgetKey(sender.keyHash);
  const now = await senderFromD1(db, sender.keyHash);
  if (!now || now.admin) throw await unauthorized(ctx.env, ctx.request);
  return now;
}

/**
 * Sends (or queues, by `mode`) each message from the device the request names, in one call into
 * its host's HostLink, which checks the key and logs every message; reports each (never throws
 * for a failed send). The log id doubles as the host's outbox id, which makes the host refuse to
 * send it twice: a retry under an Idempotency-Key runs this again with the same ids, and the host
 * answers with its first result.
 */
export async function dispatch(ctx: SendContext, deviceId: string | undefined, mode: SendMode, outgoing: Outgoing[]): Promise<Delivery[]> {
  let target: { device: DeviceRef; keyHash?: string; learned?: string } = await targetOf(ctx, deviceId);
  const claim = currentClaim();
  // The same device on every try (a key belongs to one device, a device to one host): only the ids may change.
  const { device } = target;
  const itemsOf = (): SendItem[] => {
    const ids = outgoing.map(() => messageId());
    return outgoing.map((m, i) => {
      const { id, createdAt } = ids[i]!;
      return {
        id,
        createdAt: createdAt.getTime(),
        deviceId: device.id,
        to: m.to.number,
        type: m.type ?? m.media?.type ?? 'text',
        preview: (m.preview ?? m.text)?.slice(0, 200) ?? null,
        broadcastId: m.broadcastId,
        params: { deviceId: device.id, to: m.to.jid, text: m.text, media: shared(m.media, ids), ...m.rich, linkPreview: m.linkPreview, outboxId: id, typingMs: m.typingMs },
        dueAt: m.dueAt,
      };
    });
  };
  let items = itemsOf();
  for (;;) {
    const { id: hostId, stub } = hostLink(ctx.env, target.device.hostId);
    const keyed = claim && { key: claim.key, fingerprint: claim.fingerprint, since: claim.since };
    const reply = await stub.send(hostId, { deviceId: target.device.id, keyHash: target.keyHash, learned: target.learned, mode, items, claim: keyed });
    if (reply.refused) {
      // Refused on what D1 said just now: final. On what this isolate remembered: ask D1 once.
      if (target.learned) {
        if (reply.refused === 'device') throw new HTTPException(404, { message: `Device not found: ${target.device.id}` });
        forgetKey(target.keyHash!);
        throw await unauthorized(ctx.env, ctx.request);
      }
      target = await targetOf(ctx, deviceId, true);
      continue;
    }
    if (reply.claim === 'conflict') throw new HTTPException(422, { message: 'Idempotency-Key: already used for a different request (the body differs)' });
    if (reply.claim === 'replay') {
      const res = new Response(reply.body, { status: reply.status, headers: { 'content-type': 'application/json', 'idempotent-replayed': 'true' } });
      throw new HTTPException(reply.status as ContentfulStatusCode, { res });
    }
    if (reply.claim === 'rerun') {
      // An earlier try of this request holds the key: under its ids, so the host answers with its outcome.
      rerunFrom(claim!, reply.since);
      items = itemsOf();
      continue;
    }
    if (claim) claim.heldBy = hostId;
    return reply.deliveries;
  }
}

export const failed = (d: Delivery): d is Failed => !d.ok && !d.queued;
/** A failed delivery's error as the link's, for the answer's status and reason. */
export const failureOf = (d: Failed) => new RelayError(d.error.code, d.error.message);

/** The message log as the API shows it. */
export const loggedMessage = z.object({
  id: z.string(),
  deviceId: z.string(),
  to: z.string().meta({ description: 'The number with country code, or the group id' }),
  type: z.enum(messageTypes),
  preview: z.string().nullable().meta({ description: 'The text or caption, cut to 200 characters' }),
  status: z.enum(messageStatuses),
  waMessageId: z.string().nullable(),
  error: z.string().nullable().meta({ description: 'Why it failed; while queued, why the last attempt did' }),
  scheduledAt: dateTime.nullable().meta({ description: 'When a queued message is due; null: at once' }),
  attempts: z.number().int().meta({ description: 'Sends tried, retries included' }),
  sentAt: dateTime.nullable(),
  deliveredAt: dateTime.nullable(),
  readAt: dateTime.nullable(),
  failedAt: dateTime.nullable(),
  editedAt: dateTime.nullable().meta({ description: 'When the text was last edited (preview shows the new text)' }),
  deletedAt: dateTime.nullable().meta({ description: 'When it was deleted for everyone' }),
  createdAt: dateTime,
  updatedAt: dateTime,
});

export const messageView = (m: Message): z.infer<typeof loggedMessage> => ({
  id: m.id,
  deviceId: m.deviceId,
  to: m.to,
  type: m.type,
  preview: m.preview,
  status: m.status,
  waMessageId: m.waMessageId,
  error: m.error,
  scheduledAt: m.scheduledAt?.toISOString() ?? null,
  attempts: m.attempts,
  sentAt: m.sentAt?.toISOString() ?? null,
  deliveredAt: m.deliveredAt?.toISOString() ?? null,
  readAt: m.readAt?.toISOString() ?? null,
  failedAt: m.failedAt?.toISOString() ?? null,
  editedAt: m.editedAt?.toISOString() ?? null,
  deletedAt: m.deletedAt?.toISOString() ?? null,
  createdAt: m.createdAt.toISOString(),
  updatedAt: m.updatedAt.toISOString(),
});
