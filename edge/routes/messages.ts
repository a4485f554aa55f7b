// The seed's structured sends, and the message log.
import { and, desc, eq, lt, or } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { httpUrl } from '../api/devices.ts';
import { body, endpoint, query, seedMessage } from '../api/openapi.ts';
import { phoneField, recipientField } from '../api/phone.ts';
import { idempotent } from '../api/idempotency.ts';
import { dispatch, failureOf, loggedMessage, mediaTypes, messageView, sendErrors, type Outgoing } from '../api/send.ts';
import { deviceFor, type Caller } from '../auth.ts';
import { devicesTable, hostsTable, messageStatuses, messagesTable, type Message } from '../db/schema.ts';
import type { AppEnv, DB } from '../env.ts';
import { relayFailure } from '../errors.ts';
import { hostLink, relay } from '../link/relay.ts';

const deviceId = z.string().optional().meta({ description: 'The sending device: required with the admin key; a device key always sends from its own' });
const quotedId = z.string().trim().min(1, 'must not be empty').max(128).optional().meta({ description: 'Send as a reply to this WhatsApp message id (one this device sent or received)' });
const mentions = z
  .array(phoneField)
  .max(256)
  .optional()
  .meta({ description: 'Numbers shown as @mentions (put @<number> in the text; in groups they notify)', examples: [['628123456789']] });
const queue = z.boolean({ error: 'must be true or false' }).optional().meta({ description: 'When the device or its host is offline: queue the message (answered with queued: true) instead of a 503' });

export const sendMessage = z.object({
  to: recipientField,
  message: z.string().min(1, 'must not be empty').max(65_536),
  quotedId,
  mentions,
  linkPreview: z.boolean({ error: 'must be true or false' }).default(true).meta({ description: "A URL in the text gets WhatsApp's preview card (title, description, thumbnail), made by the session host" }),
  deviceId,
  queue,
});

// The seed's wording, listing every type this gateway sends.
const unsupportedMediaType = `Unsupported media type. Use: ${mediaTypes.map((t) => `'${t}'`).join(', ')}`;

export const sendMedia = z
  .object({
    to: recipientField,
    url: httpUrl.meta({ description: 'A public URL of the file', examples: ['https://placehold.co/600x400.png'] }),
    caption: z.string().max(65_536).optional().meta({ description: 'Shown under an image, video or document (audio, voice notes and stickers have none)' }),
    type: z
      .enum(mediaTypes, { error: seedMessage(unsupportedMediaType) })
      .default('image')
      .meta({
        description:
          '`audio` is sent as it is (mp3, m4a, ogg…); `voice` is a voice note, converted to Ogg/Opus from mp3, m4a, wav or ogg, with its length and waveform; `sticker` is converted to a 512×512 WebP from png, jpeg, gif (animated stays animated) or webp',
      }),
    fileName: z.string().max(255).optional().meta({ description: 'The file name a document is shown with' }),
    viewOnce: z.boolean({ error: 'must be true or false' }).optional().meta({ description: 'An image or video the recipient can open only once' }),
    quotedId,
    mentions,
    deviceId,
    queue,
  })
  .refine((m) => !m.viewOnce || m.type === 'image' || m.type === 'video', { path: ['viewOnce'], message: 'only an image or a video can be sent view once' })
  // Baileys wraps a view-once message before it adds the quote and the mentions, and the wrapper
  // has no place for them: they would be lost without a word.
  // WhatsApp shows no caption on these; refused rather than silently lost.
  .refine((m) => !m.caption || !['audio', 'voice', 'sticker'].includes(m.type), { path: ['caption'], message: 'audio, voice notes and stickers have no caption' });

const latitude = z.number({ error: 'must be a number' }).min(-90, 'must be between -90 and 90').max(90, 'must be between -90 and 90');
const longitude = z.number({ error: 'must be a number' }).min(-180, 'must be between -180 and 180').max(180, 'must be between -180 and 180');

export const sendLocation = z.object({
  to: recipientField,
  latitude: latitude.meta({ examples: [-6.2] }),
  longitude: longitude.meta({ examples: [106.816666] }),
  name: z
    .string()
    .max(256)
    .optional()
    .meta({ description: 'The place’s name, shown above the map', examples: ['Toko Maju'] }),
  address: z
    .string()
    .max(1024)
    .optional()
    .meta({ examples: ['Jl. Sudirman 1, Jakarta'] }),
  quotedId,
  mentions,
  deviceId,
  queue,
});

