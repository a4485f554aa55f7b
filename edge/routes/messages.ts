// The seed's structured sends, and the message log.
import { and, desc, eq, lt } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { httpUrl } from '../api/devices.ts';
import { body, endpoint, query, seedMessage } from '../api/openapi.ts';
import { recipientField } from '../api/phone.ts';
import { loggedMessage, mediaTypes, messageView, sendErrors, sendMessages, type Outgoing } from '../api/send.ts';
import { deviceFor, type Caller } from '../auth.ts';
import { messageStatuses, messagesTable } from '../db/schema.ts';
import type { AppEnv, DB } from '../env.ts';
import { relayFailure } from '../errors.ts';

const deviceId = z.string().optional().meta({ description: 'The sending device: required with the admin key; a device key always sends from its own' });

export const sendMessage = z.object({
  to: recipientField,
  message: z.string().min(1, 'must not be empty').max(65_536),
  deviceId,
});

export const sendMedia = z.object({
  to: recipientField,
  url: httpUrl.meta({ description: 'A public URL of the file', examples: ['https://placehold.co/600x400.png'] }),
  caption: z.string().max(65_536).optional(),
  type: z.enum(mediaTypes, { error: seedMessage("Unsupported media type. Use: 'image', 'video', 'document'") }).default('image'),
  fileName: z.string().max(255).optional().meta({ description: 'The file name a document is shown with' }),
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

/** Sends one message, or throws the failure as the route's error ("Failed to send …: <reason>"). */
async function sendOne(db: DB, env: Env, caller: Caller, deviceId: string | undefined, message: Outgoing, failure: string) {
  const device = await deviceFor(db, caller, deviceId);
  const [delivery] = await sendMessages(db, env, device, [message]);
  if (!delivery!.ok) throw relayFailure(delivery!.error, `${failure}: `);
  return { id: delivery!.id, to: delivery!.to, timestamp: delivery!.timestamp };
}

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
    endpoint({ summary: 'Send a text message', auth: 'device', responses: { 200: dispatched('Message dispatched successfully') }, errors: sendErrors }),
    body(sendMessage),
    async (c) => {
      const { to, message, deviceId } = c.req.valid('json');
      const sent = await sendOne(c.var.db, c.env, c.var.caller, deviceId, { to, text: message }, 'Failed to send message');
      return c.json({ success: true as const, message: 'Message dispatched successfully', ...sent });
    },
  )
  .post(
    '/send-media',
    endpoint({
      summary: 'Send an image, video or document from a public URL',
      auth: 'device',
      responses: { 200: dispatched('image message dispatched successfully') },
      errors: { ...sendErrors, 400: "Invalid request, e.g. Unsupported media type. Use: 'image', 'video', 'document'" },
    }),
    body(sendMedia),
    async (c) => {
      const { to, url, caption, type, fileName, deviceId } = c.req.valid('json');
      const media = { type, url, fileName };
      const sent = await sendOne(c.var.db, c.env, c.var.caller, deviceId, { to, text: caption, media }, 'Failed to send media');
      return c.json({ success: true as const, message: `${type} message dispatched successfully`, ...sent });
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
  );
