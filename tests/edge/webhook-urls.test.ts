// Fonnte's separate webhook URLs per device (message statuses, device status) in the admin API,
// and carried to the session host, which routes each event by them.
import { afterEach, describe, expect, it } from 'vitest';
import { admin, newDevice } from './client.ts';
import { fakeHost } from './fake-host.ts';

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const lastUpsert = (id: string) => host!.requests.findLast((r) => r.method === 'device.upsert' && (r.params as { id: string }).id === id)!.params;

describe('separate webhook URLs for statuses and device status', () => {
  it('default to null (everything to webhookUrl) and are set at creation', async () => {
    const plain = await admin('POST', '/api/devices', { json: { name: 'Plain', webhookUrl: 'https://hooks.example.com/all' } });
    expect(plain.body).toMatchObject({ webhookUrl: 'https://hooks.example.com/all', statusWebhookUrl: null, connectionWebhookUrl: null });
    const split = await admin('POST', '/api/devices', {
      json: { name: 'Split', webhookUrl: 'https://hooks.example.com/chat', statusWebhookUrl: 'https://hooks.example.com/status', connectionWebhookUrl: '' },
    });
    expect(split.status).toBe(201);
    expect(split.body).toMatchObject({ webhookUrl: 'https://hooks.example.com/chat', statusWebhookUrl: 'https://hooks.example.com/status', connectionWebhookUrl: '' });
    expect((await admin('GET', `/api/devices/${split.body.id}`)).body).toMatchObject({ statusWebhookUrl: 'https://hooks.example.com/status', connectionWebhookUrl: '' });
  });

  it('are changed by PATCH (null goes back to webhookUrl, "" sends none), and the host is told', async () => {
    host = fakeHost({});
    const device = await newDevice('Bot');
    const changed = await admin('PATCH', `/api/devices/${device.id}`, { json: { statusWebhookUrl: '', connectionWebhookUrl: 'https://hooks.example.com/connect' } });
    expect(changed).toMatchObject({ status: 200, body: { statusWebhookUrl: '', connectionWebhookUrl: 'https://hooks.example.com/connect' } });
    expect(lastUpsert(device.id)).toMatchObject({ statusWebhookUrl: '', connectionWebhookUrl: 'https://hooks.example.com/connect' });
    const back = await admin('PATCH', `/api/devices/${device.id}`, { json: { statusWebhookUrl: null } });
    expect(back.body).toMatchObject({ statusWebhookUrl: null, connectionWebhookUrl: 'https://hooks.example.com/connect' });
    expect(lastUpsert(device.id)).toMatchObject({ statusWebhookUrl: null, connectionWebhookUrl: 'https://hooks.example.com/connect' });
  });

  it('refuse what is not an http(s) URL, naming the field', async () => {
    const device = await newDevice('Bad');
    expect(await admin('PATCH', `/api/devices/${device.id}`, { json: { statusWebhookUrl: 'ftp://example.com' } })).toEqual({
      status: 400,
      body: { error: 'statusWebhookUrl: must be an http(s) URL' },
    });
    expect(await admin('POST', '/api/devices', { json: { name: 'x', connectionWebhookUrl: 'not a url' } })).toEqual({ status: 400, body: { error: 'connectionWebhookUrl: must be an http(s) URL' } });
  });
});
