// Fonnte's other endpoints at Fonnte's paths, so a Fonnte integration keeps working with only
// the base URL and the token changed: device endpoints take the device's key (Fonnte's device
// token), account endpoints the admin key (Fonnte's account token). As Fonnte, every failure is
// HTTP 200 {"status":false,"reason":"<Fonnte's phrase>"}, with the precise explanation in `detail`.
import { and, asc, eq } from 'drizzle-orm';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { createDevice, edgeOrigin, keepKey, settingsOf, tellHost } from '../api/devices.ts';
import { body, endpoint } from '../api/openapi.ts';
import { DEFAULT_COUNTRY_CODE, notAPhone, notARecipient, toRecipient } from '../api/phone.ts';
import { qrPng } from '../api/qr-png.ts';
import { base64 } from '../crypto.ts';
import type { Caller } from '../auth.ts';
import { devicesTable, messagesTable, type Device, type Message } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { hostLink, relay } from '../link/relay.ts';
import { MAX_NUMBER_CHECKS, rethrow } from './chats.ts';
import { messageFor } from './messages.ts';
import { dueTimes } from './send.ts';

export const MAX_VALIDATE_TARGETS = 500;
// A Worker may keep working this long after it answered (waitUntil); a typing indicator that
// should stop later is left to WhatsApp, which drops it by itself after about half a minute.
export const MAX_TYPING_S = 30;
/** What the gateway says where Fonnte shows a plan: it has no quota, package or expiry. */
export const PLAN = { quota: 'unlimited', package: 'self-hosted', expired: '-' } as const;

// ───────────── Fonnte's failures ─────────────

const failure = z
  .object({ status: z.literal(false), reason: z.string().optional(), detail: z.string().optional() })
  .meta({ description: "A failure, answered with HTTP 200 as Fonnte does: reason is Fonnte's phrase, detail says precisely what was wrong" });

/** Ends the request with Fonnte's failure answer (HTTP 200): its phrase, and what precisely was wrong. */
function refuse(reason: string, detail?: string): never {
  throw new HTTPException(200, { res: Response.json({ status: false, reason, ...(detail && detail !== reason && { detail }) }) });
}
/** The few failures Fonnte words under `detail` only (/disconnect, /fetch-group). */
function refuseInDetail(detail: string): never {
  throw new HTTPException(200, { res: Response.json({ detail, status: false }) });
}

/**
 * Turns the gateway's usual errors on these routes (a wrong key, a field at fault, a device that
 * is not connected) into Fonnte's answers: HTTP 200, Fonnte's phrase, the gateway's words in
 * `detail`. `fields` names the phrase for an invalid field (`target` → "target invalid").
 */
function fonnteFailures(unauthorized: 'token invalid' | 'unknown user', fields: Record<string, string> = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const error = c.error;
    // A failure already in Fonnte's words, or a client told to slow down (429, Retry-After).
    if (!(error instanceof HTTPException) || error.res) return;
    const detail = error.message;
    const reason = (() => {
      if (error.status === 401 || error.status === 403) return unauthorized;
      if (error.status === 503 || error.status === 504) return 'device disconnected';
      if (error.status === 400 && /^Malformed JSON/i.test(detail)) return 'JSON format invalid';
      if (error.status === 400) {
        const [field = '', why = ''] = detail.split(/: (.*)/s);
        if (why === 'required') return `${field} required`;
        return fields[field] ?? 'input invalid';
      }
      if (error.status === 415) return 'input invalid';
      return error.status >= 500 ? 'request failed' : detail;
    })();
    c.error = undefined;
    // Cleared first: set over an answer, Hono would carry the error answer's headers into this one.
    c.res = undefined;
    c.res = c.json({ status: false, reason, detail }, 200);
  };
}

/** The caller's own device: these routes act on the device whose token they are given. */
function ownDevice(caller: Caller): Device {
  if (caller.admin) refuse('token invalid', 'this endpoint takes a device token; the admin key is the account token');
  return caller.device;
}

const connected = (device: Pick<Device, 'status'>) => device.status === 'CONNECTED';

