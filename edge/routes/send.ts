// Fonnte's POST /send, so existing Fonnte integrations only change the base URL and the token.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { httpUrl } from '../api/devices.ts';
import { body, endpoint } from '../api/openapi.ts';
import { notARecipient, toRecipient, type Recipient } from '../api/phone.ts';
import { idempotent } from '../api/idempotency.ts';
import { filePart, uploadedMedia } from '../api/uploads.ts';
import { dispatch, failed, failureOf, mediaTypeOf, sendErrors } from '../api/send.ts';
import type { AppEnv } from '../env.ts';
import { relayReason, relayStatus } from '../errors.ts';

// Each target is its own request to the session host; bigger broadcasts belong in a queue.
export const MAX_TARGETS = 50;
/** How long "typing…" shows before a message with `typing` goes out. */
export const TYPING_MS = 2_000;
const MAX_DELAY_S = 3_600;

// Fonnte's clients send numbers and flags as strings or numbers alike.
const scalar = z.union([z.string(), z.number()]).transform(String);
const flag = z.union([z.boolean(), z.number(), z.string()]).transform((v, ctx) => {
  const text = String(v).toLowerCase();
  if (['true', '1'].includes(text)) return true;
  if (['false', '0'].includes(text)) return false;
  ctx.addIssue({ code: 'custom', message: 'must be true or false' });
  return z.NEVER;
});

/** Fonnte's `delay`: "5" (seconds) or a range "1-10" picked at random for each gap between targets. */
const delayRange = scalar.transform((v, ctx) => {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(v);
  const min = Number(match?.[1]);
  const max = match?.[2] === undefined ? min : Number(match[2]);
  if (!match || min > max || max > MAX_DELAY_S) {
    ctx.addIssue({ code: 'custom', message: `must be seconds like "5", or a range like "1-10" (at most ${MAX_DELAY_S})` });
    return z.NEVER;
  }
  return { min, max };
});

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
    countryCode: scalar
      .pipe(z.string().regex(/^\d{1,4}$/, 'must be 1-4 digits, like 62'))
      .optional()
      .meta({
        description: 'Replaces the leading 0 of national numbers (default 62; 0 keeps numbers as they are)',
      }),
    deviceId: z.string().optional().meta({ description: 'The sending device: required with the admin key; a device key always sends from its own' }),
    file: filePart.optional().meta({
      description: 'A file to send (multipart only), at most 4 MB: an image, video, audio or document by its type (else by its name); it wins over url',
      type: 'string',
      format: 'binary',
    }),
    schedule: scalar
      .pipe(z.string().regex(/^\d{1,11}$/, 'must be a unix time in seconds, like 1767225600 (0: now)'))
      .transform(Number)
      .optional()
      .meta({ description: 'Unix time (seconds) to send at; the answer is then "message in queue"' }),
    delay: delayRange.optional().meta({ description: 'Seconds between targets: "5", or a random pick from a range like "1-10"', examples: ['1-10'] }),
    typing: flag.optional().meta({ description: 'Show "typing…" to each recipient before the message' }),
  })
  .transform((input, ctx) => {
    const fail = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: [field], message });
    if (!input.message && !input.url && !input.file) fail('message', 'required (or url, to send media)');
    const field = input.target !== undefined ? 'target' : 'to';
    const parts = (input.target ?? input.to ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!parts.length) fail('target', 'required (or to)');
    // Keyed by JID: a number listed twice, in any spelling, gets the message once.
    const recipients = new Map<string, Recipient & { vars: Record<string, string> }>();
    for (const part of parts) {
      // Fonnte's per-target variables: "08123|Budi|VIP" fills {name} and {var1} for 08123.
      const [number = '', name, ...rest] = part.split('|').map((s) => s.trim());
      const recipient = toRecipient(number, input.countryCode);
      const vars: Record<string, string> = {};
      if (name !== undefined) vars.name = name;
      for (const [i, value] of rest.entries()) vars[`var${i + 1}`] = value;
      if (!recipient) fail(field, notARecipient(number));
      else if (!recipients.has(recipient.jid)) recipients.set(recipient.jid, { ...recipient, vars });
    }
    if (recipients.size > MAX_TARGETS) fail(field, `at most ${MAX_TARGETS} recipients per request, got ${recipients.size}`);
    return {
      recipients: [...recipients.values()],
      text: input.message,
      media: input.url ? { type: mediaTypeOf(input.url, input.filename), url: input.url, fileName: input.filename } : undefined,
      file: input.file && { file: input.file, fileName: input.filename },
      deviceId: input.deviceId,
      schedule: input.schedule,
      delay: input.delay,
      typing: input.typing,
    };
  });

