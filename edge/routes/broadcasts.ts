// Broadcasts: one message to every contact of a group (or to a list of numbers), each copy
// personalised and sent through the device's outbox, so schedule, delay and the device's pacing
// apply as to any queued send. Progress is counted from the message log, where every copy is a
// row carrying the broadcast's id: nothing is counted twice or kept in step by hand.
import { and, asc, count, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { httpUrl } from '../api/devices.ts';
import { body, dateTime, endpoint, query } from '../api/openapi.ts';
import { notARecipient, toRecipient, type Recipient } from '../api/phone.ts';
import { dispatch, type Media, mediaTypeOf, mediaTypes, type Outgoing, targetOf } from '../api/send.ts';
import type { Caller } from '../auth.ts';
import { randomHex } from '../crypto.ts';
import { broadcastsTable, contactGroupsTable, contactsTable, devicesTable, messagesTable, type Broadcast } from '../db/schema.ts';
import type { AppEnv, DB } from '../env.ts';
import { hostLink } from '../link/relay.ts';
import { settled } from './messages.ts';
import { delayRange, dueTimes, fillVariables } from './send.ts';

/** Recipients of one broadcast at most. */
export const MAX_RECIPIENTS = 10_000;
// Every copy carries its own text into the outbox: bounded in all, and handed over in chunks.
const MAX_TEXT_CHARS = 20_000_000;
const CHUNK_ITEMS = 1_000;
const CHUNK_CHARS = 2_000_000;

/** ISO time, or unix time in seconds or milliseconds (a number or digits), as unix ms. */
const when = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const text = String(value).trim();
  // Below 10^11 it is seconds (until the year 5138), above it milliseconds.
  if (/^\d{1,13}$/.test(text)) return Number(text) < 1e11 ? Number(text) * 1000 : Number(text);
  const ms = /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isFinite(ms)) return ms;
  ctx.addIssue({ code: 'custom', message: 'must be an ISO time like 2026-12-24T09:00:00Z, or a unix time in seconds or milliseconds' });
  return z.NEVER;
});

const numbersField = z.union([z.array(z.string()), z.string()]).transform((value) => (Array.isArray(value) ? value : value.split(/[,\n]/)).map((s) => s.trim()).filter(Boolean));

export const newBroadcast = z
  .object({
    deviceId: z.string().optional().meta({ description: 'The sending device: required with the admin key; a device key sends from its own' }),
    groupId: z.string().min(1, 'must not be empty').optional().meta({ description: 'A contact group: every contact in it gets the message (give this or numbers)' }),
    numbers: numbersField.optional().meta({
      description: `Instead of groupId: the recipients, an array or a comma- or line-separated string (at most ${MAX_RECIPIENTS}); "number|name|var1|…" fills {name}, {var1}…`,
      examples: [['628123456789|Budi', '08123456780']],
    }),
    message: z
      .string()
      .max(65_536)
      .optional()
      .meta({ description: 'The text ({name} is filled with the contact’s name); the caption when media has none', examples: ['Halo {name}, promo hari ini!'] }),
    media: z
      .object({
        url: httpUrl,
        type: z.enum(mediaTypes).optional().meta({ description: 'Default: by the URL’s extension (image, video, audio, else document)' }),
        caption: z.string().max(65_536).optional().meta({ description: 'Shown under the media ({name} filled); default: message' }),
      })
      .optional(),
    countryCode: z
      .string()
      .regex(/^\d{1,4}$/, 'must be 1-4 digits, like 62')
      .optional()
      .meta({ description: 'For numbers: replaces a leading 0 (default 62)' }),
    schedule: when.optional().meta({ description: 'When the first message goes: ISO time or unix time (seconds or ms); absent or past: now' }),
    delay: delayRange.optional().meta({ description: 'Seconds between two recipients: "5", or a random pick from a range like "1-10" (the device’s pacing applies as well)', examples: ['5'] }),
  })
  .superRefine((input, ctx) => {
    if (input.groupId === undefined && input.numbers === undefined) ctx.addIssue({ code: 'custom', path: ['groupId'], message: 'required (a contact group), or numbers' });
    if (input.groupId !== undefined && input.numbers !== undefined) ctx.addIssue({ code: 'custom', path: ['numbers'], message: 'give groupId or numbers, not both' });
    if (!input.message && !input.media) ctx.addIssue({ code: 'custom', path: ['message'], message: 'required (or media)' });
  });