export const sendContact = z.object({
  to: recipientField,
  contacts: z
    .array(
      z.object({
        name: z.string().trim().min(1, 'must not be empty').max(256),
        phone: phoneField,
        organization: z.string().max(256).optional(),
      }),
    )
    .min(1, 'must hold at least one contact')
    .max(20, 'at most 20 contacts'),
  quotedId,
  mentions,
  deviceId,
  queue,
});

export const sendPoll = z.object({
  to: recipientField,
  name: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(255)
    .meta({ description: 'The question', examples: ['Jam berapa?'] }),
  options: z
    .array(z.string().trim().min(1, 'must not be empty').max(100))
    .min(2, 'needs 2 to 12 options')
    .max(12, 'needs 2 to 12 options')
    .refine((options) => new Set(options).size === options.length, 'must all differ')
    .meta({ examples: [['09:00', '13:00', '16:00']] }),
  multiple: z.boolean({ error: 'must be true or false' }).default(false).meta({ description: 'Whether a voter may pick more than one option' }),
  quotedId,
  mentions,
  deviceId,
  queue,
});

export const sendReaction = z.object({
  to: recipientField.meta({ description: 'The chat the message is in' }),
  messageId: z.string().trim().min(1, 'must not be empty').max(128).meta({ description: 'The WhatsApp id of a message this device sent or received' }),
  emoji: z
    .string()
    .max(32)
    .meta({ description: 'One emoji; empty takes the reaction back', examples: ['👍'] }),
  deviceId,
});

const dispatched = (example: string) =>
  z.object({
    success: z.literal(true),
    message: z.string().meta({ examples: [example] }),
    id: z.string().meta({ description: 'The WhatsApp message id', examples: ['3EB0C1B2D953E2FC3EC8'] }),
    to: z.string().meta({ description: 'The recipient, normalised: 628123456789 or …@g.us' }),
    timestamp: z.number().int().meta({ description: 'When WhatsApp took it, in Unix seconds' }),
  });

const queuedAnswer = z.object({
  success: z.literal(true),
  message: z.string().meta({ examples: ['Message queued: it goes out when the device is back online'] }),
  id: z.string().meta({ description: 'The message log id: GET /api/messages/{id} follows it' }),
  to: z.string(),
  queued: z.literal(true),
});

/**
 * Sends one message, or throws the failure as the route's error ("Failed to send …: <reason>").
 * With `queue`, a send that found the device or host offline goes to the outbox instead, under
 * the same id: the host has seen that outbox id at most unsent, so it still goes out once.
 */
async function sendOne(c: Context<AppEnv>, deviceId: string | undefined, message: Outgoing, failure: string, queue = false) {
  const [delivery] = await dispatch({ db: c.var.db, env: c.env, sender: c.var.sender, request: c.req.raw }, deviceId, queue ? 'now-else-queue' : 'now', [message]);
  const d = delivery!;
  if (d.ok) return { id: d.id, to: d.to, timestamp: d.timestamp };
  if (d.queued) return { id: d.logId, to: d.to, queued: true as const };
  throw relayFailure(failureOf(d), `${failure}: `);
}

/**
 * Waits until the log rows the caller's host (the admin: every host) has recorded so far are in
 * D1: a send's row reaches D1 just after its answer, and a client reading it back at once must
 * find it.
 */
export async function settled(db: DB, env: Env, caller: Caller): Promise<void> {
  const hostIds = caller.admin ? [null, ...(await db.select({ id: hostsTable.id }).from(hostsTable)).map((h) => h.id)] : [caller.device.hostId];
  await Promise.all(
    hostIds.map((hostId) => {
      const { id, stub } = hostLink(env, hostId);
      return stub.settleLog(id);
    }),
  );
}

/** A send's answer in the seed's shape: dispatched, or queued (then `id` is the log id). */
function answer(c: Context<AppEnv>, sent: Awaited<ReturnType<typeof sendOne>>, what: string) {
  if ('queued' in sent) return c.json({ success: true as const, message: `${what} queued: it goes out when the device is back online`, ...sent });
  return c.json({ success: true as const, message: `${what} dispatched successfully`, ...sent });
}

/**
 * A logged message the caller may see, by its log id or its WhatsApp id, or a 404 (a device key
 * sees only its own). `fresh`: as of every send answered so far (a change must not act on a row
 * whose send has not reached D1 yet).
 */
export async function messageFor(db: DB, env: Env, caller: Caller, id: string, { fresh = false } = {}) {
  const own = caller.admin ? undefined : eq(messagesTable.deviceId, caller.device.id);
  const find = async () =>
    (
      await db
        .select()
        .from(messagesTable)
        .where(and(or(eq(messagesTable.id, id), eq(messagesTable.waMessageId, id)), own))
    )[0];
  if (fresh) await settled(db, env, caller);
  let row = await find();
  if (!row && !fresh) {
    await settled(db, env, caller);
    row = await find();
  }
  if (!row) throw new HTTPException(404, { message: `Message not found: ${id}` });
  return row;
}

