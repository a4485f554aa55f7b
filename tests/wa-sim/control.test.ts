// The HTTP control API that `npm run sim` serves, driven as the demo and a tester would.
import { DisconnectReason, type WAMessage } from '@whiskeysockets/baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../support/baileys-client.ts';
import { png } from '../support/fixtures.ts';
import { WaSim } from './index.ts';

let sim: WaSim;
let client: TestClient;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
});
afterAll(async () => {
  await client?.close();
  await sim.stop();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${sim.controlUrl}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: string } };
}

describe('control API', () => {
  it('scans a QR code as the phone, then shows the device online', async () => {
    client = new TestClient(sim);
    const qr = await client.next<string>('qr');
    const opened = client.next('open');
    const scan = await call('POST', '/api/scan', { qr, phone: '+62 812-0000-1111', name: 'Toko Budi' });
    expect(scan.status).toBe(200);
    expect(scan.json.deviceJid).toBe('6281200001111:1@s.whatsapp.net');
    await opened;
    const state = await call('GET', '/api/state');
    expect(state.json.devices).toEqual([expect.objectContaining({ jid: '6281200001111:1@s.whatsapp.net', online: true })]);
    expect(state.json.wsUrl).toBe(sim.wsUrl);
  });

  it('injects an incoming message that the client receives', async () => {
    const got = client.next<{ messages: WAMessage[] }>('upsert', (u) => u.messages.some((m) => m.message?.conversation === 'Halo dari simulator'));
    const sent = await call('POST', '/api/incoming', { to: '6281200001111', from: '6281399998888', text: 'Halo dari simulator' });
    expect(sent.status).toBe(200);
    const message = (await got).messages[0]!;
    expect(message.key.id).toBe(sent.json.id);
  });

  it('lists what the client sent, media included with its hash', async () => {
    const image = png(32, 32, 3);
    const { next } = (await call('GET', '/api/outbox')).json as { next: number };
    const id = (await client.sock.sendMessage('6281399998888@s.whatsapp.net', { image, caption: 'Katalog' }))!.key.id;
    await sim.waitForOutgoing((m) => m.id === id);
    const outbox = (await call('GET', `/api/outbox?since=${next}`)).json as { messages: { id: string; text: string; media: { size: number; base64: string } }[] };
    expect(outbox.messages).toHaveLength(1);
    expect(outbox.messages[0]).toMatchObject({ id, text: 'Katalog', media: { size: image.length } });
    expect(Buffer.from(outbox.messages[0]!.media.base64, 'base64').equals(image)).toBe(true);
  });

  it('answers a bad request with 400 and the reason, naming the field', async () => {
    const bad = await call('POST', '/api/incoming', { to: '6281200001111', from: 'not a number', text: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/from/);
    const unknownQr = await call('POST', '/api/scan', { qr: 'https://wa.me/settings/linked_devices#a,b,c,d,1' });
    expect(unknownQr.status).toBe(400);
    expect(unknownQr.json.error).toMatch(/no connection is waiting/);
    expect((await call('GET', '/api/nope')).status).toBe(404);
  });

  it('triggers a fault on a device', async () => {
    const closed = client.next<{ statusCode?: number }>('close');
    expect((await call('POST', '/api/faults', { device: '6281200001111:1@s.whatsapp.net', kind: 'replaced' })).status).toBe(200);
    expect((await closed).statusCode).toBe(DisconnectReason.connectionReplaced);
  });
});