type NewBroadcast = z.output<typeof newBroadcast>;

/** A recipient with the values its placeholders are filled with. */
type Addressee = Recipient & { vars: Record<string, string> };

/** Who gets a broadcast, in order, each number once (the first mention's name wins); a 400 naming the field if none or too many. */
async function addresseesOf(db: DB, input: NewBroadcast): Promise<Addressee[]> {
  const found: Addressee[] = [];
  if (input.groupId !== undefined) {
    const [group] = await db.select({ id: contactGroupsTable.id }).from(contactGroupsTable).where(eq(contactGroupsTable.id, input.groupId));
    if (!group) throw new HTTPException(400, { message: `groupId: no contact group with id ${JSON.stringify(input.groupId)}` });
    const contacts = await db
      .select({ name: contactsTable.name, number: contactsTable.number })
      .from(contactsTable)
      .where(eq(contactsTable.groupId, input.groupId))
      .orderBy(asc(contactsTable.name), asc(contactsTable.id));
    for (const contact of contacts) {
      const recipient = toRecipient(contact.number, '0');
      if (recipient) found.push({ ...recipient, vars: { name: contact.name } });
    }
    if (!found.length) throw new HTTPException(400, { message: 'groupId: the group has no contacts' });
  } else {
    const bad: string[] = [];
    for (const entry of input.numbers!) {
      // Fonnte's per-target variables, as /send takes them: "08123|Budi|VIP" fills {name} and {var1}.
      const [number = '', name, ...rest] = entry.split('|').map((s) => s.trim());
      const recipient = toRecipient(number, input.countryCode);
      if (!recipient) {
        bad.push(number);
        continue;
      }
      const vars: Record<string, string> = {};
      if (name) vars.name = name;
      for (const [i, value] of rest.entries()) vars[`var${i + 1}`] = value;
      found.push({ ...recipient, vars });
    }
    if (bad.length) throw new HTTPException(400, { message: `numbers: ${notARecipient(bad[0]!)}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}` });
    if (!found.length) throw new HTTPException(400, { message: 'numbers: must list at least one recipient' });
  }
  const seen = new Set<string>();
  const once = found.filter((a) => !seen.has(a.number) && seen.add(a.number));
  const field = input.groupId !== undefined ? 'groupId' : 'numbers';
  if (once.length > MAX_RECIPIENTS) throw new HTTPException(400, { message: `${field}: at most ${MAX_RECIPIENTS} recipients per broadcast, got ${once.length}` });
  return once;
}

/** Every recipient's personalised copy, due in turn from `start`, `delay` apart. */
function copiesOf(input: NewBroadcast, addressees: Addressee[], broadcastId: string, start: number): Outgoing[] {
  const media: Media | undefined = input.media && { type: input.media.type ?? mediaTypeOf(input.media.url), url: input.media.url };
  const text = input.media?.caption ?? input.message;
  const due = dueTimes(addressees.length, start, input.delay);
  return addressees.map((to, i) => ({ to, text: fillVariables(text, to.vars) || undefined, media, dueAt: due[i], broadcastId }));
}