// Fonnte's clients send numbers and flags as strings or numbers alike; PHP's false is "".
const scalar = z.union([z.string(), z.number()], { error: (issue) => (issue.input === undefined ? 'required' : 'must be text or a number') }).transform(String);
const flag = z
  .union([z.boolean(), z.number(), z.string()])
  .optional()
  .transform((v) => ['true', '1', 'on', 'yes'].includes(String(v ?? '').toLowerCase()));
const onOff = (on: boolean) => (on ? 'on' : 'off');
const countryCode = scalar
  .pipe(z.string().regex(/^\d{1,4}$/, 'must be 1-4 digits, like 62'))
  .optional()
  .meta({ description: 'Replaces the leading 0 of national numbers (default 62; 0 keeps numbers as they are)' });
const messageId = scalar.pipe(z.string().trim().min(1, 'required').max(128)).meta({ description: 'The message id /send answered with (a WhatsApp id is taken too)' });
const fonnteStatus = z.literal(true);

// ───────────── inputs and answers ─────────────

const validateInput = z.object({
  target: scalar.meta({ description: `Numbers to check, comma-separated (at most ${MAX_VALIDATE_TARGETS})`, examples: ['08123456789,628987654321'] }),
  countryCode,
});
const validated = z.object({
  not_registered: z.array(z.string()).meta({ description: 'Not on WhatsApp, or not a phone number (as given)' }),
  registered: z.array(z.string()).meta({ description: 'On WhatsApp, with country code' }),
  status: fonnteStatus,
});

const deviceProfile = z.object({
  device: z.string().meta({ description: 'Its WhatsApp number; empty until it is linked', examples: ['6282227097005'] }),
  device_status: z.enum(['connect', 'disconnect']),
  expired: z.string().meta({ description: `No expiry: always "${PLAN.expired}"` }),
  messages: z.number().int().meta({ description: 'Messages sent so far' }),
  name: z.string(),
  package: z.string().meta({ description: `No plans: always "${PLAN.package}"` }),
  quota: z.string().meta({ description: `No quota: always "${PLAN.quota}"` }),
  status: fonnteStatus,
});

const qrInput = z.object({
  type: z.enum(['qr', 'code'], { error: 'must be qr or code' }).default('qr').meta({ description: 'qr: a QR code image to scan; code: a pairing code to type on the phone' }),
  whatsapp: scalar.optional().meta({ description: "The phone's number with country code: required for type=code" }),
});
const qrAnswer = z.union([
  z.object({ status: fonnteStatus, url: z.string().meta({ description: 'The QR code as a base64 PNG (without a data: prefix)' }) }),
  z.object({ status: fonnteStatus, code: z.string().meta({ examples: ['ABCD-EFGH'] }) }),
]);

const idInput = z.object({ id: messageId });
const messageStatus = z.object({
  id: z.string(),
  message_status: z.enum(['pending', 'sent', 'failed']).meta({ description: 'pending: queued; sent: WhatsApp took it; failed: not sent' }),
  state: z.enum(['queued', 'sent', 'delivered', 'read', 'failed']).meta({ description: "The gateway's finer status: delivered and read as WhatsApp reports them" }),
  status: fonnteStatus,
});

const resetInput = z.object({
  id: messageId,
  schedule: scalar
    .pipe(z.string().regex(/^\d{1,11}$/, 'must be a unix time in seconds, like 1767225600 (0: now)'))
    .transform(Number)
    .optional()
    .meta({ description: 'Unix time (seconds) to send at; absent, 0 or past: now' }),
  delay: scalar
    .pipe(z.string().regex(/^\s*\d+\s*(-\s*\d+\s*)?$/, 'must be seconds like "5", or a range like "5-10"'))
    .transform((v) => {
      const [min = 0, max = min] = v.split('-').map(Number);
      return { min: Math.min(min, max), max: Math.max(min, max) };
    })
    .optional()
    .meta({ description: 'With byschedule: seconds between the rescheduled messages, "5" or a random pick from "5-10"' }),
  byschedule: flag.meta({ description: 'Reschedule every queued message of the device that was due at the same time as this one' }),
});

const typingInput = z.object({
  target: scalar.meta({ description: 'The chat: a number (08123456789, 628123456789) or a group id (…@g.us)' }),
  countryCode,
  duration: scalar
    .pipe(z.string().regex(/^\d+$/, 'must be whole seconds'))
    .transform(Number)
    .optional()
    .meta({ description: `Seconds to show "typing…" (at most ${MAX_TYPING_S}; WhatsApp itself drops it after about that long)` }),
  stop: flag.meta({ description: 'Stop showing "typing…" now' }),
});

