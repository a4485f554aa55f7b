// A host's events and state reports in the HostLink, in the Workers runtime, with many devices:
// they only ever touch that host's own devices and messages, every D1 statement stays within D1's
// 100 bound parameters (the local runtime enforces the limit), and events for one device are
// applied in the order the host raised them. End to end with 150 real devices: tests/e2e/many-devices.test.ts.
import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { eq, inArray } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { devicesTable, messagesTable } from '../../edge/db/schema.ts';
import { DEFAULT_HOST_ID } from '../../edge/link/host-link.ts';
import { admin, newDevice, until } from './client.ts';
import { deviceState, fakeHost } from './fake-host.ts';

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const db = () => drizzle(env.DB);
const link = () => env.HOST_LINK.getByName(DEFAULT_HOST_ID);

const rowsOf = (ids: string[]) =>
  db()
    .select()
    .from(devicesTable)
    .where(inArray(devicesTable.id, ids.slice(0, 90)));
const deviceRow = async (id: string) => (await db().select().from(devicesTable).where(eq(devicesTable.id, id)))[0]!;
const messageRow = async (id: string) => (await db().select().from(messagesTable).where(eq(messagesTable.id, id)))[0]!;

/** A device on a second registered host, with a sent and a queued message in the log. */
async function foreignDevice() {
  const registered = await admin('POST', '/api/hosts', { json: { name: 'Elsewhere', url: 'http://127.0.0.1:9', secret: 'another-long-shared-secret' } });
  expect(registered.status).toBe(201);
  const device = await newDevice('On another host', { hostId: registered.body.id });
  // As it stood before the default host's events: connected on its own host.
  await db().update(devicesTable).set({ status: 'CONNECTED', pushName: 'Owner' }).where(eq(devicesTable.id, device.id));
  const sentId = `msg_foreign_sent_${device.id}`;
  const queuedId = `msg_foreign_queued_${device.id}`;
  await db()
    .insert(messagesTable)
    .values([
      { id: sentId, deviceId: device.id, to: '628111000301', type: 'text', status: 'sent', waMessageId: `WA${sentId}` },
      { id: queuedId, deviceId: device.id, to: '628111000302', type: 'text', status: 'queued' },
    ]);
  return { device, sentId, queuedId };
}