/** The session host of a device (null: the default host). */
async function hostOf(db: DB, deviceId: string) {
  const [device] = await db.select({ hostId: devicesTable.hostId }).from(devicesTable).where(eq(devicesTable.id, deviceId));
  return device?.hostId ?? null;
}

/** The outbox holding a queued message: its device's host's HostLink. */
async function outboxOf(db: DB, env: Env, deviceId: string) {
  return hostLink(env, await hostOf(db, deviceId));
}

// WhatsApp's own limits: an edit within 15 minutes of sending, a delete for everyone within
// about two days (48 hours 8 minutes, as phones allow it in practice).
const EDIT_WINDOW_MS = 15 * 60_000;
const REVOKE_WINDOW_MS = (48 * 60 + 8) * 60_000;
const SENT = new Set(['sent', 'delivered', 'read']);

/** How long ago, as a person says it. */
function ago(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const some = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (minutes < 120) return some(minutes, 'minute');
  return minutes % 60 ? `${some(Math.floor(minutes / 60), 'hour')} ${some(minutes % 60, 'minute')}` : some(minutes / 60, 'hour');
}

/** A sent message's WhatsApp id while WhatsApp still lets it be `done` (within `windowMs`); else a 409 that says why. */
function changeable(row: Message, done: string, windowMs: number, window: string): string {
  if (row.deletedAt) throw new HTTPException(409, { message: 'This message was deleted for everyone' });
  if (!row.waMessageId || !SENT.has(row.status)) throw new HTTPException(409, { message: `Only a sent message can be ${done}; this one is ${row.status}` });
  const age = Date.now() - (row.sentAt ?? row.createdAt).getTime();
  if (age > windowMs) throw new HTTPException(409, { message: `WhatsApp lets a message be ${done} only within ${window} of sending; this one was sent ${ago(age)} ago` });
  return row.waMessageId;
}

/** Edits the text of a sent message: WhatsApp shows the new text in the chat, and the log's preview follows. */
async function editText(db: DB, env: Env, row: Message, text: string) {
  if (row.type !== 'text') throw new HTTPException(409, { message: `Only a text message can be edited; this one is a ${row.type}` });
  if (row.status === 'queued') throw new HTTPException(409, { message: 'Message not sent yet: cancel it (DELETE) and send it again with the new text' });
  const waId = changeable(row, 'edited', EDIT_WINDOW_MS, '15 minutes');
  await relay(env, await hostOf(db, row.deviceId), 'message.edit', { deviceId: row.deviceId, id: waId, text }).catch((error) => {
    throw relayFailure(error, 'Failed to edit message: ');
  });
  const [edited] = await db
    .update(messagesTable)
    .set({ preview: text.slice(0, 200), editedAt: new Date() })
    .where(eq(messagesTable.id, row.id))
    .returning();
  return edited!;
}

/** Deletes a sent message for everyone in its chat (WhatsApp's revoke); the log keeps it, marked deleted. */
async function revoke(db: DB, env: Env, row: Message) {
  const waId = changeable(row, 'deleted for everyone', REVOKE_WINDOW_MS, '48 hours 8 minutes');
  await relay(env, await hostOf(db, row.deviceId), 'message.revoke', { deviceId: row.deviceId, id: waId }).catch((error) => {
    throw relayFailure(error, 'Failed to delete message: ');
  });
  const [deleted] = await db.update(messagesTable).set({ deletedAt: new Date() }).where(eq(messagesTable.id, row.id)).returning();
  return deleted!;
}

const notQueued = (status: string, action: string) => new HTTPException(409, { message: `Only a queued message can be ${action}; this one is ${status}` });

export const messageChange = z
  .object({
    message: z.string().min(1, 'must not be empty').max(65_536).optional().meta({ description: 'The new text of a sent text message (WhatsApp allows edits for 15 minutes)' }),
    schedule: z
      .number({ error: 'must be a unix time in seconds' })
      .int('must be a unix time in seconds')
      .min(0)
      .max(99_999_999_999)
      .optional()
      .meta({ description: 'Reschedule a queued message: unix time (seconds) to send at; 0 or a past time: now' }),
  })
  .refine((change) => (change.message === undefined) !== (change.schedule === undefined), 'give either message (to edit a sent text) or schedule (to reschedule a queued message), not both');