const accountDevice = z.object({
  autoread: z.literal('off'),
  device: z.string(),
  expired: z.string(),
  id: z.string().meta({ description: "The gateway's device id" }),
  name: z.string(),
  package: z.string(),
  quota: z.string(),
  status: z.enum(['connect', 'disconnect']),
  token: z.string().meta({ description: 'The device key, masked: the gateway keeps only its hash, so the full key is shown only by /add-device' }),
});
const accountDevices = z.object({
  connected: z.number().int(),
  data: z.array(accountDevice),
  devices: z.number().int(),
  messages: z.number().int(),
  status: fonnteStatus,
  type: z.literal('device'),
});

const addDeviceInput = z.object({
  name: z.string().trim().min(2, 'must be 2-30 characters').max(30, 'must be 2-30 characters'),
  device: scalar.pipe(z.string().regex(/^\+?\d{8,15}$/, 'must be the WhatsApp number, 8-15 digits')),
  autoread: flag,
  personal: flag,
  group: flag,
});
const addedDevice = z.object({
  autoread: z.enum(['on', 'off']),
  device: z.string(),
  group: z.enum(['on', 'off']),
  id: z.string().meta({ description: "The gateway's device id" }),
  name: z.string(),
  personal: z.enum(['on', 'off']),
  status: fonnteStatus,
  token: z.string().meta({ description: 'The new device key. Store it now: it is not shown again' }),
});

const optionalUrl = z.union([z.literal(''), z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })]).optional();
const updateDeviceInput = z.object({
  name: z.string().trim().min(2, 'must be 2-30 characters').max(30, 'must be 2-30 characters').optional(),
  device: scalar.optional().meta({ description: "Which device, with the account token: its number or the gateway's device id" }),
  webhook: optionalUrl.meta({ description: 'Where incoming messages are posted; empty for none' }),
  webhookconnect: optionalUrl.meta({ description: 'Where device status (connect, disconnect) is posted; none when webhook is set without it' }),
  webhookstatus: optionalUrl.meta({ description: 'Where message statuses are posted; none when webhook is set without it' }),
  webhookchaining: optionalUrl.meta({ description: 'Accepted, not used' }),
  autoread: flag,
  personal: flag,
  group: flag,
  quick: flag,
  resend: flag,
  target: scalar.optional(),
  countryCode,
});
const deviceRef = z.object({
  device: scalar.optional().meta({ description: "With the account token: the device's number or the gateway's device id" }),
  otp: scalar.optional().meta({ description: 'Not used: the gateway sends no OTP' }),
});

const done = (example: string) => z.object({ detail: z.string().meta({ examples: [example] }), status: fonnteStatus });
const ok = z.object({ status: fonnteStatus });

// ───────────── helpers ─────────────

/** Fonnte's word for a logged message's status. */
const fonnteWord = (status: Message['status']) => (status === 'queued' ? 'pending' : status === 'failed' ? 'failed' : 'sent');

/** The device's changes an /update-device asks for, as the devices table holds them. */
export function deviceChangesFrom(input: z.infer<typeof updateDeviceInput>, device: Device): Partial<Pick<Device, 'name' | 'webhookUrl' | 'statusWebhookUrl' | 'connectionWebhookUrl'>> {
  const changes: Partial<Pick<Device, 'name' | 'webhookUrl' | 'statusWebhookUrl' | 'connectionWebhookUrl'>> = {};
  if (input.name !== undefined) changes.name = input.name;
  if (input.webhook !== undefined) changes.webhookUrl = input.webhook;
  // Fonnte posts each kind of event only to its own URL: set through Fonnte's API, a kind without
  // one gets none, rather than falling back to the message URL as the gateway's own default does.
  const own = [
    ['webhookstatus', 'statusWebhookUrl'],
    ['webhookconnect', 'connectionWebhookUrl'],
  ] as const;
  for (const [param, column] of own) {
    if (input[param] !== undefined) changes[column] = input[param];
    else if (input.webhook !== undefined && device[column] === null) changes[column] = '';
  }
  return changes;
}

