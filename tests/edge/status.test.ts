import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it } from 'vitest';
import { devicesTable } from '../../edge/db/schema.ts';
import { ADMIN_KEY, call, newDevice } from './client.ts';
import { fakeHost, HostFailure } from './fake-host.ts';

const db = drizzle(env.DB);
const SEED_DEVICE_KEYS = ['apiKey', 'authenticated', 'hasQr', 'id', 'name', 'phoneNumber', 'pushName', 'qr', 'status', 'totalMessagesSent', 'webhookUrl'];

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

describe('GET /api/status', () => {
  it('shows every device to the admin key and only its own to a device key, in the seed shape', async () => {
    const a = await newDevice('Default Device', { webhookUrl: 'https://hooks.example.com/a' });
    const b = await newDevice('Other');
    // The HostLink writes what the host reports into D1; /api/status reads it from there.
    await db.update(devicesTable).set({ status: 'CONNECTED', phoneNumber: '628123456789', pushName: 'CS WaApi', totalMessagesSent: 5 }).where(eq(devicesTable.id, a.id));
    await db.update(devicesTable).set({ status: 'QR', qr: '2@qr' }).where(eq(devicesTable.id, b.id));

    const all = await call('GET', '/api/status', { key: ADMIN_KEY });
    expect(all.status).toBe(200);
    // The seed's two fields, plus whether the host is online.
    expect(Object.keys(all.body).sort()).toEqual(['devices', 'hostOnline', 'publicUrl']);
    for (const device of all.body.devices) expect(Object.keys(device).sort()).toEqual(SEED_DEVICE_KEYS);
    expect(all.body.devices).toEqual(
      expect.arrayContaining([
        {
          id: a.id,
          name: 'Default Device',
          apiKey: `${a.apiKey.slice(0, 7)}…${a.apiKey.slice(-4)}`,
          webhookUrl: 'https://hooks.example.com/a',
          status: 'CONNECTED',
          authenticated: true,
          hasQr: false,
          qr: null,
          phoneNumber: '628123456789',
          pushName: 'CS WaApi',
          totalMessagesSent: 5,
        },
        expect.objectContaining({ id: b.id, status: 'QR', authenticated: false, hasQr: true, qr: '2@qr' }),
      ]),
    );

    const own = await call('GET', '/api/status', { key: `Bearer ${b.apiKey}` });
    expect(own.body.devices).toEqual([all.body.devices.find((d: { id: string }) => d.id === b.id)]);
    expect(JSON.stringify(own.body)).not.toContain(a.id);
  });

  it('answers at once with publicUrl null while the host is offline', async () => {
    const started = Date.now();
    const { status, body } = await call('GET', '/api/status', { key: ADMIN_KEY });
    expect(status).toBe(200);
    expect(body.publicUrl).toBeNull();
    expect(body.hostOnline).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("shows the host's public URL while its link is up", async () => {
    host = fakeHost({}, 'https://waapi.example.test');
    const device = await newDevice(); // brings the link up, telling the host about the device
    expect((await call('GET', '/api/status', { key: ADMIN_KEY })).body).toMatchObject({ publicUrl: 'https://waapi.example.test', hostOnline: true });
    expect((await call('GET', '/api/status', { key: device.apiKey })).body.publicUrl).toBe('https://waapi.example.test');
  });
});

describe('GET /api/devices/:deviceId/wa-groups', () => {
  it("lists the device's WhatsApp groups", async () => {
    const device = await newDevice();
    host = fakeHost({ 'groups.list': () => ({ groups: [{ id: '1203630234567890@g.us', name: 'Family Group' }] }) });
    for (const key of [device.apiKey, ADMIN_KEY]) {
      expect(await call('GET', `/api/devices/${device.id}/wa-groups`, { key })).toEqual({
        status: 200,
        body: { success: true, groups: [{ id: '1203630234567890@g.us', name: 'Family Group' }] },
      });
    }
  });

  it('answers 503 with the seed body when the device has no live session', async () => {
    const device = await newDevice();
    const notActive = { status: 503, body: { error: 'Device is not connected or session not active' } };
    const started = Date.now();
    expect(await call('GET', `/api/devices/${device.id}/wa-groups`, { key: device.apiKey })).toEqual(notActive);
    expect(Date.now() - started).toBeLessThan(3_000);

    host = fakeHost({
      'groups.list': () => {
        throw new HostFailure('not_connected', 'Device is not connected');
      },
    });
    expect(await call('GET', `/api/devices/${device.id}/wa-groups`, { key: device.apiKey })).toEqual(notActive);
  });

  it('answers 404 to the admin key for an unknown device', async () => {
    expect(await call('GET', '/api/devices/device_nope/wa-groups', { key: ADMIN_KEY })).toEqual({ status: 404, body: { error: 'Device not found: device_nope' } });
  });
});
