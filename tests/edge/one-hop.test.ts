// The send path in one hop: once a key has been seen, a send is one call into its host's
// HostLink and no D1 call; the HostLink checks the key, so a regenerated or deleted key is refused
// at once however warm a Worker's cache is; and the message log reaches D1 just after the answer,
// in time for a client that reads it back at once.
import { runInDurableObject } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { hashKey } from '../../edge/auth.ts';
import { devicesTable, messagesTable } from '../../edge/db/schema.ts';
import { DEFAULT_HOST_ID, type HostLink } from '../../edge/link/host-link.ts';
import { ADMIN_KEY, admin, call, newDevice, until } from './client.ts';
import { fakeHost, HostFailure } from './fake-host.ts';

const db = drizzle(env.DB);

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

let sent = 0;
const sendingHost = () =>
  fakeHost({
    'message.send': async (p) => ({ id: `3EB0HOP${++sent}`, timestamp: 1779348348, to: p.to }),
    'host.status': () => ({ publicUrl: null, devices: [] }),
  });

/** A request as a client makes it, with what its Server-Timing says. */
async function timed(path: string, key: string, body: Record<string, unknown>) {
  const res = await exports.default.fetch(`http://gateway.test${path}`, {
    method: 'POST',
    headers: { authorization: key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const header = res.headers.get('server-timing') ?? '';
  const calls = (name: string) => Number(new RegExp(`(?:^|, )${name};desc="(\\d+) calls"`).exec(header)?.[1]);
  return { status: res.status, body: (await res.json()) as any, d1Calls: calls('d1'), doCalls: calls('do') };
}

describe('a send in steady state', () => {
  it('makes no D1 call and one Durable Object call, on every send route, by device key and by admin key', async () => {
    host = sendingHost();
    const device = await newDevice('One hop');
    const key = `Bearer ${device.apiKey}`;
    // The first send of a key this isolate has not seen may read it from D1.
    expect((await timed('/api/send-message', key, { to: '628123000201', message: 'warm up' })).status).toBe(200);

    const sends = [
      await timed('/api/send-message', key, { to: '628123000202', message: 'one hop' }),
      await timed('/api/send-media', key, { to: '628123000203', url: 'https://files.example.test/a.png', caption: 'one hop' }),
      await timed('/send', key, { target: '628123000204,628123000205', message: 'one hop' }),
      await timed('/api/send-message', `Bearer ${ADMIN_KEY}`, { to: '628123000206', message: 'warm up', deviceId: device.id }),
      await timed('/api/send-message', `Bearer ${ADMIN_KEY}`, { to: '628123000207', message: 'one hop', deviceId: device.id }),
      await timed('/send', key, { target: '628123000208', message: 'later', schedule: Math.floor(Date.now() / 1000) + 3600 }),
    ];
    expect(sends.map((s) => s.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(sends[5]!.body).toMatchObject({ detail: 'success! message in queue' });
    // The admin key's first send to a device looks up its host once; after that, none.
    const steady = [sends[0], sends[1], sends[2], sends[4], sends[5]];
    expect(steady.map((s) => s!.d1Calls)).toEqual([0, 0, 0, 0, 0]);
    expect(sends.map((s) => s.doCalls)).toEqual([1, 1, 1, 1, 1, 1]);

    // Every one of them is in the log, as the client reads it back at once.
    const { body } = await call('GET', '/api/messages?limit=20', { key });
    const logged = new Map(body.messages.map((m: { to: string; status: string; waMessageId: string | null }) => [m.to, m]));
    for (const to of ['628123000202', '628123000203', '628123000204', '628123000205', '628123000207']) {
      expect(logged.get(to)).toMatchObject({ status: 'sent', waMessageId: expect.stringMatching(/^3EB0HOP/) });
    }
    expect(logged.get('628123000203')).toMatchObject({ type: 'image', preview: 'one hop' });
    expect(logged.get('628123000208')).toMatchObject({ status: 'queued', scheduledAt: expect.any(String) });
  });

  it('logs a failure, and a queued send the client reads back at once by its id', async () => {
    host = fakeHost({
      'message.send': (p) => {
        if (p.to.startsWith('628123000211')) throw new HostFailure('send_failed', 'WhatsApp refused it');
        throw new HostFailure('not_connected', 'device is not connected');
      },
    });
    const device = await newDevice('Logs');
    const key = `Bearer ${device.apiKey}`;
    const refused = await call('POST', '/api/send-message', { key, json: { to: '628123000211', message: 'no' } });
    expect(refused).toMatchObject({ status: 502, body: { error: 'Failed to send message: WhatsApp refused it' } });
    const queued = await call('POST', '/api/send-message', { key, json: { to: '628123000212', message: 'later', queue: true } });
    expect(queued).toMatchObject({ status: 200, body: { queued: true, id: expect.stringMatching(/^msg_/) } });

    const read = await call('GET', `/api/messages/${queued.body.id}`, { key });
    expect(read).toMatchObject({ status: 200, body: { id: queued.body.id, status: 'queued', to: '628123000212', preview: 'later' } });
    const [failed] = await db.select().from(messagesTable).where(eq(messagesTable.to, '628123000211'));
    expect(failed).toMatchObject({ status: 'failed', error: 'WhatsApp refused it', attempts: 1, deviceId: device.id });
  });
});

describe('keys checked by the HostLink', () => {
  it('refuse a regenerated key at once, though this isolate had just sent with it', async () => {
    host = sendingHost();
    const device = await newDevice('Regenerated');
    const send = (key: string) => call('POST', '/api/send-message', { key, json: { to: '628123000221', message: 'hi' } });
    expect((await send(device.apiKey)).status).toBe(200);
    expect((await send(device.apiKey)).status).toBe(200);
    const { body } = await admin('POST', `/api/devices/${device.id}/token`);
    expect(await send(device.apiKey)).toEqual({ status: 401, body: { error: 'Unauthorized: Invalid API Key.' } });
    expect((await send(body.apiKey)).status).toBe(200);
    expect((await call('POST', '/send', { key: device.apiKey, json: { target: '628123000221', message: 'hi' } })).status).toBe(401);
  });

  it('refuse a deleted device, by its key and by the admin key', async () => {
    host = fakeHost({ 'message.send': async (p) => ({ id: '3EB0GONE', timestamp: 1779348348, to: p.to }), 'device.delete': () => ({ deleted: true }) });
    const device = await newDevice('Deleted');
    const json = { to: '628123000231', message: 'hi' };
    expect((await call('POST', '/api/send-message', { key: device.apiKey, json })).status).toBe(200);
    expect((await admin('POST', '/api/send-message', { json: { ...json, deviceId: device.id } })).status).toBe(200);
    expect((await admin('DELETE', `/api/devices/${device.id}`)).status).toBe(200);
    expect((await call('POST', '/api/send-message', { key: device.apiKey, json })).status).toBe(401);
    expect(await admin('POST', '/api/send-message', { json: { ...json, deviceId: device.id } })).toEqual({ status: 404, body: { error: `Device not found: ${device.id}` } });
  });

  it('learn a device made before the HostLink kept keys, from D1, and never let such a read undo a newer key', async () => {
    host = sendingHost();
    const key = 'wa_0123456789abcdef0123456789abcdef';
    const id = 'device_from_before';
    await db.insert(devicesTable).values({ id, name: 'Older', webhookSecret: 'whsec_x', apiKeyHash: await hashKey(key), apiKeyMasked: 'wa_0123…cdef' });
    expect((await call('POST', '/api/send-message', { key, json: { to: '628123000241', message: 'hi' } })).status).toBe(200);

    const stub = env.HOST_LINK.getByName(DEFAULT_HOST_ID);
    const checks = await runInDurableObject(stub, (instance: HostLink) => {
      const keys = (instance as unknown as { keys: import('../../edge/link/device-keys.ts').DeviceKeys }).keys;
      keys.set('device_newer', 'hash-new');
      keys.learn('device_newer', 'hash-old'); // a D1 read from before the regeneration
      keys.forget('device_gone');
      keys.learn('device_gone', 'hash-old'); // a D1 read from before the deletion
      return [keys.check('device_newer', 'hash-new'), keys.check('device_newer', 'hash-old'), keys.check('device_gone', 'hash-old'), keys.check('device_gone', undefined), keys.check('device_never', undefined)];
    });
    expect(checks).toEqual(['ok', 'refused', 'refused', 'refused', 'unknown']);
  });
});

describe('the message log on its way to D1', () => {
  it('never moves a row back: a late outcome leaves a receipt that came first', async () => {
    host = sendingHost();
    const device = await newDevice('Receipts first');
    const { body } = await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '628123000251', message: 'hi' } });
    await until(async () => (await db.select().from(messagesTable).where(eq(messagesTable.waMessageId, body.id))).length, 'the row in D1');
    await db.update(messagesTable).set({ status: 'read' }).where(eq(messagesTable.waMessageId, body.id));
    const [row] = await db.select().from(messagesTable).where(eq(messagesTable.waMessageId, body.id));
    // The outcome recorded again (as a retry under the same id would): the row stays read.
    await runInDurableObject(env.HOST_LINK.getByName(DEFAULT_HOST_ID), async (instance: HostLink) => {
      const log = (instance as unknown as { log: import('../../edge/link/message-log.ts').MessageLog }).log;
      log.change(row!.id, { status: 'sent', waMessageId: body.id, sentAt: Date.now(), attempts: 1 });
      await log.flush();
    });
    expect((await db.select().from(messagesTable).where(eq(messagesTable.id, row!.id)))[0]).toMatchObject({ status: 'read', waMessageId: body.id });
  });

  it('takes receipts by our id into the same copy, moving a row forward and never back, and only for its own device', async () => {
    host = sendingHost();
    const device = await newDevice('Receipts');
    const neighbour = await newDevice('Same host, other device');
    const { body } = await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '628123000271', message: 'hi' } });
    const [row] = await until(async () => {
      const rows = await db.select().from(messagesTable).where(eq(messagesTable.waMessageId, body.id));
      return rows.length > 0 && rows;
    }, 'the row in D1');
    await runInDurableObject(env.HOST_LINK.getByName(DEFAULT_HOST_ID), async (instance: HostLink) => {
      const inside = instance as unknown as { apply(event: string, data: object): Promise<void>; log: import('../../edge/link/message-log.ts').MessageLog };
      const receipt = (status: string, timestamp: number, deviceId = device.id) =>
        inside.apply('message.status', { deviceId, id: body.id, outboxId: row!.id, to: '628123000271@s.whatsapp.net', status, timestamp });
      await receipt('read', 1779348999, neighbour.id); // another device's report of our message: ignored
      await receipt('read', 1779348500);
      await receipt('delivered', 1779348400); // late: the row stays read
      await inside.log.flush();
    });
    const [after] = await db.select().from(messagesTable).where(eq(messagesTable.id, row!.id));
    expect(after).toMatchObject({ status: 'read', readAt: new Date(1779348500_000), deliveredAt: new Date(1779348400_000), waMessageId: body.id });
  });

  it('drops a row D1 will never take without holding up the others', async () => {
    host = sendingHost();
    const device = await newDevice('Poison');
    const flushed = await runInDurableObject(env.HOST_LINK.getByName(DEFAULT_HOST_ID), async (instance: HostLink) => {
      const log = (instance as unknown as { log: import('../../edge/link/message-log.ts').MessageLog }).log;
      const row = { to: '628123000261', type: 'text' as const, preview: 'x', createdAt: Date.now() };
      log.insert('msg_poison', { ...row, deviceId: 'device_that_never_was' }, { status: 'queued' });
      log.insert('msg_healthy', { ...row, deviceId: device.id }, { status: 'queued' });
      await log.flush();
      return log.size;
    });
    expect(flushed).toBe(0);
    expect((await db.select().from(messagesTable).where(eq(messagesTable.id, 'msg_healthy'))).length).toBe(1);
    expect((await db.select().from(messagesTable).where(eq(messagesTable.id, 'msg_poison'))).length).toBe(0);
  });
});
