// Fonnte's POST /send, so existing Fonnte integrations only change the base URL and the token.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { httpUrl } from '../api/devices.ts';
import { body, endpoint } from '../api/openapi.ts';
import { notARecipient, toRecipient, type Recipient } from '../api/phone.ts';
import { mediaTypeOf, sendErrors, sendMessages } from '../api/send.ts';
import { deviceFor } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { relayReason, relayStatus } from '../errors.ts';

// Each target is its own request to the session host; bigger broadcasts belong in a queue.
export const MAX_TARGETS = 50;

// Fonnte's clients send numbers and flags as strings or numbers alike.
const scalar = z.union([z.string(), z.number()]).transform(String);
const notYet = z.unknown().optional().meta({ description: 'Accepted for Fonnte compatibility; not acted on yet' });

export const fonnteSend = z
  .object({
    target: scalar.optional().meta({
      description: `Recipients, comma-separated (at most ${MAX_TARGETS}): numbers like 628123456789, +62 812-3456-789 or 08123456789, or group ids (…@g.us)`,
      examples: ['628123456789,08123456789'],
    }),
    to: scalar.optional().meta({ description: 'Same as target' }),
    message: scalar.pipe(z.string().max(65_536)).optional().meta({ description: 'The text, or the caption of the media' }),
    url: httpUrl.optional().meta({ description: 'A public URL of media to send: image or video by its extension, else a document' }),
    filename: z.string().max(255).optional().meta({ description: 'The file name a document is shown with' }),
    countryCode: scalar.pipe(z.string().regex(/^\d{1,4}$/, 'must be 1-4 digits, like 62')).optional().meta({
      description: 'Replaces the leading 0 of national numbers (default 62; 0 keeps numbers as they are)',
    }),
    deviceId: z.string().optional().meta({ description: 'The sending device: required with the admin key; a device key always sends from its own' }),
    file: z.unknown().optional().meta({ description: 'Not supported: pass a public url instead' }),
    schedule: notYet,
    delay: notYet,
    typing: notYet,
  })
  .transform((input, ctx) => {
    const fail = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: [field], message });
    if (input.file !== undefined) fail('file', 'uploads are not supported: pass a public url (and filename) instead');
    if (!input.message && !input.url) fail('message', 'required (or url, to send media)');
    const field = input.target !== undefined ? 'target' : 'to';
    const parts = (input.target ?? input.to ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (!parts.length) fail('target', 'required (or to)');
    // Keyed by JID: a number listed twice, in any spelling, gets the message once.
    const recipients = new Map<string, Recipient>();
    for (const part of parts) {
      const recipient = toRecipient(part, input.countryCode);
      if (recipient) recipients.set(recipient.jid, recipient);
      else fail(field, notARecipient(part));
    }
    if (recipients.size > MAX_TARGETS) fail(field, `at most ${MAX_TARGETS} recipients per request, got ${recipients.size}`);
    return {
      recipients: [...recipients.values()],
      text: input.message,
      media: input.url ? { type: mediaTypeOf(input.url, input.filename), url: input.url, fileName: input.filename } : undefined,
      deviceId: input.deviceId,
    };
  });

const targetResult = z.object({
  target: z.string().meta({ description: 'The recipient, normalised: 628123456789 or …@g.us' }),
  status: z.boolean(),
  id: z.string().optional().meta({ description: 'The WhatsApp message id, when sent' }),
  reason: z.string().optional().meta({ description: 'Why not, when not sent' }),
});

export const fonnteSent = z
  .object({
    status: z.literal(true),
    reason: z.string().meta({ examples: ['Message sent successfully', 'Message sent to 1 of 2 targets'] }),
    detail: z.string().meta({ examples: ['sent to 2 of 2 targets'] }),
    id: z.array(z.string()).meta({ description: 'WhatsApp message ids of the sent messages, in the order of target' }),
    target: z.array(z.string()).meta({ description: 'The recipients sent to, normalised' }),
    results: z.array(targetResult).meta({ description: 'Every recipient, in request order, sent or not' }),
  })
  .meta({ description: 'Sent to every recipient, or to some: then reason says so and results tells which failed' });

export const send = new Hono<AppEnv>().post(
  '/',
  endpoint({
    summary: 'Send a message (Fonnte compatible)',
    description:
      'Takes JSON, urlencoded or multipart bodies. With several targets, each is sent and reported: 200 if at least one was sent; if none was, the status and reason of the first failure.',
    auth: 'device',
    responses: { 200: fonnteSent },
    errors: sendErrors,
  }),
  body(fonnteSend, { forms: true }),
  async (c) => {
    const { recipients, text, media, deviceId } = c.req.valid('json');
    const device = await deviceFor(c.var.db, c.var.caller, deviceId);
    const deliveries = await sendMessages(c.var.db, c.env, device, recipients.map((to) => ({ to, text, media })));

    const results = deliveries.map((d) => (d.ok ? { target: d.to, status: true, id: d.id } : { target: d.to, status: false, reason: relayReason(d.error) }));
    const sent = deliveries.filter((d) => d.ok);
    if (!sent.length) {
      const first = deliveries.find((d) => !d.ok)!.error;
      const res = Response.json({ status: false, reason: relayReason(first), results }, { status: relayStatus[first.code] });
      throw new HTTPException(relayStatus[first.code], { res });
    }
    return c.json({
      status: true as const,
      reason: sent.length === deliveries.length ? 'Message sent successfully' : `Message sent to ${sent.length} of ${deliveries.length} targets`,
      detail: `sent to ${sent.length} of ${deliveries.length} targets`,
      id: sent.map((d) => d.id),
      target: sent.map((d) => d.to),
      results,
    });
  },
);