describe('a host with many devices', () => {
  it('syncs 150 devices in D1, and its reports and receipts for another host’s device change nothing', async () => {
    const own: string[] = [];
    for (let i = 0; i < 150; i++) own.push((await newDevice(`Fleet ${i}`)).id);
    const foreign = await foreignDevice();
    const snapshot = [
      ...own.map((id, i) => deviceState(id, { status: 'CONNECTED', phoneNumber: `62811${String(i).padStart(6, '0')}`, pushName: `Shop ${i}` })),
      deviceState(foreign.device.id, { status: 'LOGGED_OUT', pushName: 'Intruder' }),
      deviceState('device_unknown', { status: 'CONNECTED' }),
    ];
    const status = (seq: number, data: object) => ({ seq, event: 'message.status', data: { to: '628111000301@s.whatsapp.net', timestamp: 1779348400, ...data } });
    host = fakeHost({ 'host.status': () => ({ publicUrl: null, devices: snapshot }), 'device.delete': () => ({ deleted: true }) }, null, {
      backlog: [
        { seq: 201, event: 'device.status', data: deviceState(foreign.device.id, { status: 'QR', qr: 'stolen', pushName: 'Intruder' }) },
        // Its receipt, by our id and by WhatsApp's, under its own device id or under one of ours.
        status(202, { deviceId: foreign.device.id, id: `WA${foreign.sentId}`, outboxId: foreign.sentId, status: 'read' }),
        status(203, { deviceId: foreign.device.id, id: `WA${foreign.sentId}`, status: 'delivered' }),
        status(204, { deviceId: own[0], id: `WA${foreign.sentId}`, outboxId: foreign.sentId, status: 'read' }),
        status(205, { deviceId: own[0], id: `WA${foreign.sentId}`, status: 'read' }),
        // The 'sent' that mends a queued row whose answer was lost.
        status(206, { deviceId: foreign.device.id, id: 'WAmended', outboxId: foreign.queuedId, status: 'sent' }),
        status(207, { deviceId: own[1], id: 'WAmended', outboxId: foreign.queuedId, status: 'sent' }),
      ],
    });
    expect(await link().linkState(DEFAULT_HOST_ID, true)).toMatchObject({ online: true });
    await until(() => host!.acks.includes(207), 'the ack of the last event', 15_000);
    // The snapshot is applied to all 150 (more than one statement may bind).
    await until(
      async () => {
        const rows = [...(await rowsOf(own)), ...(await rowsOf(own.slice(90)))];
        return rows.length === 150 && rows.every((r) => r.status === 'CONNECTED');
      },
      'all 150 devices CONNECTED',
      15_000,
    );
    expect(await deviceRow(own[149]!)).toMatchObject({ status: 'CONNECTED', pushName: 'Shop 149', phoneNumber: '62811000149' });
    // The unknown device was asked to go (it is no device of this host), and nothing was written for it.
    expect(host.requests).toContainEqual({ method: 'device.delete', params: { id: 'device_unknown' } });
    expect(host.requests).toContainEqual({ method: 'device.delete', params: { id: foreign.device.id } });

    expect(await deviceRow(foreign.device.id)).toMatchObject({ status: 'CONNECTED', pushName: 'Owner', qr: null });
    expect(await messageRow(foreign.sentId)).toMatchObject({ status: 'sent', deliveredAt: null, readAt: null });
    expect(await messageRow(foreign.queuedId)).toMatchObject({ status: 'queued', waMessageId: null, sentAt: null });

    // The link drops: its own devices go offline, the other host's device stays as it was.
    await host.stop();
    host = undefined;
    await until(async () => (await rowsOf(own)).every((r) => r.status === 'DISCONNECTED'), 'own devices offline', 15_000);
    expect(await deviceRow(own[149]!)).toMatchObject({ status: 'DISCONNECTED', statusReason: 'session host is offline' });
    expect(await deviceRow(foreign.device.id)).toMatchObject({ status: 'CONNECTED', statusReason: null });
  }, 60_000);

  it('applies one device’s events in the order the host raised them', async () => {
    const device = await newDevice('Ordered');
    const [logged] = await db()
      .insert(messagesTable)
      .values({ id: `msg_ordered_${device.id}`, deviceId: device.id, to: '628111000303', type: 'text', status: 'queued' })
      .returning();
    const state = (seq: number, changes: Parameters<typeof deviceState>[1]) => ({ seq, event: 'device.status', data: deviceState(device.id, changes) });
    const receipt = (seq: number, status: string, timestamp: number) => ({
      seq,
      event: 'message.status',
      data: { deviceId: device.id, id: 'WAordered', outboxId: logged!.id, to: '628111000303@s.whatsapp.net', status, timestamp },
    });
    // Every intermediate state is a different row; only strict order ends at the last.
    const backlog = [
      state(301, { status: 'CONNECTING' }),
      state(302, { status: 'QR', qr: 'qr-1' }),
      receipt(303, 'sent', 1779348300),
      state(304, { status: 'QR', qr: 'qr-2' }),
      receipt(305, 'delivered', 1779348400),
      state(306, { status: 'CONNECTING', reason: 'scanned' }),
      receipt(307, 'read', 1779348500),
      state(308, { status: 'CONNECTED', phoneNumber: '6281100000308', pushName: 'In order', totalMessagesSent: 1 }),
    ];
    host = fakeHost({}, null, { backlog });
    expect(await link().linkState(DEFAULT_HOST_ID, true)).toMatchObject({ online: true });
    await until(() => host!.acks.includes(308), 'the ack of the last event', 15_000);
    expect(await deviceRow(device.id)).toMatchObject({ status: 'CONNECTED', qr: null, statusReason: null, phoneNumber: '6281100000308', pushName: 'In order', totalMessagesSent: 1 });
    expect(await messageRow(logged!.id)).toMatchObject({
      status: 'read',
      waMessageId: 'WAordered',
      sentAt: new Date(1779348300_000),
      deliveredAt: new Date(1779348400_000),
      readAt: new Date(1779348500_000),
    });
  }, 30_000);
});
