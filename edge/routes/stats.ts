// Activity per day: how many messages each device sent (the message log's sentAt) and received
// (the inbox, so as far back as INBOX_RETENTION_DAYS keeps it), for the last `days` days, in the
// caller's time zone. Two grouped queries, each on an index that starts with the device and time.
import { and, gte, inArray, isNotNull, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { endpoint, query } from '../api/openapi.ts';
import { deviceFor } from '../auth.ts';
import { devicesTable, inboxMessagesTable, messagesTable } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';

const dailyQuery = z.object({
  deviceId: z.string().optional().meta({ description: "One device; the admin key without it gets every device's" }),
  days: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be 1 to 90').max(90, 'must be 1 to 90').default(30),
  utcOffset: z.coerce
    .number({ error: 'must be a number of minutes' })
    .int('must be a whole number of minutes')
    .min(-720, 'must be -720 to 840 minutes')
    .max(840, 'must be -720 to 840 minutes')
    .default(0)
    .meta({ description: 'Minutes east of UTC where the days begin (the dashboard sends its own); 0: UTC days' }),
});

const day = z.object({ date: z.string().meta({ examples: ['2026-11-30'] }), sent: z.number().int(), received: z.number().int() });
const daily = z.object({
  from: z.string().meta({ description: 'The first day (YYYY-MM-DD), in the asked time zone' }),
  devices: z.array(z.object({ deviceId: z.string(), name: z.string(), days: z.array(day).meta({ description: 'Every day from `from` to today, oldest first, zeros included' }) })),
});

/** YYYY-MM-DD of unix ms, in the zone `offsetMin` minutes east of UTC. */
const dateOf = (ms: number, offsetMin: number) => new Date(ms + offsetMin * 60_000).toISOString().slice(0, 10);

export const stats = new Hono<AppEnv>().get('/daily', endpoint({ summary: 'Messages sent and received per day, per device', auth: 'device', responses: { 200: daily } }), query(dailyQuery), async (c) => {
  const { deviceId, days, utcOffset } = c.req.valid('query');
  const { db } = c.var;
  const caller = c.var.caller;
  const devices =
    caller.admin && !deviceId
      ? await db.select({ id: devicesTable.id, name: devicesTable.name }).from(devicesTable).orderBy(devicesTable.createdAt)
      : [await deviceFor(db, caller, deviceId)].map((d) => ({ id: d.id, name: d.name }));
  const ids = devices.map((d) => d.id);
  // From the first day's local midnight; today is the last.
  const now = Date.now();
  const today = dateOf(now, utcOffset);
  const since = Date.parse(`${today}T00:00:00Z`) - (days - 1) * 86_400_000 - utcOffset * 60_000;
  const local = (column: typeof messagesTable.sentAt | typeof inboxMessagesTable.timestamp) => sql<string>`strftime('%Y-%m-%d', (${column} / 1000) + ${utcOffset * 60}, 'unixepoch')`;
  const [sent, received] = ids.length
    ? await Promise.all([
        db
          .select({ deviceId: messagesTable.deviceId, date: local(messagesTable.sentAt), count: sql<number>`count(*)` })
          .from(messagesTable)
          // createdAt bounds the index range: a message is sent after it is created.
          .where(and(inArray(messagesTable.deviceId, ids), gte(messagesTable.createdAt, new Date(since - 86_400_000)), isNotNull(messagesTable.sentAt), gte(messagesTable.sentAt, new Date(since))))
          .groupBy(messagesTable.deviceId, local(messagesTable.sentAt)),
        db
          .select({ deviceId: inboxMessagesTable.deviceId, date: local(inboxMessagesTable.timestamp), count: sql<number>`count(*)` })
          .from(inboxMessagesTable)
          .where(and(inArray(inboxMessagesTable.deviceId, ids), gte(inboxMessagesTable.timestamp, new Date(since))))
          .groupBy(inboxMessagesTable.deviceId, local(inboxMessagesTable.timestamp)),
      ])
    : [[], []];
  const key = (deviceId: string, date: string) => `${deviceId} ${date}`;
  const sentOn = new Map(sent.map((r) => [key(r.deviceId, r.date), r.count]));
  const receivedOn = new Map(received.map((r) => [key(r.deviceId, r.date), r.count]));
  const dates = Array.from({ length: days }, (_, i) => dateOf(since + utcOffset * 60_000 + i * 86_400_000, 0));
  return c.json({
    from: dates[0]!,
    devices: devices.map((d) => ({
      deviceId: d.id,
      name: d.name,
      days: dates.map((date) => ({ date, sent: sentOn.get(key(d.id, date)) ?? 0, received: receivedOn.get(key(d.id, date)) ?? 0 })),
    })),
  });
});