/** The device an account-token request names by its number or id; a device token's own. */
async function namedDevice(c: Context<AppEnv>, named: string | undefined): Promise<Device> {
  const caller = c.var.caller;
  if (!caller.admin) return caller.device;
  if (!named) refuse('invalid device', 'device: required with the account (admin) key: the number or the device id');
  const digits = named.replace(/\D/g, '');
  const [device] = await c.var.db
    .select()
    .from(devicesTable)
    .where(named.startsWith('device_') ? eq(devicesTable.id, named) : eq(devicesTable.phoneNumber, digits));
  return device ?? refuse('invalid device', `device: no device ${JSON.stringify(named)}`);
}

/** A message of the caller's device for /status, /delete-message and /reset-message. */
const loggedMessage = (c: Context<AppEnv>, id: string, fresh = false) =>
  messageFor(c.var.db, c.env, c.var.caller, id, { fresh }).catch((error) => {
    if (error instanceof HTTPException && error.status === 404) refuse('invalid message id', `id: no message ${JSON.stringify(id)} of this device`);
    throw error;
  });

const deviceTokenErrors = fonnteFailures('token invalid');
const accountErrors = fonnteFailures('unknown user');
const post = { auth: 'device' as const, failuresAsOk: true };

// ───────────── routes ─────────────

