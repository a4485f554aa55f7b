// Fonnte's /send (POST, and the URL API's GET), so existing Fonnte integrations only change the
// base URL and the token.
import { type Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { httpUrl } from '../api/devices.ts';
import { currentClaim, idempotent } from '../api/idempotency.ts';
import { body, endpoint, query } from '../api/openapi.ts';
import { notARecipient, toRecipient, type Recipient } from '../api/phone.ts';
import { dispatch, failed, failureOf, type Media, mediaTypeOf, type Outgoing, sendErrors } from '../api/send.ts';
import { uploadedMedia } from '../api/uploads.ts';
import type { AppEnv } from '../env.ts';
import { fonnteError, fonntePhrase, relayReason, relayStatus, requestIdOf } from '../errors.ts';
import type { Delivery, Failed, SendMode } from '../link/dispatch.ts';

/** Recipients of one request, `data` included: each is a message logged and sent (or queued). */
export const MAX_TARGETS = 1_000;
/** More messages than this in one request are not sent while the client waits: they are queued, as Fonnte queues everything. */
export const AT_ONCE = 50;
/** How long "typing…" shows before a message with `typing` and no `duration`. */
export const TYPING_MS = 2_000;
const MAX_TYPING_S = 30;
const MAX_DELAY_S = 3_600;
const MAX_DATA = 100;
const MAX_TEXT_CHARS = 4_000_000;

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
export const delayRange = scalar.transform((v, ctx) => {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(v);
  const min = Number(match?.[1]);
  const max = match?.[2] === undefined ? min : Number(match[2]);
  if (!match || min > max || max > MAX_DELAY_S) {
    ctx.addIssue({ code: 'custom', message: `must be seconds like "5", or a range like "1-10" (at most ${MAX_DELAY_S})` });
    return z.NEVER;
  }
  return { min, max };
});

/** Fonnte's `location`: "lat,long", spaces allowed. */
const latLong = scalar.transform((v, ctx) => {
  const match = /^\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$/.exec(v);
  const [latitude, longitude] = [Number(match?.[1]), Number(match?.[2])];
  if (!match || Math.abs(latitude) > 90 || Math.abs(longitude) > 180) {
    ctx.addIssue({ code: 'custom', message: `must be "latitude,longitude" like "-7.983908, 112.621391", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return { latitude, longitude };
});

/** Fonnte's `choices`: a poll's options, comma-separated. */
const pollOptions = scalar.transform((v, ctx) => {
  const options = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (options.length < 2 || options.length > 12 || options.some((o) => o.length > 100)) {
    ctx.addIssue({ code: 'custom', message: `must be 2 to 12 comma-separated options of at most 100 characters, got ${options.length}` });
    return z.NEVER;
  }
  return options;
});

// What one request (or one of `data`'s sub-requests) may say, as Fonnte documents it.
const fields = {
  target: scalar.optional().meta({
    description: `Recipients, comma-separated (at most ${MAX_TARGETS}; one listed twice gets it twice): numbers like 628123456789, +62 812-3456-789 or 08123456789, or group ids (…@g.us); "number|name|var1|…" fills {name}, {var1}… in message`,
    examples: ['628123456789,08123456789|Budi|VIP'],
  }),
  to: scalar.optional().meta({ description: 'Same as target' }),
  message: scalar.pipe(z.string().max(65_536)).optional().meta({ description: "The text, or the caption of the media; a poll's name when pollname is absent" }),
  url: httpUrl.optional().meta({ description: 'A public URL of media to send: image, video or audio by its extension, else a document' }),
  filename: z.string().max(255).optional().meta({ description: 'The file name a document is shown with' }),
  countryCode: scalar
    .pipe(z.string().regex(/^\d{1,4}$/, 'must be 1-4 digits, like 62'))
    .optional()
    .meta({ description: 'Replaces the leading 0 of national numbers (default 62; 0 keeps numbers as they are)' }),
  schedule: scalar
    .pipe(z.string().regex(/^\d{1,11}$/, 'must be a unix time in seconds, like 1767225600 (0: now)'))
    .transform(Number)
    .optional()
    .meta({ description: 'Unix time (seconds) to send at; the answer is then "message in queue"' }),
  delay: delayRange.optional().meta({ description: 'Seconds between targets (in data: before this sub-request): "5", or a random pick from a range like "1-10"', examples: ['1-10'] }),
  typing: flag.optional().meta({ description: 'Show "typing…" to each recipient before the message' }),
  duration: scalar
    .pipe(z.string().regex(/^\d{1,2}$/, 'must be whole seconds'))
    .transform(Number)
    .pipe(z.number().min(1, 'must be 1 to 30 seconds').max(MAX_TYPING_S, 'must be 1 to 30 seconds'))
    .optional()
    .meta({ description: 'Seconds "typing…" shows (implies typing; default 2)' }),
  location: latLong.optional().meta({ description: 'Send a pin at "latitude,longitude" (with message as its name)', examples: ['-7.983908, 112.621391'] }),
  choices: pollOptions.optional().meta({ description: 'Send a poll with these 2-12 comma-separated options', examples: ['regular,super,ultra'] }),
  select: z.enum(['single', 'multiple']).optional().meta({ description: "A poll's voters pick one option (single, the default) or several" }),
  pollname: scalar.pipe(z.string().max(255)).optional().meta({ description: "The poll's name (default: message)" }),
  inboxid: scalar.pipe(z.string().trim().min(1).max(128)).optional().meta({ description: "Reply quoting this incoming message: the webhook's inboxid (its WhatsApp message id)" }),
  preview: flag.optional().meta({ description: 'A link in the message gets its preview card (default true)' }),
  file: z.unknown().optional().meta({ description: 'An uploaded file (multipart) to send' }),
  followup: scalar.optional().meta({ description: 'Accepted for compatibility; no effect' }),
};

/** What one request or sub-request asks for: its messages, in order, and when they go. */
type Part = { messages: Outgoing[]; file?: File; fileName?: string; schedule?: number; delay?: { min: number; max: number } };

/** One request's fields, checked together, as the messages they make (a `file` still to upload). */
function partOf(input: z.output<z.ZodObject<typeof fields>>, ctx: z.RefinementCtx, prefix: (string | number)[] = []): Part {
  const fail = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: [...prefix, field], message });
  if (input.file !== undefined && !(input.file instanceof File)) fail('file', 'must be a file (a multipart file part)');
  const file = input.file instanceof File ? input.file : undefined;
  if (!input.message && !input.url && !file && !input.location && !input.choices) fail('message', 'required (or url, file, location or choices)');
  if (input.choices && !input.pollname && !input.message) fail('pollname', 'required with choices (or message, as the poll name)');
  const field = input.target !== undefined ? 'target' : 'to';
  const parts = (input.target ?? input.to ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!parts.length) fail('target', 'required (or to)');
  // Fonnte's per-target variables: "08123|Budi|VIP" fills {name} and {var1} for 08123. A number
  // listed twice gets the message twice, each copy with its own variables, as Fonnte's own example does.
  const recipients: (Recipient & { vars: Record<string, string> })[] = [];
  for (const part of parts) {
    const [number = '', name, ...rest] = part.split('|').map((s) => s.trim());
    const recipient = toRecipient(number, input.countryCode);
    const vars: Record<string, string> = {};
    if (name !== undefined) vars.name = name;
    for (const [i, value] of rest.entries()) vars[`var${i + 1}`] = value;
    if (!recipient) fail(field, notARecipient(number));
    else recipients.push({ ...recipient, vars });
  }
  if (recipients.length > MAX_TARGETS) fail(field, `at most ${MAX_TARGETS} recipients per request, got ${recipients.length}`);

  const media: Media | undefined = input.url ? { type: mediaTypeOf(input.url, input.filename), url: input.url, fileName: input.filename } : undefined;
  const typingMs = input.duration ? input.duration * 1000 : input.typing ? TYPING_MS : undefined;
  const quotedId = input.inboxid;
  // One message per target, as the answer has one id per target: a poll, else media or a text
  // (the caption), else a pin named by the message. A location beside url or file is not sent.
  const messageFor = (to: Recipient & { vars: Record<string, string> }): Outgoing => {
    const text = fillVariables(input.message, to.vars);
    const base = { to, typingMs, linkPreview: input.preview === false ? false : undefined };
    if (input.choices) {
      const name = fillVariables(input.pollname, to.vars) ?? text!;
      return { ...base, rich: { poll: { name, options: input.choices, multiple: input.select === 'multiple' }, quotedId }, type: 'poll', preview: name };
    }
    if (input.location && !media && !file) {
      return { ...base, rich: { location: { ...input.location, name: text || undefined }, quotedId }, type: 'location', preview: text || `${input.location.latitude},${input.location.longitude}` };
    }
    return { ...base, text, media, rich: quotedId ? { quotedId } : undefined };
  };
  return { messages: recipients.map(messageFor), file, fileName: input.filename, schedule: input.schedule, delay: input.delay };
}

/** Fonnte's `data`: a JSON array (a string in forms) of sub-requests, each like a /send of its own. */
const dataField = z
  .unknown()
  .transform((value, ctx) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of requests like [{"target":"628123456789","message":"Hi"}]' });
      return z.NEVER;
    }
  })
  .pipe(z.array(z.object(fields)).min(1).max(MAX_DATA));

export const fonnteSend = z
  .object({
    ...fields,
    data: dataField
      .optional()
      .meta({ description: `Instead of target and message: a JSON array of up to ${MAX_DATA} sub-requests (each with target, message, url, delay, schedule, location, choices…), sent in order` }),
    deviceId: z.string().optional().meta({ description: 'The sending device: required with the admin key; a device key always sends from its own' }),
    sequence: flag.optional().meta({ description: 'Send one after another in request order, through the queue' }),
    connectOnly: flag.optional().meta({ description: 'Default true: a disconnected device is an error. False: queued, and sent when the device is back' }),
    redirect: httpUrl.optional().meta({ description: 'URL API (GET) only: answer with a redirect to this URL instead of JSON' }),
    token: z.string().optional().meta({ description: 'URL API (GET) only: the API key, instead of the Authorization header' }),
  })
  .transform((input, ctx) => {
    const { data, deviceId, sequence, connectOnly, redirect, token: _, ...request } = input;
    let parts: Part[];
    if (data) {
      parts = data.map((item, i) => {
        const part = partOf(item, ctx, ['data', i]);
        if (part.file) ctx.addIssue({ code: 'custom', path: ['data', i, 'file'], message: 'files cannot be sent with data' });
        return part;
      });
    } else {
      parts = [partOf(request, ctx)];
    }
    const count = parts.reduce((n, part) => n + part.messages.length, 0);
    if (data && count > MAX_TARGETS) ctx.addIssue({ code: 'custom', path: ['data'], message: `at most ${MAX_TARGETS} recipients per request in all, got ${count}` });
    // Each target carries its own copy of the text to the HostLink and its outbox: bounded in all.
    const chars = parts.reduce((n, part) => n + part.messages.reduce((m, message) => m + (message.text?.length ?? 0), 0), 0);
    if (chars > MAX_TEXT_CHARS)
      ctx.addIssue({ code: 'custom', path: ['message'], message: `at most ${MAX_TEXT_CHARS} characters for all targets together, got ${chars}: send a long text to fewer targets at once` });
    return { parts, inData: data !== undefined, deviceId, sequence: sequence ?? false, connectOnly: connectOnly ?? true, redirect };
  });
export type FonnteSend = z.output<typeof fonnteSend>;

/** The message with a target's variables filled in; placeholders it has no value for stay. */
export const fillVariables = (text: string | undefined, vars: Record<string, string>) => text?.replace(/\{(name|var\d+)\}/g, (whole, key: string) => vars[key] ?? whole);

/** When each target is due: the first at `start`, each next one a random pick from `delay` later. */
export function dueTimes(count: number, start: number, delay?: { min: number; max: number }): number[] {
  const times: number[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    if (i > 0 && delay) at += pick(delay);
    times.push(Math.round(at));
  }
  return times;
}
const pick = (delay: { min: number; max: number }) => (delay.min + Math.random() * (delay.max - delay.min)) * 1000;

/**
 * An uploaded `file` as media the host can send: carried to the host of the sending device first.
 * Through a rotator the sends come from several devices, each of which would need its own copy.
 */
async function uploadFor(c: Context<AppEnv>, deviceId: string | undefined, file: File, fileName?: string): Promise<Media> {
  if (c.var.rotator) throw new HTTPException(400, { message: 'file: a file cannot go through a rotator (several tokens): send it with one token' });
  return uploadedMedia({ db: c.var.db, env: c.env, sender: c.var.sender, request: c.req.raw }, deviceId, file, fileName);
}

const targetResult = z.object({
  target: z.string().meta({ description: 'The recipient, normalised: 628123456789 or …@g.us' }),
  status: z.boolean(),
  id: z.string().optional().meta({ description: 'The WhatsApp message id when sent; the message log id when queued' }),
  reason: z.string().optional().meta({ description: 'Why not, when not sent (or "queued")' }),
});
const requestid = z.number().int().meta({ description: 'Unique per request (Fonnte)' });

export const fonnteSent = z
  .object({
    status: z.literal(true),
    reason: z.string().meta({ examples: ['Message sent successfully', 'Message sent to 1 of 2 targets'] }),
    detail: z.string().meta({ examples: ['sent to 2 of 2 targets'] }),
    id: z.array(z.string()).meta({ description: 'WhatsApp message ids of the sent messages (message log ids of any queued), in request order' }),
    target: z.array(z.string()).meta({ description: 'The recipients sent to (or queued), normalised, in request order' }),
    results: z.array(targetResult).meta({ description: 'Every recipient, in request order, sent or not' }),
    process: z.enum(['sent', 'pending']).meta({ description: 'sent; pending when some were queued (the device was offline and connectOnly false)' }),
    requestid,
  })
  .meta({ description: 'Sent to every recipient, or to some: then reason says so and results tells which failed' });

export const fonnteQueued = z
  .object({
    status: z.literal(true),
    detail: z.literal('success! message in queue'),
    id: z.array(z.string()).meta({ description: 'Message log ids (GET /api/messages/{id}), in request order' }),
    target: z.array(z.string()).meta({ description: 'The recipients, normalised, in request order' }),
    process: z.literal('pending'),
    requestid,
  })
  .meta({
    description: `Queued: the session host is offline, or the request has schedule, delay (with several targets), sequence or data, or more than ${AT_ONCE} recipients`,
  });

const fonnteFailed = fonnteError.extend({ results: z.array(targetResult).optional() });

type Answer = { status: 200 | 400 | 403 | 404 | 500 | 502 | 503 | 504; body: Record<string, unknown> };

/** Sends what a /send request asks for and says how it went, in Fonnte's words. */
async function carryOut(c: Context<AppEnv>, request: FonnteSend): Promise<Answer> {
  const { parts, inData, deviceId, sequence, connectOnly } = request;
  for (const part of parts) {
    if (!part.file) continue;
    const media = await uploadFor(c, deviceId, part.file, part.fileName);
    part.messages = part.messages.map((m) => (m.rich?.poll || m.rich?.location ? m : { ...m, media }));
  }

  // Due times, in request order: each part at its schedule (or now), its targets `delay` apart;
  // in `data`, each sub-request `delay` after the one before.
  const now = Date.now();
  let later = false;
  let cursor = now;
  const outgoing: Outgoing[] = [];
  for (const part of parts) {
    const scheduled = part.schedule && part.schedule * 1000 > now ? part.schedule * 1000 : undefined;
    let start = inData ? Math.max(cursor, scheduled ?? 0) : (scheduled ?? now);
    if (inData && part.delay && outgoing.length) start += pick(part.delay);
    const spaced = !inData && part.delay !== undefined && part.delay.max > 0 && part.messages.length > 1;
    if (scheduled || spaced || start > now) later = true;
    const due = dueTimes(part.messages.length, start, inData ? undefined : part.delay);
    outgoing.push(...part.messages.map((m, i) => ({ ...m, dueAt: due[i] })));
    cursor = due.at(-1) ?? start;
  }

  // As Fonnte: queued when it is not all going out now (a time, gaps between targets, an order to
  // keep, more than go out at once); otherwise sent at once and answered with each outcome.
  const queue = later || sequence || inData || outgoing.length > AT_ONCE;
  const mode: SendMode = queue ? 'queue' : connectOnly ? 'link-else-queue' : 'now-else-queue';
  const deliveries = await dispatchAll(c, deviceId, mode, queue ? outgoing : outgoing.map((m) => ({ ...m, dueAt: undefined })));
  // A retry under an Idempotency-Key is the same request: the same requestid (its claim's time and tag).
  const claim = currentClaim();
  if (claim) c.set('requestid', claim.since * 1000 + (Number.parseInt(claim.tag, 16) % 1000));
  const requestid = requestIdOf(c);
  if (deliveries.every((d) => !d.ok && d.queued)) {
    return { status: 200, body: { status: true, detail: 'success! message in queue', id: deliveries.map((d) => d.logId), target: deliveries.map((d) => d.to), process: 'pending', requestid } };
  }

  const results = deliveries.map((d) =>
    d.ok ? { target: d.to, status: true, id: d.id } : failed(d) ? { target: d.to, status: false, reason: relayReason(failureOf(d)) } : { target: d.to, status: false, id: d.logId, reason: 'queued' },
  );
  const gone = deliveries.filter((d): d is Exclude<Delivery, Failed> => !failed(d));
  const sent = gone.filter((d) => d.ok);
  if (!gone.length) return failure(deliveries.find(failed)!, results, requestid);
  return {
    status: 200,
    body: {
      status: true,
      reason: sent.length === deliveries.length ? 'Message sent successfully' : `Message sent to ${sent.length} of ${deliveries.length} targets`,
      detail: `sent to ${sent.length} of ${deliveries.length} targets${gone.length > sent.length ? `, ${gone.length - sent.length} queued` : ''}`,
      id: gone.map((d) => (d.ok ? d.id : d.logId)),
      target: gone.map((d) => d.to),
      results,
      process: gone.length > sent.length ? 'pending' : 'sent',
      requestid,
    },
  };
}

/**
 * Sends from the request's device; with Fonnte's rotator (several keys), target by target from
 * each of its devices in turn (round robin, so a list spreads evenly), answered in request order.
 */
async function dispatchAll(c: Context<AppEnv>, deviceId: string | undefined, mode: SendMode, outgoing: Outgoing[]): Promise<Delivery[]> {
  const context = (sender = c.var.sender) => ({ db: c.var.db, env: c.env, sender, request: c.req.raw });
  const rotator = c.var.rotator;
  if (!rotator) return dispatch(context(), deviceId, mode, outgoing);
  // An Idempotency-Key is claimed in one device's HostLink: a send spread over several cannot keep it.
  if (currentClaim()) throw new HTTPException(400, { message: 'Idempotency-Key: not supported with several tokens (a rotator)' });
  const turns = rotator.map((_, turn) => outgoing.map((m, i) => [m, i] as const).filter(([, i]) => i % rotator.length === turn));
  const answered = await Promise.all(
    turns.map((mine, turn) =>
      mine.length
        ? dispatch(
            context(rotator[turn]),
            deviceId,
            mode,
            mine.map(([m]) => m),
          )
        : [],
    ),
  );
  const deliveries: Delivery[] = [];
  for (const [turn, mine] of turns.entries()) for (const [j, [, i]] of mine.entries()) deliveries[i] = answered[turn]![j]!;
  return deliveries;
}

/**
 * Nothing went out. A disconnected device keeps the seed's 503, in Fonnte's phrase (the seed's
 * words in `detail`); a media URL the host could not fetch is Fonnte's request error "url
 * unreachable" (HTTP 200); what failed on our side keeps its status.
 */
function failure(first: Failed, results: object[], requestid: number): Answer {
  const error = failureOf(first);
  const detail = relayReason(error);
  if (error.code === 'not_connected' || error.code === 'host_offline') return { status: 503, body: { status: false, reason: 'device disconnected', detail, results, requestid } };
  if (error.code === 'media_error') return { status: 200, body: { status: false, reason: 'url unreachable', detail, results, requestid } };
  if (error.code === 'bad_request') return { status: 200, body: { status: false, reason: fonntePhrase(detail), detail, results, requestid } };
  return { status: relayStatus[error.code] as Answer['status'], body: { status: false, reason: detail, detail, results, requestid } };
}

const description =
  'Takes JSON (whatever the Content-Type says), urlencoded or multipart bodies. With several targets, each is sent and reported: 200 if at least one was sent. ' +
  'Request errors are answered as Fonnte does: HTTP 200 with status false, Fonnte\'s phrase in reason ("target invalid", "input invalid", "url invalid", "JSON format invalid", …) and the exact fault in detail. ' +
  'A disconnected device is a 503 with reason "device disconnected", unless connectOnly is false (then queued).';
const responses = { 200: z.union([fonnteSent, fonnteQueued, fonnteFailed]) };

export const send = new Hono<AppEnv>()
  .post('/', endpoint({ summary: 'Send a message (Fonnte compatible)', description, auth: 'sender', responses, errors: sendErrors }), idempotent, body(fonnteSend, { forms: true }), async (c) => {
    const { status, body } = await carryOut(c, c.req.valid('json'));
    return c.json(body, status);
  })
  .get(
    '/',
    endpoint({
      summary: "Send a message by URL (Fonnte's URL API)",
      description: `The same as POST /send with the parameters in the query and the key as \`token\` (or the Authorization header). With \`redirect\`, answered by a redirect there after processing. ${description}`,
      auth: 'sender',
      responses: { ...responses, 302: z.null().meta({ description: 'Processed; to the redirect URL' }) },
      errors: sendErrors,
    }),
    query(fonnteSend, { blanksAbsent: true }),
    async (c) => {
      const request = c.req.valid('query');
      const { status, body } = await carryOut(c, request);
      return request.redirect ? c.redirect(request.redirect, 302) : c.json(body, status);
    },
  );
