import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ADMIN_KEY, admin, call, newDevice } from './client.ts';

const UNAUTHORIZED = 'Unauthorized: Invalid API Key.';

describe('API keys', () => {
  it('refuse a missing or wrong key with 401 in the shape of the route', async () => {
    const device = await newDevice();
    const wrong = [undefined, '', 'Bearer ', `${ADMIN_KEY}x`, `Bearer ${ADMIN_KEY.slice(0, -1)}`, `wa_${'0'.repeat(32)}`, device.apiKey.toUpperCase(), `${device.apiKey} `.repeat(2)];
    for (const key of wrong) {
      expect(await call('GET', '/api/status', { key })).toEqual({ status: 401, body: { error: UNAUTHORIZED } });
      expect(await call('POST', '/send', { key, json: { target: '628123456789', message: 'hi' } })).toEqual({ status: 401, body: { status: false, reason: UNAUTHORIZED, requestid: expect.any(Number) } });
    }
  });

  it('take the admin key raw (Fonnte style) or as a Bearer token', async () => {
    for (const key of [ADMIN_KEY, `Bearer ${ADMIN_KEY}`, `bearer ${ADMIN_KEY}`]) {
      expect((await call('GET', '/api/devices', { key })).status).toBe(200);
    }
  });

  it('take a device key raw or as a Bearer token, for its own device only', async () => {
    const a = await newDevice('Device A');
    await newDevice('Device B');
    for (const key of [a.apiKey, `Bearer ${a.apiKey}`]) {
      const { status, body } = await call('GET', '/api/status', { key });
      expect(status).toBe(200);
      expect(body.devices.map((d: { id: string }) => d.id)).toEqual([a.id]);
    }
  });

  it('keep device keys out of the admin API with a 403', async () => {
    const device = await newDevice();
    const key = device.apiKey;
    for (const [method, path] of [
      ['GET', '/api/devices'],
      ['POST', '/api/devices'],
      ['GET', `/api/devices/${device.id}`],
      ['PATCH', `/api/devices/${device.id}`],
      ['DELETE', `/api/devices/${device.id}`],
      ['POST', `/api/devices/${device.id}/token`],
      ['POST', `/api/devices/${device.id}/connect`],
      ['GET', '/api/contacts'],
      ['GET', '/api/groups'],
      ['GET', '/api/hosts'],
    ] as const) {
      const { status, body } = await call(method, path, { key, ...(method !== 'GET' && { json: { name: 'Mine now' } }) });
      expect([method, path, status]).toEqual([method, path, 403]);
      expect(body.error).toMatch(/^Forbidden/);
    }
    expect((await admin('GET', `/api/devices/${device.id}`)).body.name).toBe('Test device');
  });

  it("never let device A's key act on device B, nor tell it anything about B", async () => {
    const a = await newDevice('Device A');
    const b = await newDevice('Secret device B');
    const attempts = [
      await call('GET', `/api/devices/${b.id}/wa-groups`, { key: a.apiKey }),
      await call('GET', `/api/messages?deviceId=${b.id}`, { key: a.apiKey }),
      await call('POST', '/api/send-message', { key: a.apiKey, json: { to: '628123456789', message: 'hi', deviceId: b.id } }),
      await call('POST', '/api/send-media', { key: a.apiKey, json: { to: '628123456789', url: 'https://x.test/a.png', deviceId: b.id } }),
      // The same answer for a device that does not exist: no way to probe for ids.
      await call('GET', '/api/devices/device_nonexistent/wa-groups', { key: a.apiKey }),
    ];
    for (const { status, body } of attempts) {
      expect(status).toBe(403);
      expect(body).toEqual({ error: 'Forbidden: this API key belongs to another device' });
    }
    const fonnte = await call('POST', '/send', { key: a.apiKey, json: { target: '628123456789', message: 'hi', deviceId: b.id } });
    expect(fonnte).toEqual({ status: 403, body: { status: false, reason: 'Forbidden: this API key belongs to another device', requestid: expect.any(Number) } });
  });

  it('make the admin key name the device it sends from', async () => {
    const missing = await admin('POST', '/send', { json: { target: '628123456789', message: 'hi' } });
    expect(missing).toMatchObject({ status: 200, body: { status: false, reason: 'input invalid', detail: expect.stringMatching(/^deviceId: required with the admin key/) } });
    const unknown = await admin('POST', '/api/send-message', { json: { to: '628123456789', message: 'hi', deviceId: 'device_nope' } });
    expect(unknown).toEqual({ status: 404, body: { error: 'Device not found: device_nope' } });
  });

  it('refuse everyone when no admin key is configured, rather than accept an empty one', async () => {
    const { authenticate } = await import('../../edge/auth.ts');
    const { drizzle } = await import('drizzle-orm/d1');
    const noAdmin = { ...env, ADMIN_KEY: '' };
    expect(await authenticate(drizzle(env.DB), noAdmin, '')).toBeNull();
    expect(await authenticate(drizzle(env.DB), noAdmin, 'Bearer ')).toBeNull();
    expect(await authenticate(drizzle(env.DB), env, ADMIN_KEY)).toEqual({ admin: true });
  });
});
