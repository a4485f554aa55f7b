// The inbox: a device's chats with their last received message, and one chat's conversation
// (what it received, kept at the edge for INBOX_RETENTION_DAYS, beside what it sent, from the
// message log). Device key for its own device, or the admin key naming one.
import { and, desc, eq, gte, inArray, lt, or, type SQL } from 'drizzle-orm';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { dateTime, endpoint, query } from '../api/openapi.ts';
import { notARecipient, toRecipient } from '../api/phone.ts';
import { deviceFor } from '../auth.ts';
import { contactsTable, inboxChatsTable, inboxMessagesTable, messageStatuses, messagesTable, messageTypes, type InboxMessage, type Message } from '../db/schema.ts';
import type { AppEnv, DB } from '../env.ts';
import { inboxRetentionDays } from '../link/inbox.ts';
import { settled } from './messages.ts';

/** "<unix ms>:<id>": where the previous page ended, in the page's order (time, then id, both descending). */
const cursorField = z
  .string()
  .regex(/^\d{1,15}:.{1,200}$/, 'must be a nextCursor from the previous page')
  .optional()
  .meta({ description: 'nextCursor from the previous page' });
const parseCursor = (cursor: string | undefined) => {
  if (!cursor) return undefined;
  const colon = cursor.indexOf(':');
  return { at: new Date(Number(cursor.slice(0, colon))), id: cursor.slice(colon + 1) };
};
const cursorOf = (at: Date, id: string) => `${at.getTime()}:${id}`;

const pageQuery = {
  deviceId: z.string().optional().meta({ description: 'The device: required with the admin key; a device key reads its own' }),
  limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be 1 to 100').max(100, 'must be 1 to 100').default(30),
  cursor: cursorField,
};

/** Rows after the cursor, in (time, id) descending order. */
const after = (time: SQLiteColumnLike, id: SQLiteColumnLike, cursor: ReturnType<typeof parseCursor>): SQL | undefined => cursor && or(lt(time, cursor.at), and(eq(time, cursor.at), lt(id, cursor.id)));
type SQLiteColumnLike = Parameters<typeof lt>[0];

const media = z
  .object({
    mimetype: z.string().nullable(),
    fileName: z.string().nullable(),
    size: z.number().nullable(),
    seconds: z.number().nullable().meta({ description: 'Length of audio and video' }),
    ptt: z.boolean().meta({ description: 'A voice note' }),
  })
  .meta({ description: 'The attachment; GET /api/media/{deviceId}/{id} downloads it' });

const chatView = z.object({
  chat: z.string().meta({ description: 'Where to answer: the number with country code, or the group id', examples: ['628123456789'] }),
  name: z.string().nullable().meta({ description: "The contact's name if the number is in the contacts, else the sender's WhatsApp name; null for groups" }),
  isGroup: z.boolean(),
  lastMessage: z.object({
    id: z.string().meta({ description: "WhatsApp's message id" }),
    sender: z.string(),
    type: z.string(),
    text: z.string(),
    timestamp: dateTime,
  }),
  lastAt: dateTime,
});

const incoming = z.object({
  direction: z.literal('in'),
  id: z.string().meta({ description: "WhatsApp's message id: quotedId in a send replies to it" }),
  sender: z.string().meta({ description: 'Who wrote: in a group a member, else the chat' }),
  senderName: z.string().nullable(),
  fromMe: z.boolean().meta({ description: 'Written by the account itself, from its phone' }),
  type: z.string().meta({ examples: ['text', 'image', 'location', 'reaction'] }),
  text: z.string().meta({ description: 'The text or caption, an emoji, a place or poll name…' }),
  quotedId: z.string().nullable(),
  mentions: z.array(z.string()),
  media: media.nullable(),
  details: z.record(z.string(), z.unknown()).nullable().meta({ description: 'Per type, as the webhook has it: place, contacts, poll, vote, reaction, edit or revoke' }),
  editedAt: dateTime.nullable().meta({ description: 'When the sender edited it: text is the new text' }),
  deletedAt: dateTime.nullable().meta({ description: 'When the sender deleted it for everyone: text and media are gone' }),
  timestamp: dateTime,
});

const outgoing = z.object({
  direction: z.literal('out'),
  id: z.string().meta({ description: "WhatsApp's message id once sent (quotedId in a send replies to it), else the log id" }),
  logId: z.string().meta({ description: 'GET /api/messages/{id} follows it' }),
  type: z.enum(messageTypes),
  text: z.string().meta({ description: 'The text or caption, cut to 200 characters' }),
  status: z.enum(messageStatuses),
  error: z.string().nullable(),
  deleted: z.boolean().meta({ description: 'Deleted for everyone' }),
  timestamp: dateTime.meta({ description: 'When it was sent (asked for)' }),
});

type Item = (z.infer<typeof incoming> | z.infer<typeof outgoing>) & { at: Date };

/**
 * The oldest moment the inbox still shows: expired rows are deleted with later writes, so a quiet
 * inbox may still hold some, and reads leave them out.
 */
const keptSince = (env: Env) => new Date(Date.now() - inboxRetentionDays(env.INBOX_RETENTION_DAYS) * 86_400_000);

const parsed = <T>(value: string | null, empty: T): T => (value ? (JSON.parse(value) as T) : empty);

