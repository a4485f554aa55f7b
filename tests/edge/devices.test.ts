import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it } from 'vitest';
import { devicesTable, messagesTable } from '../../edge/db/schema.ts';
import { admin, call, newDevice } from './client.ts';
import { deviceState, fakeHost, HostFailure } from './fake-host.ts';

const db = drizzle(env.DB);
const sha256 = async (text: string) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))].map((b) => b.toString(16).padStart(2, '0')).join('');

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

describe('devices (admin API)', () => {
  it('are created with a key shown once and stored only as a hash', async () => {
    const { status, body } = await admin('POST', '/api/devices', { json: { name: 'Sales', webhookUrl: 'https://hooks.example.com/wa' } });
    expect(status).toBe(201);
    expect(body).toMatchObject({
      id: expect.stringMatching(/^device_[0-9a-f]{16}$/),
      name: 'Sales',
      apiKey: expect.stringMatching(/^wa_[0-9a-f]{32}$/),
      webhookUrl: 'https://hooks.example.com/wa',
      webhookSecret: expect.stringMatching(/^whsec_[0-9a-f]{48}$/),
      status: 'DISCONNECTED',
      authenticated: false,
      hasQr: false,
      qr: null,
      hostId: null,
      totalMessagesSent: 0,
    });

    const [row] = await db.select().from(devicesTable).where(eq(devicesTable.id, body.id));
    expect(row!.apiKeyHash).toBe(await sha256(body.apiKey));
    expect(JSON.stringify(row)).not.toContain(body.apiKey.slice(3));
    const masked = `${body.apiKey.slice(0, 7)}…${body.apiKey.slice(-4)}`;
    expect(row!.apiKeyMasked).toBe(masked);

    // Afterwards, only the masked key is ever shown.
    const listed = (await admin('GET', '/api/devices')).body.devices.find((d: { id: string }) => d.id === body.id);
    expect(listed.apiKey).toBe(masked);
    expect((await admin('GET', `/api/devices/${body.id}`)).body.apiKey).toBe(masked);
    expect((await call('GET', '/api/status', { key: body.apiKey })).body.devices[0].apiKey).toBe(masked);
  });

  it('refuse invalid input, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{}, 'name: required'],
      [{ name: '   ' }, 'name: must not be empty'],
      [{ name: 42 }, 'name: must be a string'],
      [{ name: 'x', webhookUrl: 'ftp://example.com' }, 'webhookUrl: must be an http(s) URL'],
      [{ name: 'x', hostId: 'host_nope' }, 'hostId: no session host with id "host_nope"'],
    ];
    for (const [json, error] of cases) expect(await admin('POST', '/api/devices', { json })).toEqual({ status: 400, body: { error } });
    expect(await admin('PATCH', '/api/devices/device_nope', { json: { name: 'x' } })).toEqual({ status: 404, body: { error: 'Device not found: device_nope' } });
  });

  it('change name and webhook URL, and tell the host', async () => {
    host = fakeHost({});
    const device = await newDevice('Old name');
    const { status, body } = await admin('PATCH', `/api/devices/${device.id}`, { json: { name: 'New name', webhookUrl: '' } });
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: device.id, name: 'New name', webhookUrl: '' });
    expect(host.requests.findLast((r) => r.method === 'device.upsert' && (r.params as { id: string }).id === device.id)!.params).toEqual({
      id: device.id,
      name: 'New name',
      webhookUrl: '',
      statusWebhookUrl: null,
      connectionWebhookUrl: null,
      webhookSecret: device.webhookSecret,
      // Where the host's links to incoming media point: the origin the admin API was called through.
      edgeUrl: 'http://gateway.test',
    });
  });

  it('get a new key that replaces the old one at once', async () => {
    const device = await newDevice();
    const { status, body } = await admin('POST', `/api/devices/${device.id}/token`);
    expect(status).toBe(200);
    expect(body.apiKey).toMatch(/^wa_[0-9a-f]{32}$/);
    expect(body.apiKey).not.toBe(device.apiKey);
    expect((await call('GET', '/api/status', { key: device.apiKey })).status).toBe(401);
    expect((await call('GET', '/api/status', { key: body.apiKey })).status).toBe(200);
    expect((await admin('POST', '/api/devices/device_nope/token')).status).toBe(404);
  });

  it('are deleted with their message log; the host is told and the key stops working', async () => {
    host = fakeHost({ 'device.delete': () => ({ deleted: true }) });
    const device = await newDevice();
    await db.insert(messagesTable).values({ id: 'msg_of_deleted', deviceId: device.id, to: '628123456789', type: 'text' });
    expect(await admin('DELETE', `/api/devices/${device.id}`)).toEqual({ status: 200, body: { success: true, id: device.id } });
    expect(await db.select().from(messagesTable).where(eq(messagesTable.deviceId, device.id))).toEqual([]);
    expect((await admin('GET', `/api/devices/${device.id}`)).status).toBe(404);
    expect((await call('GET', '/api/status', { key: device.apiKey })).status).toBe(401);
    expect(host.requests).toContainEqual({ method: 'device.delete', params: { id: device.id } });
  });

  it('are created and deleted even while the host is offline', async () => {
    const started = Date.now();
    const device = await newDevice();
    expect((await admin('DELETE', `/api/devices/${device.id}`)).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('device sessions', () => {
  it('answer 503 within seconds while the session host is offline', async () => {
    const device = await newDevice();
    for (const action of ['connect', 'disconnect', 'logout']) {
      const started = Date.now();
      expect(await admin('POST', `/api/devices/${device.id}/${action}`)).toEqual({ status: 503, body: { error: 'Session host is offline' } });
      expect(Date.now() - started).toBeLessThan(3_000);
    }
    expect(await admin('POST', `/api/devices/${device.id}/pairing-code`, { json: { phone: '628123456789' } })).toEqual({ status: 503, body: { error: 'Session host is offline' } });
  });

  it('webhook deliveries answer 503 while the session host is offline', async () => {
    const device = await newDevice();
    expect(await admin('GET', `/api/devices/${device.id}/webhooks`)).toEqual({ status: 503, body: { error: 'Session host is offline' } });
    expect(await admin('POST', `/api/devices/${device.id}/webhooks/3f6c9a2e/retry`)).toEqual({ status: 503, body: { error: 'Session host is offline' } });
  });

  it('connect: settings first, then the state with the QR to scan', async () => {
    const device = await newDevice();
    host = fakeHost({ 'device.connect': ({ id }) => deviceState(id, { status: 'QR', qr: '2@qr-payload' }) });
    const { status, body } = await admin('POST', `/api/devices/${device.id}/connect`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: device.id, status: 'QR', hasQr: true, qr: '2@qr-payload', authenticated: false });
    // The link's own sync pushes settings too, concurrently: look for this device's, before the connect.
    const mine = host.requests.filter((r) => (r.params as { id?: string }).id === device.id).map((r) => r.method);
    expect(mine.slice(-2)).toEqual(['device.upsert', 'device.connect']);
  });

  it('disconnect and log out through the host', async () => {
    const device = await newDevice();
    host = fakeHost({
      'device.disconnect': ({ id }) => deviceState(id, { phoneNumber: '628123456789' }),
      'device.logout': ({ id }) => deviceState(id, { status: 'LOGGED_OUT' }),
    });
    expect((await admin('POST', `/api/devices/${device.id}/disconnect`)).body).toMatchObject({ status: 'DISCONNECTED', phoneNumber: '628123456789' });
    expect((await admin('POST', `/api/devices/${device.id}/logout`)).body).toMatchObject({ status: 'LOGGED_OUT' });
    expect((await admin('POST', '/api/devices/device_nope/logout')).status).toBe(404);
  });

  it('pairing code: the phone is normalised, the code returned', async () => {
    const device = await newDevice();
    host = fakeHost({ 'device.pairingCode': () => ({ code: 'ABCD-EFGH' }) });
    expect(await admin('POST', `/api/devices/${device.id}/pairing-code`, { json: { phone: '0812-3456-789' } })).toEqual({ status: 200, body: { code: 'ABCD-EFGH' } });
    expect(host.requests).toContainEqual({ method: 'device.pairingCode', params: { id: device.id, phone: '628123456789' } });

    const invalid = await admin('POST', `/api/devices/${device.id}/pairing-code`, { json: { phone: '120363023456789012@g.us' } });
    expect(invalid).toEqual({ status: 400, body: { error: 'phone: must be a phone number like 628123456789, got "120363023456789012@g.us"' } });
  });

  it("pass the host's refusal on as a 400", async () => {
    const device = await newDevice();
    host = fakeHost({
      'device.pairingCode': () => {
        throw new HostFailure('bad_request', 'device is already linked; disconnect or log out first');
      },
    });
    expect(await admin('POST', `/api/devices/${device.id}/pairing-code`, { json: { phone: '628123456789' } })).toEqual({
      status: 400,
      body: { error: 'device is already linked; disconnect or log out first' },
    });
  });
});