/** Copies in chunks small enough for one call into the HostLink each. */
function chunksOf(copies: Outgoing[]): Outgoing[][] {
  const chunks: Outgoing[][] = [];
  let chunk: Outgoing[] = [];
  let chars = 0;
  for (const copy of copies) {
    const size = copy.text?.length ?? 0;
    if (chunk.length === CHUNK_ITEMS || (chunk.length && chars + size > CHUNK_CHARS)) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(copy);
    chars += size;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

let lastMs = 0;
/** Ids sort in creation order, so the list pages newest first by id alone. */
function newBroadcastId(): string {
  lastMs = Math.max(Date.now(), lastMs + 1);
  return `bc_${lastMs.toString(36).padStart(9, '0')}${randomHex(4)}`;
}

export const broadcastStatuses = ['queued', 'sending', 'done', 'cancelled'] as const;
const counted = z.number().int();
export const broadcastCounts = z
  .object({
    queued: counted.meta({ description: 'Waiting in the outbox (for their time, the pacing, or the device)' }),
    sent: counted.meta({ description: 'Left the device: sent, delivered or read now' }),
    delivered: counted.meta({ description: 'Reached the phone: delivered or read now' }),
    read: counted.meta({ description: 'Read' }),
    failed: counted.meta({ description: 'Failed (not cancelled)' }),
    cancelled: counted.meta({ description: 'Cancelled before they went' }),
  })
  .meta({ description: 'Each recipient counts once in queued, sent, failed or cancelled (these add up to total); delivered and read are the part of sent that got that far' });
type Counts = z.infer<typeof broadcastCounts>;

export const broadcastView = z.object({
  id: z.string().meta({ examples: ['bc_0mhx3k2a9f1e2d3c4'] }),
  deviceId: z.string(),
  groupId: z.string().nullable().meta({ description: 'The contact group it went to; null for a list of numbers' }),
  message: z.string().meta({ description: 'As written, placeholders unfilled' }),
  media: z.object({ url: z.string(), type: z.string() }).nullable(),
  total: counted.meta({ description: 'Recipients' }),
  delay: z.string().nullable().meta({ description: 'Seconds between recipients as given ("5", "1-10"); null: the device’s pacing only' }),
  status: z.enum(broadcastStatuses).meta({ description: 'queued: none went yet; sending: some wait; done: none waits; cancelled: the rest was cancelled' }),
  counts: broadcastCounts,
  scheduledAt: dateTime.nullable().meta({ description: 'When the first message is due; null: at once' }),
  cancelledAt: dateTime.nullable(),
  createdAt: dateTime,
});

const noCounts = (): Counts => ({ queued: 0, sent: 0, delivered: 0, read: 0, failed: 0, cancelled: 0 });

/** The counts of each broadcast, from its log rows: one grouped query on the broadcast index. */
async function countsOf(db: DB, broadcasts: Broadcast[]): Promise<Map<string, Counts>> {
  const all = new Map(broadcasts.map((b) => [b.id, noCounts()]));
  if (!broadcasts.length) return all;
  const cancelled = sql<number>`${messagesTable.error} = 'cancelled'`;
  const rows = await db
    .select({ id: messagesTable.broadcastId, status: messagesTable.status, cancelled, n: count() })
    .from(messagesTable)
    .where(inArray(messagesTable.broadcastId, [...all.keys()]))
    .groupBy(messagesTable.broadcastId, messagesTable.status, cancelled);
  for (const row of rows) {
    const counts = all.get(row.id!)!;
    if (row.status === 'queued') counts.queued += row.n;
    else if (row.status === 'failed') counts[row.cancelled ? 'cancelled' : 'failed'] += row.n;
    else {
      counts.sent += row.n;
      if (row.status !== 'sent') counts.delivered += row.n;
      if (row.status === 'read') counts.read += row.n;
    }
  }
  // Rows not copied into D1 yet are still waiting.
  for (const b of broadcasts) {
    const counts = all.get(b.id)!;
    counts.queued += Math.max(0, b.total - counts.queued - counts.sent - counts.failed - counts.cancelled);
  }
  return all;
}

function viewOf(b: Broadcast, counts: Counts): z.infer<typeof broadcastView> {
  const status = b.cancelledAt ? 'cancelled' : counts.queued === 0 ? 'done' : counts.queued === b.total ? 'queued' : 'sending';
  return {
    id: b.id,
    deviceId: b.deviceId,
    groupId: b.groupId,
    message: b.message,
    media: b.mediaUrl ? { url: b.mediaUrl, type: b.mediaType ?? 'document' } : null,
    total: b.total,
    delay: b.delay,
    status,
    counts,
    scheduledAt: b.scheduledAt?.toISOString() ?? null,
    cancelledAt: b.cancelledAt?.toISOString() ?? null,
    createdAt: b.createdAt.toISOString(),
  };
}

/** A broadcast the caller may see (a device key: its own device's), as of every send answered so far; else a 404. */
async function broadcastFor(db: DB, env: Env, caller: Caller, id: string): Promise<Broadcast> {
  const own = caller.admin ? undefined : eq(broadcastsTable.deviceId, caller.device.id);
  const [row] = await db
    .select()
    .from(broadcastsTable)
    .where(and(eq(broadcastsTable.id, id), own));
  if (!row) throw new HTTPException(404, { message: `Broadcast not found: ${id}` });
  const [device] = await db.select({ hostId: devicesTable.hostId }).from(devicesTable).where(eq(devicesTable.id, row.deviceId));
  const { id: hostId, stub } = hostLink(env, device?.hostId ?? null);
  await stub.settleLog(hostId);
  return row;
}

export const broadcastQuery = z.object({
  deviceId: z.string().optional().meta({ description: "Only this device's broadcasts (a device key sees only its own anyway)" }),
  // D1 binds at most 100 values: the page's ids are counted in one query.
  limit: z.coerce.number().int().min(1).max(50).default(20),
  cursor: z.string().optional().meta({ description: 'nextCursor from the previous page' }),
});

const delayText = (delay: { min: number; max: number } | undefined) => (delay ? (delay.min === delay.max ? `${delay.min}` : `${delay.min}-${delay.max}`) : null);

export const broadcasts = new Hono<AppEnv>()
  .post(
    '/',
    endpoint({
      summary: 'Broadcast a message to a contact group or a list of numbers',
      description:
        'Every recipient gets its own copy, {name} (and {var1}… for numbers given as "number|name|var1") filled in, queued in the device’s outbox: never sent while the request waits. ' +
        'The copies go in turn, `delay` apart if given, and never faster than the device’s pacing (sendIntervalMs, sendJitterMs). Each is a row of the message log; GET /api/broadcasts/{id} counts them. ' +
        'A number listed twice (or two contacts with one number) gets it once.',
      auth: 'sender',
      responses: { 201: broadcastView },
      errors: { 404: 'No such device (admin key with deviceId)' },
    }),
    body(newBroadcast),
    async (c) => {
      const input = c.req.valid('json');
      const { db } = c.var;
      const ctx = { db, env: c.env, sender: c.var.sender, request: c.req.raw };
      const { device } = await targetOf(ctx, input.deviceId);
      const addressees = await addresseesOf(db, input);
      const now = Date.now();
      const scheduled = input.schedule !== undefined && input.schedule > now ? input.schedule : undefined;
      const id = newBroadcastId();
      const copies = copiesOf(input, addressees, id, scheduled ?? now);
      const chars = copies.reduce((n, copy) => n + (copy.text?.length ?? 0), 0);
      if (chars > MAX_TEXT_CHARS) throw new HTTPException(400, { message: `message: at most ${MAX_TEXT_CHARS} characters for all recipients together, got ${chars}: send a shorter text` });

      const [created] = await db
        .insert(broadcastsTable)
        .values({
          id,
          deviceId: device.id,
          groupId: input.groupId ?? null,
          message: input.media?.caption ?? input.message ?? '',
          mediaUrl: input.media?.url ?? null,
          mediaType: copies[0]!.media?.type ?? null,
          total: copies.length,
          scheduledAt: scheduled ? new Date(scheduled) : null,
          delay: delayText(input.delay),
        })
        .returning();
      let handedOver = 0;
      try {
        for (const chunk of chunksOf(copies)) {
          await dispatch(ctx, device.id, 'queue', chunk);
          handedOver++;
        }
      } catch (error) {
        // Nothing queued: no broadcast either. Some queued: it stays, to be followed and cancelled.
        if (!handedOver) await db.delete(broadcastsTable).where(eq(broadcastsTable.id, id));
        throw error;
      }
      const counts = { ...noCounts(), queued: copies.length };
      return c.json(viewOf(created!, counts), 201);
    },
  )
  .get(
    '/',
    endpoint({
      summary: 'List broadcasts, newest first, with their progress',
      auth: 'device',
      responses: { 200: z.object({ broadcasts: z.array(broadcastView), nextCursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null on the last' }) }) },
      errors: { 403: 'A device key asking for another device' },
    }),
    query(broadcastQuery),
    async (c) => {
      const { deviceId, limit, cursor } = c.req.valid('query');
      const { db, caller } = c.var;
      if (!caller.admin && deviceId !== undefined && deviceId !== caller.device.id) throw new HTTPException(403, { message: 'Forbidden: this API key belongs to another device' });
      const device = caller.admin ? deviceId : caller.device.id;
      await settled(db, c.env, caller);
      const rows = await db
        .select()
        .from(broadcastsTable)
        .where(and(device ? eq(broadcastsTable.deviceId, device) : undefined, cursor ? lt(broadcastsTable.id, cursor) : undefined))
        .orderBy(desc(broadcastsTable.id))
        .limit(limit + 1);
      const shown = rows.slice(0, limit);
      const counts = await countsOf(db, shown);
      return c.json({ broadcasts: shown.map((b) => viewOf(b, counts.get(b.id)!)), nextCursor: rows.length > limit ? shown.at(-1)!.id : null });
    },
  )
  .get(
    '/:id',
    endpoint({
      summary: 'A broadcast’s progress: how many of its messages wait, went, arrived, were read, failed or were cancelled',
      auth: 'device',
      responses: { 200: broadcastView },
      errors: { 404: 'No such broadcast (or not this device’s)' },
    }),
    async (c) => {
      const row = await broadcastFor(c.var.db, c.env, c.var.caller, c.req.param('id'));
      return c.json(viewOf(row, (await countsOf(c.var.db, [row])).get(row.id)!));
    },
  )
  .delete(
    '/:id',
    endpoint({
      summary: 'Cancel a broadcast: every message of it not sent yet is taken out of the outbox (logged as failed: cancelled); what went out stays',
      auth: 'device',
      responses: { 200: broadcastView.extend({ cancelled: counted.meta({ description: 'Messages this call cancelled' }) }) },
      errors: { 404: 'No such broadcast (or not this device’s)' },
    }),
    async (c) => {
      const { db } = c.var;
      const row = await broadcastFor(db, c.env, c.var.caller, c.req.param('id'));
      const waiting = await db
        .select({ id: messagesTable.id })
        .from(messagesTable)
        .where(and(eq(messagesTable.broadcastId, row.id), eq(messagesTable.status, 'queued')));
      let cancelled = 0;
      if (waiting.length) {
        const [device] = await db.select({ hostId: devicesTable.hostId }).from(devicesTable).where(eq(devicesTable.id, row.deviceId));
        const { id: hostId, stub } = hostLink(c.env, device?.hostId ?? null);
        ({ cancelled } = await stub.cancelMany(
          hostId,
          waiting.map((m) => m.id),
        ));
      }
      // Nothing was waiting (it is done): nothing to cancel, and it stays done.
      const [marked] = row.cancelledAt || !waiting.length ? [row] : await db.update(broadcastsTable).set({ cancelledAt: new Date() }).where(eq(broadcastsTable.id, row.id)).returning();
      const view = viewOf(marked!, (await countsOf(db, [marked!])).get(row.id)!);
      return c.json({ ...view, cancelled });
    },
  );
