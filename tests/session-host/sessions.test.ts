// The session host as the edge drives it over the link: devices, pairing, status, sending,
// groups, incoming messages and receipts, with webhooks to a real receiver. Real Baileys against
// the simulator, real files for state.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../../session-host/host.ts';
import type { DeviceState } from '../../session-host/link/protocol.ts';
import { verifyWebhookSignature } from '../../session-host/webhooks/signature.ts';
import { mp4, pdf, png } from '../support/fixtures.ts';
import { hostMetrics, startTestHost, TEST_SECRET } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import { WaSim } from '../wa-sim/index.ts';

const WEBHOOK_SECRET = 'webhook-secret-for-tests-0001';

let sim: WaSim;
let host: Host;
let link: LinkClient;
let receiver: WebhookReceiver;
let files: Server;
let filesUrl: string;
const served = { image: png(120, 80, 1), video: mp4(30_000), document: pdf('Invoice 7') };

beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  receiver = await new WebhookReceiver().start();
  // A file server for media URLs; 127.0.0.1 is allowed in this host (MEDIA_ALLOW_PRIVATE_NETWORKS).
  files = createServer((req, res) => {
    const type = { '/cat.png': 'image/png', '/clip.mp4': 'video/mp4', '/invoice.pdf': 'application/pdf' }[req.url ?? ''];
    const body = { '/cat.png': served.image, '/clip.mp4': served.video, '/invoice.pdf': served.document }[req.url ?? ''];
    if (!type || !body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': type, 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  host = await startTestHost(sim);
  link = await LinkClient.connect(host.url, TEST_SECRET);
});

afterAll(async () => {
  link?.close();
  await host?.stop();
  await receiver?.stop();
  files?.close();
  await sim?.stop();
});

/** Creates a device, connects it, scans its QR as the phone and waits for CONNECTED. */
async function linkedDevice(id: string, name: string): Promise<DeviceState> {
  await link.request('device.upsert', { id, name, webhookUrl: receiver.url, webhookSecret: WEBHOOK_SECRET });
  const state = await link.request('device.connect', { id });
  expect(state.status).toBe('QR');
  expect(state.qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#/);
  await sim.scanQr(state.qr!, { name });
  return link.nextEvent('device.status', (d) => d.id === id && d.status === 'CONNECTED');
}

const phoneOf = (state: DeviceState) => state.phoneNumber!;

describe('devices', () => {
  it('links by QR and reports CONNECTED with phone number and push name', async () => {
    const state = await linkedDevice('shop', 'Toko Shop');
    expect(state).toMatchObject({ id: 'shop', status: 'CONNECTED', qr: null, pushName: 'Toko Shop', totalMessagesSent: 0 });
    expect(state.phoneNumber).toMatch(/^\d+$/);
    const { devices } = await link.request('host.status', {});
    expect(devices.find((d) => d.id === 'shop')?.status).toBe('CONNECTED');
    const connected = await receiver.waitFor((r) => r.json.event === 'connection' && r.json.deviceId === 'shop' && r.json.state === 'CONNECTED');
    expect(connected.json).toMatchObject({ device: state.phoneNumber, status: 'connect' });
  });

  it('links by pairing code for a phone number', async () => {
    await link.request('device.upsert', { id: 'paired', name: 'Paired' });
    const { code } = await link.request('device.pairingCode', { id: 'paired', phone: '6281234500001' });
    expect(code).toMatch(/^[1-9A-HJ-NP-TV-Z]{8}$/);
    await sim.enterPairingCode(code, '6281234500001', 'Kode Shop');
    const state = await link.nextEvent('device.status', (d) => d.id === 'paired' && d.status === 'CONNECTED');
    expect(state.phoneNumber).toBe('6281234500001');
  });

  it('disconnect keeps the login: connecting again needs no QR', async () => {
    const before = (await link.request('host.status', {})).devices.find((d) => d.id === 'paired')!;
    const down = await link.request('device.disconnect', { id: 'paired' });
    expect(down.status).toBe('DISCONNECTED');
    await expect.poll(() => sim.devices.find((d) => d.phone === '6281234500001')?.online).toBe(false);
    const up = await link.request('device.connect', { id: 'paired' });
    expect(up.status).toBe('CONNECTED');
    expect(up.phoneNumber).toBe(before.phoneNumber);
  });

  it('log out ends the login on the phone too', async () => {
    const state = await link.request('device.logout', { id: 'paired' });
    expect(state).toMatchObject({ status: 'LOGGED_OUT', phoneNumber: null });
    await expect.poll(() => sim.devices.some((d) => d.phone === '6281234500001')).toBe(false);
    // A new connect starts a new pairing.
    expect((await link.request('device.connect', { id: 'paired' })).status).toBe('QR');
    await link.request('device.disconnect', { id: 'paired' });
  });

  it('delete removes the device and all its state', async () => {
    await linkedDevice('temp', 'Temp');
    expect(await host.store.keys('auth:temp:')).not.toHaveLength(0);
    // A file uploaded for a send: deleting the device deletes it too, not only at its expiry.
    await link.request('media.put', { deviceId: 'temp', upload: 'up_0123456789abcdef0123456789abcdef', offset: 0, total: 4, data: 'JVBERg==', mimetype: 'application/pdf', fileName: 'a.pdf' });
    expect(await host.store.keys('upload:temp:')).not.toHaveLength(0);
    expect(await link.request('device.delete', { id: 'temp' })).toEqual({ deleted: true });
    expect(await host.store.keys('auth:temp:')).toEqual([]);
    expect(await host.store.keys('device:temp:')).toEqual([]);
    expect(await host.store.keys('upload:temp:')).toEqual([]);
    await expect(link.request('device.connect', { id: 'temp' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('reconnects by itself after a dropped connection, and stops when logged out from the phone', async () => {
    const state = await linkedDevice('flaky', 'Flaky');
    const jid = sim.devices.find((d) => d.phone === phoneOf(state))!.jid;
    sim.disconnect(jid, 'close');
    await link.nextEvent('device.status', (d) => d.id === 'flaky' && d.status === 'CONNECTING');
    await sim.waitForLogin(jid);
    await expect.poll(async () => (await link.request('host.status', {})).devices.find((d) => d.id === 'flaky')?.status).toBe('CONNECTED');

    sim.disconnect(jid, 'loggedOut');
    const out = await link.nextEvent('device.status', (d) => d.id === 'flaky' && d.status === 'LOGGED_OUT');
    expect(out.reason).toMatch(/logged out/);
    expect(await host.store.keys('auth:flaky:')).toEqual([]);
    await link.request('device.delete', { id: 'flaky' });
  });

  it('refuses requests for unknown devices and bad parameters with a clear error', async () => {
    await expect(link.request('device.connect', { id: 'nope' })).rejects.toMatchObject({ code: 'not_found', message: 'no device nope on this host' });
    await expect(link.request('message.send', { deviceId: 'shop', to: 'not-a-jid' } as never)).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('to') });
  });
});

describe('sending', () => {
  let shop: DeviceState;
  beforeAll(async () => {
    shop = (await link.request('host.status', {})).devices.find((d) => d.id === 'shop')!;
  });

  it('sends a text and returns WhatsApp’s id and timestamp; the count goes up', async () => {
    const bob = sim.addContact({ phone: '6281100000001', name: 'Bob' });
    const result = await link.request('message.send', { deviceId: 'shop', to: bob.jid, text: 'Pesanan Anda sudah dikirim.' });
    expect(result).toMatchObject({ id: expect.stringMatching(/^[0-9A-F]{16,}$/), to: bob.jid });
    expect(Math.abs(result.timestamp - Date.now() / 1000)).toBeLessThan(60);
    const out = await sim.waitForOutgoing((m) => m.id === result.id);
    expect(out.text).toBe('Pesanan Anda sudah dikirim.');
    const after = (await link.request('host.status', {})).devices.find((d) => d.id === 'shop')!;
    expect(after.totalMessagesSent).toBe(shop.totalMessagesSent + 1);
  });

  for (const [type, path, mimetype] of [
    ['image', '/cat.png', 'image/png'],
    ['video', '/clip.mp4', 'video/mp4'],
    ['document', '/invoice.pdf', 'application/pdf'],
  ] as const) {
    it(`sends a${type === 'image' ? 'n' : ''} ${type} fetched from a URL, with its caption`, async () => {
      const result = await link.request('message.send', { deviceId: 'shop', to: '6281100000001@s.whatsapp.net', text: `Lihat ${type}`, media: { type, url: `${filesUrl}${path}` } });
      const out = await sim.waitForOutgoing((m) => m.id === result.id);
      expect(out.error).toBeUndefined();
      expect(out.media?.type).toBe(type);
      expect(out.media?.bytes.equals(served[type])).toBe(true);
      expect(out.media?.mimetype).toBe(mimetype);
      expect(out.text).toBe(`Lihat ${type}`);
      if (type === 'document') expect(out.media?.fileName).toBe('invoice.pdf');
    });
  }

  it('sends to a group id, and lists the groups with their names', async () => {
    const group = sim.addGroup({ subject: 'Pelanggan VIP', participants: [phoneOf(shop), '6281100000002'] });
    const { groups } = await link.request('groups.list', { deviceId: 'shop' });
    expect(groups).toContainEqual({ id: `${group.id}@g.us`, name: 'Pelanggan VIP' });
    const result = await link.request('message.send', { deviceId: 'shop', to: `${group.id}@g.us`, text: 'Promo hari ini!' });
    expect((await sim.waitForOutgoing((m) => m.id === result.id)).text).toBe('Promo hari ini!');
  });

  it('refuses to send from a device that is not connected', async () => {
    await expect(link.request('message.send', { deviceId: 'paired', to: '6281100000001@s.whatsapp.net', text: 'x' })).rejects.toMatchObject({
      code: 'not_connected',
      message: 'Device is not connected',
    });
  });

  it('sends an outbox id once: a retry gets the first answer and sends nothing', async () => {
    const params = { deviceId: 'shop', to: '6281100000001@s.whatsapp.net', text: 'exactly once', outboxId: 'obx-1' };
    const [a, b] = await Promise.all([link.request('message.send', params), link.request('message.send', params)]);
    const c = await link.request('message.send', params);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    await sim.waitForOutgoing((m) => m.id === a.id);
    expect(sim.outbox.filter((m) => m.text === 'exactly once')).toHaveLength(1);
  });
});

describe('webhooks', () => {
  it('posts an incoming message as a Fonnte user expects, signed, with id, type and both sender ids', async () => {
    const shop = (await link.request('host.status', {})).devices.find((d) => d.id === 'shop')!;
    const siti = sim.addContact({ phone: '6281200000009', name: 'Siti' });
    const { id } = await sim.sendIncoming(phoneOf(shop), siti.phone, 'Apakah barang ready?');
    const hook = await receiver.waitFor((r) => r.json.event === 'message' && r.json.id === id);
    expect(hook.json).toMatchObject({
      device: phoneOf(shop),
      deviceId: 'shop',
      sender: '6281200000009',
      senderJid: siti.jid,
      senderLid: siti.lidJid,
      message: 'Apakah barang ready?',
      name: 'Siti',
      type: 'text',
      isGroup: false,
      media: null,
    });
    expect(typeof hook.json.timestamp).toBe('number');
    const h = hook.headers;
    expect(h['x-webhook-event']).toBe('message');
    expect(h['x-webhook-id']).toBeTruthy();
    expect(verifyWebhookSignature(WEBHOOK_SECRET, String(h['x-webhook-timestamp']), hook.body, String(h['x-webhook-signature']))).toBe(true);
    expect(verifyWebhookSignature('another-secret-entirely', String(h['x-webhook-timestamp']), hook.body, String(h['x-webhook-signature']))).toBe(false);
    const event = await link.nextEvent('message.incoming', (e) => e.id === id);
    expect(event).toMatchObject({ deviceId: 'shop', text: 'Apakah barang ready?', from: '6281200000009', name: 'Siti', quotedId: null, mentions: [], media: null, details: {} });
    // The edge's inbox treats `author` as a group member: a private chat has none.
    expect(event).not.toHaveProperty('author');
  });

  it('describes incoming media and group messages', async () => {
    const shop = (await link.request('host.status', {})).devices.find((d) => d.id === 'shop')!;
    const group = sim.addGroup({ subject: 'Reseller', participants: [phoneOf(shop), '6281200000010'] });
    const { id } = await sim.sendIncoming(phoneOf(shop), '6281200000010', 'Stok ada?', { group: group.id });
    const hook = await receiver.waitFor((r) => r.json.id === id);
    expect(hook.json).toMatchObject({ isGroup: true, chat: `${group.id}@g.us`, member: '6281200000010', message: 'Stok ada?' });
    // The inbox files it under the group and names who wrote it.
    expect(await link.nextEvent('message.incoming', (e) => e.id === id)).toMatchObject({ from: `${group.id}@g.us`, author: '6281200000010', text: 'Stok ada?' });

    const image = { imageMessage: { caption: 'Bukti transfer', mimetype: 'image/jpeg', fileLength: 12345, fileSha256: Buffer.alloc(32, 7) } };
    const media = await sim.sendIncoming(phoneOf(shop), '6281200000011', image);
    const mediaHook = await receiver.waitFor((r) => r.json.id === media.id);
    expect(mediaHook.json).toMatchObject({ type: 'image', message: 'Bukti transfer', media: { mimetype: 'image/jpeg', size: 12345, sha256: '07'.repeat(32) } });
    // The inbox gets the file's description, not a link: the dashboard fetches it with its own key.
    const mediaEvent = await link.nextEvent('message.incoming', (e) => e.id === media.id);
    expect(mediaEvent.media).toEqual({ mimetype: 'image/jpeg', fileName: null, size: 12345, seconds: null, ptt: false });
  });

  it('reports sent, delivered and read for a sent message, as webhooks and link events', async () => {
    const result = await link.request('message.send', { deviceId: 'shop', to: '6281100000001@s.whatsapp.net', text: 'status please' });
    await sim.waitForOutgoing((m) => m.id === result.id);
    await receiver.waitFor((r) => r.json.event === 'status' && r.json.id === result.id && r.json.state === 'sent');
    await new Promise((resolve) => setTimeout(resolve, sim.receiptDelayMs));
    sim.sendReceipt(result.id, 'delivery');
    await receiver.waitFor((r) => r.json.event === 'status' && r.json.id === result.id && r.json.state === 'delivered');
    await new Promise((resolve) => setTimeout(resolve, sim.receiptDelayMs));
    sim.sendReceipt(result.id, 'read');
    const read = await receiver.waitFor((r) => r.json.event === 'status' && r.json.id === result.id && r.json.state === 'read');
    expect(read.json).toMatchObject({ stateid: result.id, status: 'sent', state: 'read', deviceId: 'shop' });
    await link.nextEvent('message.status', (e) => e.id === result.id && e.status === 'read');
  });
});

describe('operations', () => {
  it('serves /healthz and Prometheus /metrics', async () => {
    const health = await fetch(`${host.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const metrics = await hostMetrics(host.url);
    expect(metrics).toMatch(/^# TYPE wa_sessions gauge$/m);
    expect(metrics).toMatch(/^wa_sessions\{status="CONNECTED"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^wa_messages_sent_total [1-9]\d*$/m);
    expect(metrics).toMatch(/^wa_webhook_queue_depth \d+$/m);
    expect(metrics).toMatch(/^wa_webhook_failures_total \d+$/m);
    expect(metrics).toMatch(/^wa_link_connected 1$/m);
  });
});