export const fonnte = new Hono<AppEnv>()
  .post(
    '/validate',
    fonnteFailures('token invalid', { target: 'target invalid' }),
    endpoint({
      ...post,
      summary: 'Which numbers are on WhatsApp (Fonnte)',
      description: `Up to ${MAX_VALIDATE_TARGETS} numbers. Each answer is kept a day on the session host, so checking again does not ask WhatsApp again.`,
      responses: { 200: z.union([validated, failure]) },
    }),
    body(validateInput, { forms: true }),
    async (c) => {
      const device = ownDevice(c.var.caller);
      const { target, countryCode } = c.req.valid('json');
      const given = target
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (!given.length) refuse('target required');
      if (given.length > MAX_VALIDATE_TARGETS) refuse('target invalid', `target: at most ${MAX_VALIDATE_TARGETS} numbers per request, got ${given.length}`);
      const numbers = new Map(given.map((g) => [g, toRecipient(g, countryCode ?? DEFAULT_COUNTRY_CODE, false)?.number]));
      const asked = [...new Set([...numbers.values()].filter((n) => n !== undefined))];
      const exists = new Map<string, boolean>();
      // The host takes a batch at a time; one after another, not to flood WhatsApp.
      for (let i = 0; i < asked.length; i += MAX_NUMBER_CHECKS) {
        const { results } = await relay(c.env, device.hostId, 'chat.checkNumbers', { deviceId: device.id, numbers: asked.slice(i, i + MAX_NUMBER_CHECKS) }).catch(rethrow);
        for (const r of results) exists.set(r.number, r.exists);
      }
      const registered = asked.filter((n) => exists.get(n));
      const notRegistered = [...asked.filter((n) => !exists.get(n)), ...[...numbers].filter(([, n]) => n === undefined).map(([g]) => g)];
      return c.json({ not_registered: notRegistered, registered, status: true as const });
    },
  )
  .on(['POST', 'GET'], '/device', deviceTokenErrors, endpoint({ ...post, summary: "The device's profile (Fonnte)", responses: { 200: z.union([deviceProfile, failure]) } }), (c) => {
    const device = ownDevice(c.var.caller);
    return c.json({
      device: device.phoneNumber ?? '',
      device_status: connected(device) ? ('connect' as const) : ('disconnect' as const),
      expired: PLAN.expired,
      messages: device.totalMessagesSent,
      name: device.name,
      package: PLAN.package,
      quota: PLAN.quota,
      status: true as const,
    });
  })
  .post(
    '/qr',
    deviceTokenErrors,
    endpoint({
      ...post,
      summary: 'Link the device: a QR code to scan, or a pairing code (Fonnte)',
      description: 'type=qr answers the QR code as a base64 PNG; type=code a code to type on the phone whose number is whatsapp. A linked device answers "device already connect".',
      responses: { 200: z.union([qrAnswer, failure]) },
    }),
    body(qrInput, { forms: true }),
    async (c) => {
      const device = ownDevice(c.var.caller);
      const { type, whatsapp } = c.req.valid('json');
      if (connected(device)) refuse('device already connect');
      // Settings first: a host that just came up may not have had them pushed yet.
      await relay(c.env, device.hostId, 'device.upsert', settingsOf(device, edgeOrigin(c.req.raw))).catch(rethrow);
      if (type === 'code') {
        if (!whatsapp) refuse('whatsapp required', 'whatsapp: required with type=code: the number of the phone that will link');
        const phone = toRecipient(whatsapp, DEFAULT_COUNTRY_CODE, false)?.number ?? refuse('whatsapp invalid', `whatsapp: ${notAPhone(whatsapp)}`);
        // The host first waits for WhatsApp's handshake, up to 20 s.
        const { code } = await relay(c.env, device.hostId, 'device.pairingCode', { id: device.id, phone }, 30_000).catch(rethrow);
        // Shown as WhatsApp shows it on the phone: ABCD-EFGH.
        return c.json({ status: true as const, code: code.replace(/^(\w{4})-?(\w{4})$/, '$1-$2') });
      }
      const state = await relay(c.env, device.hostId, 'device.connect', { id: device.id }).catch(rethrow);
      if (state.status === 'CONNECTED') refuse('device already connect');
      if (!state.qr) refuse('qr not ready', `the device is ${state.status.toLowerCase()}: ask again in a few seconds`);
      return c.json({ status: true as const, url: base64(await qrPng(state.qr)) });
    },
  )
  .post(
    '/disconnect',
    deviceTokenErrors,
    endpoint({
      ...post,
      summary: 'Unlink the device from WhatsApp (Fonnte)',
      description: 'As Fonnte: the WhatsApp session is logged out, and linking again takes a new QR scan (/qr).',
      responses: { 200: z.union([done('device disconnected'), failure]) },
    }),
    async (c) => {
      const device = ownDevice(c.var.caller);
      if (!connected(device)) refuseInDetail('device already disconnected');
      await relay(c.env, device.hostId, 'device.logout', { id: device.id }).catch(rethrow);
      return c.json({ detail: 'device disconnected', status: true as const });
    },
  )
  .on(
    ['POST', 'GET'],
    '/get-whatsapp-group',
    deviceTokenErrors,
    endpoint({
      ...post,
      summary: 'The WhatsApp groups the device is in (Fonnte)',
      description: 'Live from its session.',
      responses: { 200: z.union([z.object({ data: z.array(z.object({ id: z.string(), name: z.string() })), status: fonnteStatus }), failure]) },
    }),
    async (c) => {
      const device = ownDevice(c.var.caller);
      const { groups } = await relay(c.env, device.hostId, 'groups.list', { deviceId: device.id }).catch(rethrow);
      return c.json({ data: groups.map(({ id, name }) => ({ id, name })), status: true as const });
    },
  )
  .post(
    '/fetch-group',
    deviceTokenErrors,
    endpoint({
      ...post,
      summary: 'Update the WhatsApp group list (Fonnte)',
      description: 'The gateway reads the group list live, so there is nothing to update: it only checks the device is connected.',
      responses: { 200: z.union([done('update whatsapp group list finished'), failure]) },
    }),
    (c) => {
      if (!connected(ownDevice(c.var.caller))) refuseInDetail('cannot fetch with disconnected device');
      return c.json({ detail: 'update whatsapp group list finished', status: true as const });
    },
  )
  .post(
    '/status',
    fonnteFailures('token invalid', { id: 'invalid message id' }),
    endpoint({ ...post, summary: "A message's status (Fonnte)", responses: { 200: z.union([messageStatus, failure]) } }),
    body(idInput, { forms: true }),
    async (c) => {
      ownDevice(c.var.caller);
      const row = await loggedMessage(c, c.req.valid('json').id);
      return c.json({ id: row.id, message_status: fonnteWord(row.status), state: row.status, status: true as const });
    },
  )
  .post(
    '/delete-message',
    fonnteFailures('token invalid', { id: 'invalid message id' }),
    endpoint({
      ...post,
      summary: 'Delete a pending (queued) message before it is sent (Fonnte)',
      description: 'As Fonnte, only a message still waiting in the queue; a sent one is deleted for everyone with DELETE /api/messages/{id}.',
      responses: { 200: z.union([done('message msg_0123 successfully deleted'), failure]) },
    }),
    body(idInput, { forms: true }),
    async (c) => {
      const device = ownDevice(c.var.caller);
      const { id } = c.req.valid('json');
      const row = await loggedMessage(c, id, true);
      if (row.status !== 'queued') refuse(`cannot delete message with status ${fonnteWord(row.status)}`, `message ${id} is ${row.status}: only a pending message can be deleted`);
      const { id: hostId, stub } = hostLink(c.env, device.hostId);
      if ((await stub.cancel(hostId, row.id)) !== 'cancelled') refuse('cannot delete message with status processing', `message ${id} is being sent right now`);
      return c.json({ detail: `message ${id} successfully deleted`, status: true as const });
    },
  )
  .post(
    '/reset-message',
    fonnteFailures('token invalid', { id: 'invalid message id', schedule: 'schedule invalid', delay: 'delay invalid' }),
    endpoint({
      ...post,
      summary: 'Reschedule a pending (queued) message (Fonnte)',
      description: 'To schedule (unix seconds; absent or past: now). With byschedule, every pending message of the device due at the same time as this one, delay apart.',
      responses: { 200: z.union([z.object({ detail: z.string(), id: z.array(z.string()), status: fonnteStatus }), failure]) },
    }),
    body(resetInput, { forms: true }),
    async (c) => {
      const device = ownDevice(c.var.caller);
      const { id, schedule, delay, byschedule } = c.req.valid('json');
      const row = await loggedMessage(c, id, true);
      if (row.status !== 'queued') refuse(`cannot reschedule message with status ${fonnteWord(row.status)}`, `message ${id} is ${row.status}: only a pending message can be rescheduled`);
      const due = row.scheduledAt ? eq(messagesTable.scheduledAt, row.scheduledAt) : undefined;
      const batch =
        byschedule && due
          ? await c.var.db
              .select({ id: messagesTable.id })
              .from(messagesTable)
              .where(and(eq(messagesTable.deviceId, device.id), eq(messagesTable.status, 'queued'), due))
              .orderBy(asc(messagesTable.createdAt), asc(messagesTable.id))
          : [{ id: row.id }];
      const times = dueTimes(batch.length, Math.max(Date.now(), (schedule ?? 0) * 1000), delay);
      const { id: hostId, stub } = hostLink(c.env, device.hostId);
      const moved: string[] = [];
      for (const [i, message] of batch.entries()) if ((await stub.reschedule(hostId, message.id, times[i]!)) === 'rescheduled') moved.push(message.id);
      if (!moved.length) refuse('cannot reschedule message with status processing', `message ${id} is being sent right now`);
      return c.json({ detail: `${moved.length} message${moved.length === 1 ? '' : 's'} rescheduled`, id: moved, status: true as const });
    },
  )
  .post(
    '/typing',
    fonnteFailures('token invalid', { target: 'target invalid', duration: 'duration invalid' }),
    endpoint({
      ...post,
      summary: 'Show "typing…" in a chat (Fonnte)',
      description: `For duration seconds (at most ${MAX_TYPING_S}), or stop it now with stop.`,
      responses: { 200: z.union([ok, failure]) },
    }),
    body(typingInput, { forms: true }),
    async (c) => {
      const device = ownDevice(c.var.caller);
      const { target, countryCode, duration, stop } = c.req.valid('json');
      const chat = toRecipient(target, countryCode ?? DEFAULT_COUNTRY_CODE) ?? refuse('target invalid', `target: ${notARecipient(target)}`);
      const presence = (state: 'composing' | 'paused') => relay(c.env, device.hostId, 'chat.presence', { deviceId: device.id, to: chat.jid, state });
      if (stop) {
        await presence('paused').catch(rethrow);
        return c.json({ status: true as const });
      }
      if (!duration) refuse('duration required', 'duration: required, in seconds (or stop to end typing)');
      await presence('composing').catch(rethrow);
      const seconds = Math.min(duration, MAX_TYPING_S);
      c.executionCtx.waitUntil(
        new Promise((resolve) => setTimeout(resolve, seconds * 1000)).then(() => presence('paused')).catch((error) => console.warn(`typing stop for ${device.id} failed: ${(error as Error).message}`)),
      );
      return c.json({ status: true as const });
    },
  )
  // ── the account (admin key) endpoints ──
  .on(
    ['POST', 'GET'],
    '/get-devices',
    accountErrors,
    endpoint({
      summary: 'Every device (Fonnte, account token = admin key)',
      description: 'token is each device key masked: the gateway keeps only its hash.',
      auth: 'admin',
      failuresAsOk: true,
      responses: { 200: z.union([accountDevices, failure]) },
    }),
    async (c) => {
      const rows = await c.var.db.select().from(devicesTable).orderBy(asc(devicesTable.createdAt), asc(devicesTable.id));
      return c.json({
        connected: rows.filter(connected).length,
        data: rows.map((d) => ({
          autoread: 'off' as const,
          device: d.phoneNumber ?? '',
          expired: PLAN.expired,
          id: d.id,
          name: d.name,
          package: PLAN.package,
          quota: PLAN.quota,
          status: connected(d) ? ('connect' as const) : ('disconnect' as const),
          token: d.apiKeyMasked,
        })),
        devices: rows.length,
        messages: rows.reduce((sum, d) => sum + d.totalMessagesSent, 0),
        status: true as const,
        type: 'device' as const,
      });
    },
  )
  .post(
    '/add-device',
    accountErrors,
    endpoint({
      summary: 'Add a device (Fonnte, account token = admin key)',
      description: 'The answer holds the new device key (token) in full: the only time. Link it with /qr. autoread, personal and group are echoed, not acted on.',
      auth: 'admin',
      failuresAsOk: true,
      responses: { 200: z.union([addedDevice, failure]) },
    }),
    body(addDeviceInput, { forms: true }),
    async (c) => {
      const input = c.req.valid('json');
      const { device, apiKey } = await createDevice(c.var.db, { name: input.name });
      await keepKey(c.env, device, 'set');
      await tellHost(c.env, device, 'upsert', edgeOrigin(c.req.raw));
      return c.json({
        autoread: onOff(input.autoread),
        device: input.device,
        group: onOff(input.group),
        id: device.id,
        name: device.name,
        personal: onOff(input.personal),
        status: true as const,
        token: apiKey,
      });
    },
  )
  .post(
    '/update-device',
    deviceTokenErrors,
    endpoint({
      ...post,
      summary: "Change a device's name or webhook (Fonnte)",
      description: 'A device token changes its own device; the account (admin) key names it by device (number or device id). webhook receives every event; the other webhook URLs are accepted.',
      responses: { 200: z.union([done('device updated'), failure]) },
    }),
    body(updateDeviceInput, { forms: true }),
    async (c) => {
      const input = c.req.valid('json');
      const device = await namedDevice(c, input.device);
      const changes = deviceChangesFrom(input, device);
      const [updated] = Object.keys(changes).length ? await c.var.db.update(devicesTable).set(changes).where(eq(devicesTable.id, device.id)).returning() : [device];
      await tellHost(c.env, updated!, 'upsert', edgeOrigin(c.req.raw));
      return c.json({ detail: 'device updated', status: true as const });
    },
  )
  .post(
    '/delete-device',
    deviceTokenErrors,
    endpoint({
      ...post,
      summary: 'Delete a device and its message log (Fonnte)',
      description: 'The gateway sends no OTP: the account (admin) key deletes the device it names (device: number or device id) at once; a device token is refused.',
      responses: { 200: z.union([done('device 628123456789 successfully deleted'), failure]) },
    }),
    body(deviceRef, { forms: true }),
    async (c) => {
      if (!c.var.caller.admin) refuse("otp haven't requested", 'the gateway sends no OTP: delete the device with the account (admin) key, naming it by device');
      const { db } = c.var;
      const device = await namedDevice(c, c.req.valid('json').device);
      await db.batch([db.delete(messagesTable).where(eq(messagesTable.deviceId, device.id)), db.delete(devicesTable).where(eq(devicesTable.id, device.id))]);
      await keepKey(c.env, device, 'forget');
      await tellHost(c.env, device, 'delete');
      return c.json({ detail: `device ${device.phoneNumber ?? device.id} successfully deleted`, status: true as const });
    },
  );
