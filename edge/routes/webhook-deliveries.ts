// Webhook deliveries of one device (device key for its own device, or the admin key): what its
// session host sent to the webhook URLs lately, with status codes and attempts, and retry now.
import { Hono } from 'hono';
import { z } from 'zod';
import { webhookDeliveryFilter, type WebhookDelivery } from '../../session-host/link/protocol.ts';
import { dateTime, endpoint, query } from '../api/openapi.ts';
import { deviceFor } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { relay } from '../link/relay.ts';
import { liveErrors, rethrow } from './chats.ts';

const MAX_DELIVERIES = 200;

const delivery = z.object({
  id: z.string().meta({ description: 'The delivery id, sent as X-Webhook-Id on every attempt', examples: ['3f6c9a2e-5b1d-4c8e-9f0a-7d2b4e6c8a1f'] }),
  event: z.string().meta({ examples: ['message', 'status', 'connection', 'group'] }),
  url: z
    .string()
    .nullable()
    .meta({ description: 'Where the last attempt went, without credentials or query values', examples: ['https://example.com/hook?…'] }),
  status: z.enum(['pending', 'failed', 'delivered', 'dropped']).meta({
    description: 'pending: not tried yet; failed: the last attempt failed (nextAttemptAt says when the next one is due; null: given up); delivered; dropped: the device has no webhook URL for it any more',
  }),
  statusCode: z
    .number()
    .int()
    .nullable()
    .meta({ description: "The receiver's HTTP status at the last attempt; null when there was none (not tried, or no answer: see error)", examples: [500] }),
  error: z
    .string()
    .nullable()
    .meta({ description: 'Why the last attempt failed', examples: ['webhook URL https://example.com/hook answered HTTP 500: receiver broke'] }),
  attempts: z.number().int(),
  createdAt: dateTime,
  lastAttemptAt: dateTime.nullable(),
  nextAttemptAt: dateTime.nullable(),
  deliveredAt: dateTime.nullable(),
  messageId: z.string().nullable().meta({ description: 'The id in the body (the message or the send it is about)' }),
  retryable: z.boolean().meta({ description: 'Whether POST …/retry acts on it: pending and failed ones (one given up is queued again, once)' }),
});

const listQuery = z.object({
  limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1).max(MAX_DELIVERIES, `at most ${MAX_DELIVERIES}`).optional().meta({ description: 'How many, newest first (50)' }),
  status: webhookDeliveryFilter.optional().meta({ description: 'Only deliveries in this state' }),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const shown = (d: WebhookDelivery) => ({ ...d, createdAt: iso(d.createdAt)!, lastAttemptAt: iso(d.lastAttemptAt), nextAttemptAt: iso(d.nextAttemptAt), deliveredAt: iso(d.deliveredAt) });

export const webhookDeliveries = new Hono<AppEnv>()
  .get(
    '/:deviceId/webhooks',
    endpoint({
      summary: "The device's recent webhook deliveries, newest first",
      description: `Queued ones and up to ${MAX_DELIVERIES} finished ones per device (kept for the session host's RETENTION_DAYS): event, the receiver's status code, attempts, the next retry.`,
      auth: 'device',
      responses: { 200: z.object({ deliveries: z.array(delivery) }) },
      errors: { ...liveErrors, 503: 'Session host is offline' },
    }),
    query(listQuery),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { limit, status } = c.req.valid('query');
      const { deliveries } = await relay(c.env, device.hostId, 'webhooks.deliveries', { deviceId: device.id, limit, status }).catch(rethrow);
      return c.json({ deliveries: deliveries.map(shown) });
    },
  )
  .post(
    '/:deviceId/webhooks/:deliveryId/retry',
    endpoint({
      summary: 'Retry a webhook delivery now',
      description:
        "Its next attempt is due at once, without waiting for the backoff (a device's webhooks go in order, so those queued before it go first). One given up after 24 hours is queued again, once. Answers 202 with the delivery's state; list the deliveries to see the outcome.",
      auth: 'device',
      responses: { 202: delivery },
      errors: { ...liveErrors, 400: 'The delivery was delivered or dropped, or was already queued again once', 404: 'No such device or delivery', 503: 'Session host is offline' },
    }),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const id = c.req.param('deliveryId');
      const state = await relay(c.env, device.hostId, 'webhooks.retry', { deviceId: device.id, id }).catch(rethrow);
      return c.json(shown(state), 202);
    },
  );
