import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, describe, expect, it } from 'vitest';
import { devicesTable, hostsTable, messagesTable } from '../../edge/db/schema.ts';
import { admin, call, newDevice } from './client.ts';
import { fakeHost } from './fake-host.ts';

const db = drizzle(env.DB);
const SECRET = 'a-long-shared-secret';

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

async function register(json: Record<string, unknown>) {
  const { status, body } = await admin('POST', '/api/hosts', { json });
  expect(status).toBe(201);
  return body as { id: string; name: string; url: string | null; mode: string; secret: string; createdAt: string };
}

const listed = async (id: string) => {
  const { status, body } = await admin('GET', '/api/hosts');
  expect(status).toBe(200);
  return (body.hosts as { id: string }[]).find((h) => h.id === id) as Record<string, any> | undefined;
};

describe('registering a session host', () => {
  it('with a URL and a secret: the edge dials it, and the secret is shown only in the answer', async () => {
    const created = await register({ name: 'Home', url: 'http://127.0.0.1:9', secret: SECRET });
    expect(created).toEqual({ id: expect.stringMatching(/^host_[0-9a-f]{16}$/), name: 'Home', url: 'http://127.0.0.1:9', mode: 'url', secret: SECRET, createdAt: expect.any(String) });

    const { body } = await admin('GET', '/api/hosts');
    expect(JSON.stringify(body)).not.toContain(SECRET);
    expect(await listed(created.id)).toEqual({
      id: created.id,
      name: 'Home',
      url: 'http://127.0.0.1:9',
      mode: 'url',
      createdAt: created.createdAt,
      online: false,
      via: null,
      lastSeenAt: null,
      version: null,
      lastError: null,
      devices: [],
    });
  });

  it('without a URL or a secret: the host dials in, with a secret the edge made', async () => {
    const created = await register({ name: 'Laptop' });
    expect(created).toMatchObject({ name: 'Laptop', url: null, mode: 'dial-in', secret: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const [row] = await db.select().from(hostsTable).where(eq(hostsTable.id, created.id));
    expect(row).toMatchObject({ url: null, secret: created.secret });
    expect(await listed(created.id)).toMatchObject({ url: null, mode: 'dial-in', online: false });
    expect(JSON.stringify((await admin('GET', '/api/hosts')).body)).not.toContain(created.secret);
    // Each new host gets a secret of its own.
    expect((await register({ name: 'Laptop 2', url: null })).secret).not.toBe(created.secret);
  });

  it('refuses invalid input, naming the field', async () => {
    expect(await admin('POST', '/api/hosts', { json: { name: 'Home', url: 'not a url', secret: 'short' } })).toEqual({
      status: 400,
      body: { error: 'url: must be an http(s) or ws(s) URL; secret: must be at least 16 characters' },
    });
    expect(await admin('POST', '/api/hosts', { json: { name: ' ', url: 'ftp://example.com' } })).toEqual({
      status: 400,
      body: { error: 'name: must not be empty; url: must be an http(s) or ws(s) URL' },
    });
    expect(await admin('POST', '/api/hosts', { json: { url: 'https://wa.example.com' } })).toEqual({ status: 400, body: { error: 'name: required' } });
  });
});

describe('changing a session host', () => {
  it('renames it and switches between a URL and dialling in', async () => {
    const created = await register({ name: 'Tunnel' });
    const moved = await admin('PATCH', `/api/hosts/${created.id}`, { json: { url: 'https://quick-tunnel.example.com' } });
    expect(moved).toEqual({
      status: 200,
      body: { id: created.id, name: 'Tunnel', url: 'https://quick-tunnel.example.com', mode: 'url', createdAt: created.createdAt },
    });
    expect(await listed(created.id)).toMatchObject({ url: 'https://quick-tunnel.example.com', mode: 'url' });

    const back = await admin('PATCH', `/api/hosts/${created.id}`, { json: { name: 'At home', url: null } });
    expect(back.body).toMatchObject({ name: 'At home', url: null, mode: 'dial-in' });
    expect(await listed(created.id)).toMatchObject({ name: 'At home', url: null, mode: 'dial-in' });
    expect(JSON.stringify(back.body)).not.toContain(created.secret);
  });

  it('answers 404 for an unknown host and 400 for a bad URL', async () => {
    expect(await admin('PATCH', '/api/hosts/host_nope', { json: { name: 'X' } })).toEqual({ status: 404, body: { error: 'Host not found: host_nope' } });
    const created = await register({ name: 'Tunnel' });
    expect(await admin('PATCH', `/api/hosts/${created.id}`, { json: { url: 'tunnel' } })).toEqual({ status: 400, body: { error: 'url: must be an http(s) or ws(s) URL' } });
  });
});

describe('listing session hosts', () => {
  it('shows the default host first, with its devices, and whether its link is up', async () => {
    const onDefault = await newDevice('On the default host');
    await db.update(devicesTable).set({ status: 'CONNECTED', phoneNumber: '628123456789' }).where(eq(devicesTable.id, onDefault.id));
    const home = await register({ name: 'Home', url: 'http://127.0.0.1:9', secret: SECRET });
    const onHome = await newDevice('On the home host', { hostId: home.id });

    const before = (await admin('GET', '/api/hosts')).body.hosts;
    expect(before[0]).toMatchObject({ id: 'default', name: 'Default host', url: env.HOST_URL, mode: 'url', createdAt: null, online: false });
    expect(before[0].devices).toContainEqual({ id: onDefault.id, name: 'On the default host', status: 'CONNECTED', phoneNumber: '628123456789' });
    expect(before[0].devices.map((d: { id: string }) => d.id)).not.toContain(onHome.id);
    expect((await listed(home.id))!.devices).toEqual([{ id: onHome.id, name: 'On the home host', status: 'DISCONNECTED', phoneNumber: null }]);

    // Listing never dials; the status page does, and then the list shows the link up.
    host = fakeHost({});
    expect((await call('GET', '/api/status', { key: `Bearer ${env.ADMIN_KEY}` })).body.hostOnline).toBe(true);
    expect(await listed('default')).toMatchObject({ online: true, lastError: null });
  });
});

describe('removing a session host', () => {
  it('refuses while devices live on it, naming them, then deletes them with it when asked', async () => {
    const home = await register({ name: 'Home', url: 'http://127.0.0.1:9', secret: SECRET });
    const a = await newDevice('Shop', { hostId: home.id });
    const b = await newDevice('Support', { hostId: home.id });
    await db.insert(messagesTable).values({ id: `msg_${a.id}`, deviceId: a.id, to: '628123456789', type: 'text' });

    const busy = await admin('DELETE', `/api/hosts/${home.id}`);
    expect(busy.status).toBe(409);
    expect(busy.body.error).toContain(`Shop (${a.id}), Support (${b.id})`);
    expect(busy.body.error).toContain('?deleteDevices=true');
    expect(await listed(home.id)).toBeDefined();

    expect(await admin('DELETE', `/api/hosts/${home.id}?deleteDevices=true`)).toEqual({ status: 200, body: { success: true, id: home.id, deletedDevices: [a.id, b.id] } });
    expect(await listed(home.id)).toBeUndefined();
    expect(await db.select().from(devicesTable).where(eq(devicesTable.hostId, home.id))).toEqual([]);
    expect(await db.select().from(messagesTable).where(eq(messagesTable.deviceId, a.id))).toEqual([]);
    // Their keys stop working at once.
    expect((await call('GET', '/api/status', { key: `Bearer ${a.apiKey}` })).status).toBe(401);
    expect((await admin('DELETE', `/api/hosts/${home.id}`)).status).toBe(404);
  });

  it('removes a host without devices, and never the default host', async () => {
    const spare = await register({ name: 'Spare' });
    expect(await admin('DELETE', `/api/hosts/${spare.id}`)).toEqual({ status: 200, body: { success: true, id: spare.id, deletedDevices: [] } });

    const refused = await admin('DELETE', '/api/hosts/default?deleteDevices=true');
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/default host .*cannot be removed/);
    expect(await listed('default')).toBeDefined();
    expect((await admin('DELETE', '/api/hosts/host_nope')).status).toBe(404);
    expect(await admin('DELETE', `/api/hosts/${spare.id}?deleteDevices=yes`)).toEqual({ status: 400, body: { error: expect.stringMatching(/^deleteDevices: /) } });
  });
});