const incomingView = (m: InboxMessage): Item => ({
  direction: 'in',
  id: m.id,
  sender: m.sender,
  senderName: m.senderName,
  fromMe: m.fromMe,
  type: m.type,
  text: m.text,
  quotedId: m.quotedId,
  mentions: parsed(m.mentions, []),
  media: parsed(m.media, null),
  details: parsed(m.details, null),
  editedAt: m.editedAt?.toISOString() ?? null,
  deletedAt: m.deletedAt?.toISOString() ?? null,
  timestamp: m.timestamp.toISOString(),
  at: m.timestamp,
});

const outgoingView = (m: Message): Item => ({
  direction: 'out',
  id: m.waMessageId ?? m.id,
  logId: m.id,
  type: m.type,
  text: m.preview ?? '',
  status: m.status,
  error: m.error,
  deleted: m.deletedAt !== null,
  timestamp: m.createdAt.toISOString(),
  at: m.createdAt,
});

/** Names the admin gave these numbers in the contacts. */
async function contactNames(db: DB, chats: string[]): Promise<Map<string, string>> {
  const numbers = chats.filter((chat) => !chat.endsWith('@g.us'));
  if (!numbers.length) return new Map();
  const rows = await db.select({ number: contactsTable.number, name: contactsTable.name }).from(contactsTable).where(inArray(contactsTable.number, numbers));
  return new Map(rows.map((row) => [row.number, row.name]));
}

const notFound = { 400: 'Invalid request, e.g. deviceId: required with the admin key', 403: 'A device key naming another device', 404: 'No such device' };

export const inbox = new Hono<AppEnv>()
  .get(
    '/',
    endpoint({
      summary: "A device's chats with their last received message, newest first",
      description: 'Chats the device received messages in, within the inbox retention (INBOX_RETENTION_DAYS, 30 days by default).',
      auth: 'device',
      responses: { 200: z.object({ chats: z.array(chatView), nextCursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null on the last' }) }) },
      errors: notFound,
    }),
    query(z.object(pageQuery)),
    async (c) => {
      const { deviceId, limit, cursor } = c.req.valid('query');
      const device = await deviceFor(c.var.db, c.var.caller, deviceId);
      const t = inboxChatsTable;
      const rows = await c.var.db
        .select()
        .from(t)
        .where(and(eq(t.deviceId, device.id), gte(t.lastAt, keptSince(c.env)), after(t.lastAt, t.chat, parseCursor(cursor))))
        .orderBy(desc(t.lastAt), desc(t.chat))
        .limit(limit + 1);
      const shown = rows.slice(0, limit);
      const names = await contactNames(
        c.var.db,
        shown.map((row) => row.chat),
      );
      const chats = shown.map((row) => ({
        chat: row.chat,
        name: names.get(row.chat) ?? row.name,
        isGroup: row.chat.endsWith('@g.us'),
        lastMessage: { id: row.lastMessageId, sender: row.lastSender, type: row.lastType, text: row.lastText, timestamp: row.lastAt.toISOString() },
        lastAt: row.lastAt.toISOString(),
      }));
      const last = shown.at(-1);
      return c.json({ chats, nextCursor: rows.length > limit && last ? cursorOf(last.lastAt, last.chat) : null });
    },
  )
  .get(
    '/:chat/messages',
    endpoint({
      summary: 'One chat of a device: messages received and sent, newest first',
      description:
        'Received messages come from the inbox (kept for INBOX_RETENTION_DAYS), sent ones from the message log. `chat` is a number (any form a send takes) or a group id; each item says its direction, and sent ones their status.',
      auth: 'device',
      responses: { 200: z.object({ messages: z.array(z.discriminatedUnion('direction', [incoming, outgoing])), nextCursor: z.string().nullable() }) },
      errors: { ...notFound, 400: 'Invalid request, e.g. chat: must be a phone number or a group id' },
    }),
    query(z.object(pageQuery)),
    async (c) => {
      const { deviceId, limit, cursor } = c.req.valid('query');
      const recipient = toRecipient(c.req.param('chat'));
      if (!recipient) throw new HTTPException(400, { message: `chat: ${notARecipient(c.req.param('chat'))}` });
      const { db, caller } = c.var;
      const device = await deviceFor(db, caller, deviceId);
      const from = parseCursor(cursor);
      // A send answered a moment ago must be in the conversation read right after it.
      await settled(db, c.env, caller);
      const i = inboxMessagesTable;
      const m = messagesTable;
      const [received, sent] = await Promise.all([
        db
          .select()
          .from(i)
          .where(and(eq(i.deviceId, device.id), eq(i.chat, recipient.number), gte(i.receivedAt, keptSince(c.env)), after(i.timestamp, i.id, from)))
          .orderBy(desc(i.timestamp), desc(i.id))
          .limit(limit + 1),
        db
          .select()
          .from(m)
          .where(and(eq(m.deviceId, device.id), eq(m.to, recipient.number), after(m.createdAt, m.id, from)))
          .orderBy(desc(m.createdAt), desc(m.id))
          .limit(limit + 1),
      ]);
      const key = (item: Item) => (item.direction === 'in' ? item.id : item.logId);
      const merged = [...received.map(incomingView), ...sent.map(outgoingView)].sort((a, b) => b.at.getTime() - a.at.getTime() || (key(a) < key(b) ? 1 : -1));
      const shown = merged.slice(0, limit);
      const last = shown.at(-1);
      return c.json({
        messages: shown.map(({ at: _, ...item }) => item),
        nextCursor: merged.length > limit && last ? cursorOf(last.at, key(last)) : null,
      });
    },
  );
