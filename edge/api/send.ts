// Sending through a device's session host, with every attempt in the message log.
import { eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { MediaType } from '../../session-host/link/protocol.ts';
import { randomHex } from '../crypto.ts';
import { messageStatuses, messagesTable, messageTypes, type Device, type Message } from '../db/schema.ts';
import type { DB } from '../env.ts';
import { asRelayError } from '../errors.ts';
import { hostLink, relay, type RelayError } from '../link/relay.ts';
import { claimedMessageId } from './idempotency.ts';
import { dateTime } from './openapi.ts';
import type { Recipient } from './phone.ts';

export const mediaTypes = ['image', 'video', 'document'] as const satisfies readonly MediaType[];
export type Media = { type: MediaType; url: string; fileName?: string; shared?: string };
export type Outgoing = { to: Recipient; text?: string; media?: Media; typingMs?: number };
/** A send for the outbox: due at `dueAt` (unix ms); `logId` re-queues a send already logged. */
export type Queued = Outgoing & { dueAt: number; logId?: string };
export type Delivery = { to: string; logId: string } & ({ ok: true; id: string; timestamp: number } | { ok: false; error: RelayError });

// WhatsApp shows these inline; anything else goes as a document, which it always accepts.
const IMAGE = /\.(jpe?g|png|gif|webp)$/i;
const VIDEO = /\.(mp4|3gp|mov|m4v)$/i;

/** Fonnte picks the media type from the file's extension: in the URL's path, else in `filename`. */
export function mediaTypeOf(url: string, fileName?: string): MediaType {
  const path = new URL(url).pathname;
  const name = /\.\w+$/.test(path) ? path : (fileName ?? '');
  return IMAGE.test(name) ? 'image' : VIDEO.test(name) ? 'video' : 'document';
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

export const TEXT_TIMEOUT_MS = 15_000;
// The host fetches the media first, which can take a while for a large video.
export const MEDIA_TIMEOUT_MS = 60_000;

/** A request's media for one of its sends: with several sends, keyed so the host downloads it once for all. */
function shared(media: Media | undefined, rows: { id: string }[]): Media | undefined {
  return media && rows.length > 1 ? { ...media, shared: rows[0]!.id } : media;
}

/**
 * Sends each message from `device`, all at once, and reports each (never throws for a failed
 * send). Rows are logged as queued before anything goes out, so a send whose outcome never
 * came back stays visible as queued; the log id doubles as the host's outbox id, which makes
 * the host refuse to send it twice. A retry under an Idempotency-Key runs this again with the
 * same ids: the rows are there already, and the host answers with its first result.
 */
export async function sendMessages(db: DB, env: Env, device: Device, outgoing: Outgoing[]): Promise<Delivery[]> {
  const rows = outgoing.map((m): typeof messagesTable.$inferInsert & { id: string } => ({
    ...messageId(),
    deviceId: device.id,
    to: m.to.number,
    type: m.media?.type ?? 'text',
    preview: m.text ? m.text.slice(0, 200) : null,
    status: 'queued',
  }));
  // One statement per row: D1 binds at most 100 parameters per statement.
  await db.batch(rows.map((row) => db.insert(messagesTable).values(row).onConflictDoNothing()) as never);

  const deliveries = await Promise.all(
    outgoing.map(async (m, i): Promise<Delivery> => {
      const { id: logId, to } = rows[i]!;
      try {
        const params = { deviceId: device.id, to: m.to.jid, text: m.text, media: shared(m.media, rows), outboxId: logId, typingMs: m.typingMs };
        const sent = await relay(env, device.hostId, 'message.send', params, (m.media ? MEDIA_TIMEOUT_MS : TEXT_TIMEOUT_MS) + (m.typingMs ?? 0));
        return { to, logId, ok: true, id: sent.id, timestamp: sent.timestamp };
      } catch (error) {
        return { to, logId, ok: false, error: asRelayError(error) };
      }
    }),
  );

  await db.batch(
    deliveries.map((d) =>
      db
        .update(messagesTable)
        // A receipt relayed meanwhile may already have moved the row past 'sent': keep it there.
        // A send whose outcome is unknown (no answer in time, the link dropped after it left)
        // may have gone out: it stays queued, with why, and is never logged as failed.
        .set(
          d.ok
            ? {
                status: sql`CASE WHEN ${messagesTable.status} IN ('queued', 'failed') THEN 'sent' ELSE ${messagesTable.status} END`,
                waMessageId: d.id,
                sentAt: new Date(),
                error: null,
                failedAt: null,
                attempts: 1,
              }
            : d.error.code === 'timeout'
              ? { error: `outcome unknown: ${d.error.message}`, attempts: 1 }
              : { status: 'failed', error: d.error.message, failedAt: new Date(), attempts: 1 },
        )
        .where(eq(messagesTable.id, d.logId)),
    ) as never,
  );
  return deliveries;
}

/**
 * Hands sends to the device's host's outbox: logged as queued, then stored in the HostLink's
 * own storage before this returns, so an answer of "queued" is never a lost message. The
 * HostLink delivers them when they are due and the host is up.
 */
export async function queueMessages(db: DB, env: Env, device: Device, queued: Queued[]): Promise<{ id: string; to: string }[]> {
  const now = Date.now();
  const rows = queued.map((m): typeof messagesTable.$inferInsert & { id: string } => ({
    ...(m.logId ? { id: m.logId } : messageId()),
    deviceId: device.id,
    to: m.to.number,
    type: m.media?.type ?? 'text',
    preview: m.text ? m.text.slice(0, 200) : null,
    status: 'queued',
    scheduledAt: m.dueAt > now ? new Date(m.dueAt) : null,
    error: null,
    failedAt: null,
  }));
  const written = (await db.batch(
    rows.map((row) =>
      // A re-queued send keeps its row (and id: the host has seen it as this outbox id). Its
      // try found the host or device offline, which the outbox does not count as an attempt.
      // A row already past queued (a retry under an Idempotency-Key of a request whose send
      // went out) is left alone and not queued again; one still queued is handed over again,
      // which the outbox takes once however often it is given.
      db
        .insert(messagesTable)
        .values(row)
        .onConflictDoUpdate({
          target: messagesTable.id,
          set: { status: 'queued', scheduledAt: row.scheduledAt, error: null, failedAt: null, attempts: 0 },
          setWhere: inArray(messagesTable.status, ['queued', 'failed']),
        })
        .returning({ id: messagesTable.id }),
    ) as never,
  )) as { id: string }[][];
  const toQueue = new Set(written.flat().map((r) => r.id));
  const { id: hostId, stub } = hostLink(env, device.hostId);
  const items = queued
    .map((m, i) => ({
      id: rows[i]!.id,
      dueAt: m.dueAt,
      params: { deviceId: device.id, to: m.to.jid, text: m.text, media: shared(m.media, rows), outboxId: rows[i]!.id, typingMs: m.typingMs },
    }))
    .filter((item) => toQueue.has(item.id));
  try {
    if (items.length) await stub.enqueue(hostId, items);
  } catch (error) {
    await db.batch(items.map((item) => db.update(messagesTable).set({ status: 'failed', error: 'could not be queued', failedAt: new Date() }).where(eq(messagesTable.id, item.id))) as never);
    throw error;
  }
  return rows.map((row) => ({ id: row.id, to: row.to }));
}

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
  createdAt: m.createdAt.toISOString(),
  updatedAt: m.updatedAt.toISOString(),
});
