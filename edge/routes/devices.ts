// Devices (admin API), and the live WhatsApp groups of one device (seed route, device key too).
import { asc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import {
  adminDevice,
  adminView,
  connectionWebhookUrl,
  createDevice,
  deleteDevice,
  edgeOrigin,
  findDevice,
  keepKey,
  keyedDevice,
  regenerateKey,
  settingsOf,
  statusWebhookUrl,
  tellHost,
  webhookUrl,
} from '../api/devices.ts';
import { body, endpoint } from '../api/openapi.ts';
import { phoneField } from '../api/phone.ts';
import { deviceFor } from '../auth.ts';
import { devicesTable } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';
import { asRelayError, relayFailure } from '../errors.ts';
import { relay } from '../link/relay.ts';

const name = z.string().trim().min(1, 'must not be empty').max(100);

export const newDevice = z.object({
  name,
  webhookUrl: webhookUrl.optional(),
  statusWebhookUrl: statusWebhookUrl.optional(),
  connectionWebhookUrl: connectionWebhookUrl.optional(),
  hostId: z.string().nullable().optional().meta({ description: 'A registered session host; absent or null for the default host' }),
});
const pacingMs = z.number({ error: 'must be milliseconds' }).int('must be whole milliseconds').min(0).max(3_600_000);
export const deviceChanges = z.object({
  name: name.optional(),
  webhookUrl: webhookUrl.optional(),
  statusWebhookUrl: statusWebhookUrl.optional(),
  connectionWebhookUrl: connectionWebhookUrl.optional(),
  sendIntervalMs: pacingMs.optional().meta({ description: 'Pacing of queued sends: the least time between two messages (0: none)' }),
  sendJitterMs: pacingMs.optional().meta({ description: 'Pacing of queued sends: up to this much more between two messages, at random' }),
});
export const pairingRequest = z.object({ phone: phoneField });

const deleted = z.object({ success: z.literal(true), id: z.string() });
const hostErrors = { 404: 'No such device', 503: 'Session host is offline', 504: 'Session host did not answer in time' };
const SESSION_NOT_ACTIVE = 'Device is not connected or session not active';

/** For `.catch()` on a relay: its failure as the error the client gets. */
const rethrow = (error: unknown): never => {
  throw relayFailure(error);
};

export const devices = new Hono<AppEnv>()
  .get('/', endpoint({ summary: 'List devices', auth: 'admin', responses: { 200: z.object({ devices: z.array(adminDevice) }) } }), async (c) => {
    const rows = await c.var.db.select().from(devicesTable).orderBy(asc(devicesTable.createdAt), asc(devicesTable.id));
    return c.json({ devices: rows.map((d) => adminView(d)) });
  })
  .post(
    '/',
    endpoint({ summary: 'Create a device', description: 'The answer holds its API key in full: the only time besides regeneration.', auth: 'admin', responses: { 201: keyedDevice } }),
    body(newDevice),
    async (c) => {
      const { device, apiKey } = await createDevice(c.var.db, c.req.valid('json'));
      await keepKey(c.env, device, 'set');
      await tellHost(c.env, device, 'upsert', edgeOrigin(c.req.raw));
      return c.json({ ...adminView(device), apiKey }, 201);
    },
  )
  .get('/:id', endpoint({ summary: 'Get a device', auth: 'admin', responses: { 200: adminDevice }, errors: { 404: 'No such device' } }), async (c) =>
    c.json(adminView(await findDevice(c.var.db, c.req.param('id')))),
  )
  .patch('/:id', endpoint({ summary: "Change a device's name, webhook URLs or pacing", auth: 'admin', responses: { 200: adminDevice }, errors: { 404: 'No such device' } }), body(deviceChanges), async (c) => {
    const id = c.req.param('id');
    const changes = c.req.valid('json');
    const [device] = Object.keys(changes).length ? await c.var.db.update(devicesTable).set(changes).where(eq(devicesTable.id, id)).returning() : [await findDevice(c.var.db, id)];
    if (!device) throw new HTTPException(404, { message: `Device not found: ${id}` });
    await tellHost(c.env, device, 'upsert', edgeOrigin(c.req.raw));
    return c.json(adminView(device));
  })
  .delete(
    '/:id',
    endpoint({
      summary: 'Delete a device and its message log',
      description: 'Its session host logs it out of WhatsApp, if reachable.',
      auth: 'admin',
      responses: { 200: deleted },
      errors: { 404: 'No such device' },
    }),
    async (c) => {
      const device = await findDevice(c.var.db, c.req.param('id'));
      await deleteDevice(c.env, c.var.db, device);
      return c.json({ success: true as const, id: device.id });
    },
  )
  .post(
    '/:id/token',
    endpoint({ summary: "Regenerate a device's API key", description: 'The old key stops working at once.', auth: 'admin', responses: { 200: keyedDevice }, errors: { 404: 'No such device' } }),
    async (c) => {
      const { device, apiKey } = await regenerateKey(c.var.db, c.req.param('id'));
      await keepKey(c.env, device, 'set');
      return c.json({ ...adminView(device), apiKey });
    },
  )
  .post(
    '/:id/connect',
    endpoint({
      summary: 'Start the WhatsApp session',
      description: 'Answers once the device is connected or shows a QR code to scan (status QR, qr set).',
      auth: 'admin',
      responses: { 200: adminDevice },
      errors: hostErrors,
    }),
    async (c) => {
      const device = await findDevice(c.var.db, c.req.param('id'));
      // Settings first: a host that just came up may not have had them pushed yet.
      await relay(c.env, device.hostId, 'device.upsert', settingsOf(device, edgeOrigin(c.req.raw))).catch(rethrow);
      const state = await relay(c.env, device.hostId, 'device.connect', { id: device.id }).catch(rethrow);
      return c.json(adminView(device, state));
    },
  )
  .post('/:id/disconnect', endpoint({ summary: 'Close the WhatsApp session, staying logged in', auth: 'admin', responses: { 200: adminDevice }, errors: hostErrors }), async (c) => {
    const device = await findDevice(c.var.db, c.req.param('id'));
    const state = await relay(c.env, device.hostId, 'device.disconnect', { id: device.id }).catch(rethrow);
    return c.json(adminView(device, state));
  })
  .post(
    '/:id/logout',
    endpoint({ summary: 'Log the device out of WhatsApp', description: 'Connecting again needs a new QR scan.', auth: 'admin', responses: { 200: adminDevice }, errors: hostErrors }),
    async (c) => {
      const device = await findDevice(c.var.db, c.req.param('id'));
      const state = await relay(c.env, device.hostId, 'device.logout', { id: device.id }).catch(rethrow);
      return c.json(adminView(device, state));
    },
  )
  .post(
    '/:id/pairing-code',
    endpoint({
      summary: 'Link by pairing code instead of QR',
      description: "The code is typed on the phone (WhatsApp › Linked devices › Link with phone number); phone is that phone's number.",
      auth: 'admin',
      responses: { 200: z.object({ code: z.string().meta({ examples: ['ABCD-EFGH'] }) }) },
      errors: { ...hostErrors, 400: 'Invalid phone, or the device is already linked' },
    }),
    body(pairingRequest),
    async (c) => {
      const device = await findDevice(c.var.db, c.req.param('id'));
      const { phone } = c.req.valid('json');
      await relay(c.env, device.hostId, 'device.upsert', settingsOf(device, edgeOrigin(c.req.raw))).catch(rethrow);
      // The host first waits for WhatsApp's handshake, up to 20 s.
      const { code } = await relay(c.env, device.hostId, 'device.pairingCode', { id: device.id, phone }, 30_000).catch(rethrow);
      return c.json({ code });
    },
  )
  .get(
    '/:deviceId/wa-groups',
    endpoint({
      summary: 'The WhatsApp groups the device is in, live from its session',
      auth: 'device',
      responses: { 200: z.object({ success: z.literal(true), groups: z.array(z.object({ id: z.string().meta({ examples: ['1203630234567890@g.us'] }), name: z.string() })) }) },
      errors: { 403: 'A device key asking for another device', 404: 'No such device', 503: SESSION_NOT_ACTIVE },
    }),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { groups } = await relay(c.env, device.hostId, 'groups.list', { deviceId: device.id }).catch((error) => {
        const failure = asRelayError(error);
        // The seed answers every "no live session" case alike.
        if (['not_connected', 'host_offline', 'timeout', 'not_found'].includes(failure.code)) throw new HTTPException(503, { message: SESSION_NOT_ACTIVE });
        throw relayFailure(failure);
      });
      return c.json({ success: true as const, groups });
    },
  );