const revokedAnswer = loggedMessage.extend({
  success: z.literal(true),
  deletedForEveryone: z.literal(true).meta({ description: 'Deleted for everyone in the chat (it was sent); a queued message is cancelled instead' }),
});

export const messageQuery = z.object({
  deviceId: z.string().optional().meta({ description: "Only this device's messages (a device key sees only its own anyway)" }),
  status: z.enum(messageStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional().meta({ description: 'nextCursor from the previous page' }),
  page: z.coerce.number().int().min(1).optional().meta({ description: '1-based page number, instead of cursor' }),
});

export const messagePage = z.object({
  messages: z.array(loggedMessage).meta({ description: 'Newest first' }),
  nextCursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null on the last' }),
});

export const messages = new Hono<AppEnv>()
  .post(
    '/send-message',
    endpoint({ summary: 'Send a text message', auth: 'sender', responses: { 200: z.union([dispatched('Message dispatched successfully'), queuedAnswer]) }, errors: sendErrors }),
    idempotent,
    body(sendMessage),
    async (c) => {
      const { to, message, quotedId, mentions, linkPreview, deviceId, queue } = c.req.valid('json');
      return answer(c, await sendOne(c, deviceId, { to, text: message, rich: { quotedId, mentions }, linkPreview }, 'Failed to send message', queue), 'Message');
    },
  )
  .post(
    '/send-media',
    endpoint({
      summary: 'Send an image, video, document, audio, voice note or sticker from a public URL',
      auth: 'sender',
      responses: { 200: z.union([dispatched('image message dispatched successfully'), queuedAnswer]) },
      errors: { ...sendErrors, 400: `Invalid request, e.g. ${unsupportedMediaType}; or the URL is not a file of that type` },
    }),
    idempotent,
    body(sendMedia),
    async (c) => {
      const { to, url, caption, type, fileName, viewOnce, quotedId, mentions, deviceId, queue } = c.req.valid('json');
      const media = { type, url, fileName, viewOnce };
      return answer(c, await sendOne(c, deviceId, { to, text: caption, media, rich: { quotedId, mentions } }, 'Failed to send media', queue), `${type} message`);
    },
  )
  .post(
    '/send-location',
    endpoint({ summary: 'Send a location (a pin on the map)', auth: 'sender', responses: { 200: z.union([dispatched('Location dispatched successfully'), queuedAnswer]) }, errors: sendErrors }),
    idempotent,
    body(sendLocation),
    async (c) => {
      const { to, latitude, longitude, name, address, quotedId, mentions, deviceId, queue } = c.req.valid('json');
      const message = {
        to,
        rich: { location: { latitude, longitude, name, address }, quotedId, mentions },
        type: 'location' as const,
        preview: [name, address].filter(Boolean).join(', ') || `${latitude}, ${longitude}`,
      };
      return answer(c, await sendOne(c, deviceId, message, 'Failed to send location', queue), 'Location');
    },
  )
  .post(
    '/send-contact',
    endpoint({ summary: 'Send contact cards (vCards)', auth: 'sender', responses: { 200: z.union([dispatched('Contact dispatched successfully'), queuedAnswer]) }, errors: sendErrors }),
    idempotent,
    body(sendContact),
    async (c) => {
      const { to, contacts, quotedId, mentions, deviceId, queue } = c.req.valid('json');
      const message = { to, rich: { contacts, quotedId, mentions }, type: 'contact' as const, preview: contacts.map((contact) => contact.name).join(', ') };
      return answer(c, await sendOne(c, deviceId, message, 'Failed to send contact', queue), 'Contact');
    },
  )
  .post(
    '/send-poll',
    endpoint({ summary: 'Send a poll', auth: 'sender', responses: { 200: z.union([dispatched('Poll dispatched successfully'), queuedAnswer]) }, errors: sendErrors }),
    idempotent,
    body(sendPoll),
    async (c) => {
      const { to, name, options, multiple, quotedId, mentions, deviceId, queue } = c.req.valid('json');
      const message = { to, rich: { poll: { name, options, multiple }, quotedId, mentions }, type: 'poll' as const, preview: name };
      return answer(c, await sendOne(c, deviceId, message, 'Failed to send poll', queue), 'Poll');
    },
  )
  .post(
    '/send-reaction',
    endpoint({
      summary: 'React to a message with an emoji (an empty emoji takes the reaction back)',
      auth: 'sender',
      responses: { 200: dispatched('Reaction dispatched successfully') },
      errors: { ...sendErrors, 400: 'Invalid request, e.g. messageId: this device sent or received no such message' },
    }),
    idempotent,
    body(sendReaction),
    async (c) => {
      const { to, messageId, emoji, deviceId } = c.req.valid('json');
      const message = { to, rich: { reaction: { messageId, emoji } }, type: 'reaction' as const, preview: emoji };
      return answer(c, await sendOne(c, deviceId, message, 'Failed to send reaction'), 'Reaction');
    },
  )
  .get(
    '/messages',
    endpoint({ summary: 'The message log, newest first', auth: 'device', responses: { 200: messagePage }, errors: { 403: 'A device key asking for another device' } }),
    query(messageQuery),
    async (c) => {
      const { deviceId, status, limit, cursor, page } = c.req.valid('query');
      const { db, caller } = c.var;
      const device = caller.admin ? deviceId : (await deviceFor(db, caller, deviceId)).id;
      // The freshest sends are in a list read right after sending.
      await settled(db, c.env, caller);
      const rows = await db
        .select()
        .from(messagesTable)
        .where(and(device ? eq(messagesTable.deviceId, device) : undefined, status ? eq(messagesTable.status, status) : undefined, cursor ? lt(messagesTable.id, cursor) : undefined))
        .orderBy(desc(messagesTable.id))
        .limit(limit + 1)
        .offset(page ? (page - 1) * limit : 0);
      const more = rows.length > limit;
      const shown = rows.slice(0, limit);
      return c.json({ messages: shown.map(messageView), nextCursor: more ? shown.at(-1)!.id : null });
    },
  )
  .get(
    '/messages/:id',
    endpoint({
      summary: 'One message: queued, sent, delivered, read or failed (with the reason), with timestamps',
      auth: 'device',
      responses: { 200: loggedMessage },
      errors: { 404: 'No such message (or not this device’s)' },
    }),
    async (c) => c.json(messageView(await messageFor(c.var.db, c.env, c.var.caller, c.req.param('id')))),
  )
  .delete(
    '/messages/:id',
    endpoint({
      summary: 'Delete a sent message for everyone, or cancel a queued one (kept in the log as failed: cancelled); by log id or WhatsApp id',
      auth: 'device',
      responses: { 200: z.union([loggedMessage, revokedAnswer]) },
      errors: { 404: 'No such message', 409: 'Being sent right now, failed, already deleted, or sent more than 48 hours ago', 502: 'WhatsApp refused the delete', 503: 'Device is not connected' },
    }),
    async (c) => {
      const { db } = c.var;
      const row = await messageFor(db, c.env, c.var.caller, c.req.param('id'), { fresh: true });
      if (SENT.has(row.status)) return c.json({ success: true as const, deletedForEveryone: true as const, ...messageView(await revoke(db, c.env, row)) });
      if (row.status !== 'queued') throw notQueued(row.status, 'cancelled');
      const { id: hostId, stub } = await outboxOf(db, c.env, row.deviceId);
      const outcome = await stub.cancel(hostId, row.id);
      if (outcome !== 'cancelled') throw notQueued('being sent', 'cancelled');
      // The HostLink has logged it as cancelled, in D1 by now.
      const [cancelled] = await db.select().from(messagesTable).where(eq(messagesTable.id, row.id));
      return c.json(messageView(cancelled!));
    },
  )
  .patch(
    '/messages/:id',
    endpoint({
      summary: 'Edit the text of a sent message ({message}), or reschedule a queued one ({schedule}); by log id or WhatsApp id',
      auth: 'device',
      responses: { 200: loggedMessage },
      errors: {
        404: 'No such message',
        409: 'Cannot be changed so: not a text, not sent yet (edit) or not queued any more (reschedule), or sent more than 15 minutes ago',
        502: 'WhatsApp refused the edit',
        503: 'Device is not connected',
      },
    }),
    body(messageChange),
    async (c) => {
      const { db } = c.var;
      const change = c.req.valid('json');
      const row = await messageFor(db, c.env, c.var.caller, c.req.param('id'), { fresh: true });
      if (change.message !== undefined) return c.json(messageView(await editText(db, c.env, row, change.message)));
      if (row.status !== 'queued') throw notQueued(row.status, 'rescheduled');
      const dueAt = Math.max(Date.now(), change.schedule! * 1000);
      const { id: hostId, stub } = await outboxOf(db, c.env, row.deviceId);
      if ((await stub.reschedule(hostId, row.id, dueAt)) !== 'rescheduled') throw notQueued('being sent', 'rescheduled');
      const [moved] = await db.select().from(messagesTable).where(eq(messagesTable.id, row.id));
      return c.json(messageView(moved!));
    },
  );