/** The message with a target's variables filled in; placeholders it has no value for stay. */
export const fillVariables = (text: string | undefined, vars: Record<string, string>) => text?.replace(/\{(name|var\d+)\}/g, (whole, key: string) => vars[key] ?? whole);

/** When each target is due: the first at `start`, each next one a random pick from `delay` later. */
export function dueTimes(count: number, start: number, delay?: { min: number; max: number }): number[] {
  const times: number[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    if (i > 0 && delay) at += (delay.min + Math.random() * (delay.max - delay.min)) * 1000;
    times.push(Math.round(at));
  }
  return times;
}

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

export const fonnteQueued = z
  .object({
    status: z.literal(true),
    detail: z.literal('success! message in queue'),
    id: z.array(z.string()).meta({ description: 'Message log ids (GET /api/messages/{id}), in the order of target' }),
    target: z.array(z.string()).meta({ description: 'The recipients, normalised' }),
    process: z.literal('pending'),
  })
  .meta({ description: 'Queued: the session host is offline, or the request has schedule or delay (with several targets)' });

export const send = new Hono<AppEnv>().post(
  '/',
  endpoint({
    summary: 'Send a message (Fonnte compatible)',
    description: 'Takes JSON, urlencoded or multipart bodies. With several targets, each is sent and reported: 200 if at least one was sent; if none was, the status and reason of the first failure.',
    auth: 'sender',
    responses: { 200: z.union([fonnteSent, fonnteQueued]) },
    errors: sendErrors,
  }),
  idempotent,
  body(fonnteSend, { forms: true }),
  async (c) => {
    const { recipients, text, media: linked, file, deviceId, schedule, delay, typing } = c.req.valid('json');
    // A file goes to the device's host first; the sends then name it (Fonnte's snippet sends url too: the file wins).
    const media = file ? await uploadedMedia({ db: c.var.db, env: c.env, sender: c.var.sender, request: c.req.raw }, deviceId, file.file, file.fileName) : linked;
    const outgoing = recipients.map((to) => ({ to, text: fillVariables(text, to.vars), media, typingMs: typing ? TYPING_MS : undefined }));

    // As Fonnte: queued when it is not going out now (a time, or gaps between targets), or
    // when the host is offline; otherwise sent at once and answered with each outcome.
    const now = Date.now();
    const start = schedule && schedule * 1000 > now ? schedule * 1000 : now;
    const later = start > now || (delay !== undefined && delay.max > 0 && outgoing.length > 1);
    const due = later ? dueTimes(outgoing.length, start, delay) : [];
    const deliveries = await dispatch(
      { db: c.var.db, env: c.env, sender: c.var.sender, request: c.req.raw },
      deviceId,
      later ? 'queue' : 'link-else-queue',
      outgoing.map((m, i) => ({ ...m, dueAt: due[i] })),
    );
    if (deliveries.every((d) => !d.ok && d.queued)) {
      return c.json({ status: true as const, detail: 'success! message in queue' as const, id: deliveries.map((d) => d.logId), target: deliveries.map((d) => d.to), process: 'pending' as const });
    }

    const results = deliveries.map((d) => (d.ok ? { target: d.to, status: true, id: d.id } : { target: d.to, status: false, reason: failed(d) ? relayReason(failureOf(d)) : 'queued' }));
    const sent = deliveries.filter((d) => d.ok);
    if (!sent.length) {
      const first = failureOf(deliveries.find(failed)!);
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
