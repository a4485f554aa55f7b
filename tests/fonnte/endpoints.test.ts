// Fonnte's other endpoints (API.md corpus C30–C44), replayed as Fonnte's clients send them
// (PHP cURL multipart, urlencoded forms) against the real stack: the Worker under wrangler, the
// session host with Baileys, and the simulator showing what WhatsApp got.
import qrcode from 'qrcode-generator';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../bin/stack.ts';
import { callEdge, reportedDevice, startSimStack, until, untilConnected } from '../support/e2e.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;

beforeAll(async () => {
  ({ sim, stack } = await startSimStack('fonnte-endpoints'));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

type Fields = Record<string, string>;
/** A POST as PHP's cURL sends an array (multipart), or as a form (urlencoded); Fonnte's raw token header. */
async function fonnte(path: string, token: string, fields: Fields = {}, encoding: 'multipart' | 'urlencoded' = 'multipart') {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const body = encoding === 'multipart' ? form : new URLSearchParams(fields);
  const res = await fetch(`${stack.edgeUrl}${path}`, { method: 'POST', headers: { authorization: token }, body });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** The PNG's width and height, read from its IHDR chunk. */
function pngSize(png: Buffer) {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** The dark modules of a QR image, sampled at each module's centre (quiet zone of 4 modules). */
async function modulesOf(png: Buffer, count: number): Promise<boolean[][]> {
  const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  const px = info.width / (count + 8);
  return Array.from({ length: count }, (_, row) =>
    Array.from({ length: count }, (_, col) => data[Math.floor((row + 4.5) * px) * info.width * info.channels + Math.floor((col + 4.5) * px) * info.channels]! < 128),
  );
}

function expectedModules(text: string): { count: number; dark: boolean[][] } {
  const qr = qrcode(0, 'L');
  qr.addData(text);
  qr.make();
  const count = qr.getModuleCount();
  return { count, dark: Array.from({ length: count }, (_, row) => Array.from({ length: count }, (_, col) => qr.isDark(row, col))) };
}

const admin = () => stack.adminKey;
let token = '';
let deviceId = '';
let phone = '';

describe('Fonnte device endpoints', () => {
  it('C42 /add-device with the account token creates a device and shows its token once; a device token is an unknown user', async () => {
    const added = await fonnte('/add-device', admin(), { name: 'device name', device: '08123456789', autoread: '', personal: '', group: '1' });
    expect(added.status).toBe(200);
    expect(added.json).toEqual({
      autoread: 'off',
      device: '08123456789',
      group: 'on',
      name: 'device name',
      personal: 'off',
      status: true,
      token: expect.stringMatching(/^wa_[0-9a-f]{32}$/),
      id: expect.any(String),
    });
    token = added.json.token;
    deviceId = added.json.id;

    const bad = await fonnte('/add-device', admin(), { name: 'x', device: '0812' });
    expect(bad.status).toBe(200);
    expect(bad.json).toMatchObject({ status: false, reason: 'input invalid', detail: expect.stringContaining('name: must be 2-30 characters') });
    expect(bad.json.detail).toContain('device: must be the WhatsApp number');

    expect((await fonnte('/get-devices', token)).json).toEqual({ status: false, reason: 'unknown user', detail: expect.any(String) });
    expect((await fonnte('/device', 'sUqjkKH+UG+@3SmnKrhz')).json).toEqual({ status: false, reason: 'token invalid', detail: expect.any(String) });
  });

  it('C31 /device shows the profile; C33 /qr answers a base64 PNG of the QR the device shows, which links it; then "device already connect"', async () => {
    const before = await fonnte('/device', token);
    expect(before.json).toEqual({ device: '', device_status: 'disconnect', expired: '-', messages: 0, name: 'device name', package: 'self-hosted', quota: 'unlimited', status: true });

    const qr = await fonnte('/qr', token, { type: 'qr', whatsapp: '628123456789' });
    expect(qr.status).toBe(200);
    expect(qr.json).toEqual({ status: true, url: expect.stringMatching(/^iVBORw0KGgo[A-Za-z0-9+/=]+$/) });
    const png = Buffer.from(qr.json.url, 'base64');
    const shown = (await reportedDevice(stack, deviceId))!.qr!;
    const expected = expectedModules(shown);
    const { width, height } = pngSize(png);
    expect(width).toBe(height);
    expect(width % (expected.count + 8)).toBe(0);
    expect(await modulesOf(png, expected.count)).toEqual(expected.dark);

    ({ phone } = await sim.scanQr(shown, { name: 'Fonnte Shop' }));
    await untilConnected(stack, deviceId);
    expect((await fonnte('/qr', token, { type: 'qr' })).json).toEqual({ status: false, reason: 'device already connect' });
    expect((await fonnte('/qr', token, { type: 'code', whatsapp: phone })).json).toEqual({ status: false, reason: 'device already connect' });
    const after = await fonnte('/device', token, {}, 'urlencoded');
    expect(after.json).toMatchObject({ device: phone, device_status: 'connect', name: 'device name', status: true });
  }, 90_000);

  it('C34 /qr type=code gives a pairing code that links the phone typing it; without whatsapp it is "whatsapp required"', async () => {
    const added = await fonnte('/add-device', admin(), { name: 'kasir', device: '628123450034' }, 'urlencoded');
    const cashier = added.json.token as string;
    expect((await fonnte('/qr', cashier, { type: 'code' })).json).toMatchObject({ status: false, reason: 'whatsapp required' });
    expect((await fonnte('/qr', cashier, { type: 'barcode' })).json).toMatchObject({ status: false, reason: 'input invalid', detail: 'type: must be qr or code' });

    const res = await fonnte('/qr', cashier, { type: 'code', whatsapp: '08123450034' });
    expect(res.json).toEqual({ status: true, code: expect.stringMatching(/^[1-9A-Z]{4}-[1-9A-Z]{4}$/) });
    await sim.enterPairingCode(res.json.code.replace('-', ''), '628123450034', 'Kasir');
    await untilConnected(stack, added.json.id);
    expect((await fonnte('/device', cashier)).json).toMatchObject({ device: '628123450034', device_status: 'connect', name: 'kasir' });
  }, 90_000);

  it('C30 /validate sorts numbers into registered and not_registered; an empty target is "target required"', async () => {
    sim.notOnWhatsApp('628987654321');
    const res = await fonnte('/validate', token, { target: '08123456789,08987654321,abc', countryCode: '62' });
    expect(res.json).toEqual({ not_registered: ['628987654321', 'abc'], registered: ['628123456789'], status: true });
    expect((await fonnte('/validate', token, { target: '' }, 'urlencoded')).json).toMatchObject({ status: false, reason: 'target required' });
    // JSON, countryCode as a number, as JavaScript clients send it.
    const json = await callEdge(stack.edgeUrl, 'POST', '/validate', { key: token, json: { target: '08123456789', countryCode: 62 } });
    expect(json).toEqual({ status: 200, json: { not_registered: [], registered: ['628123456789'], status: true } });
    const many = Array.from({ length: 501 }, (_, i) => `62812000${String(i).padStart(4, '0')}`).join(',');
    expect((await fonnte('/validate', token, { target: many })).json).toMatchObject({ status: false, reason: 'target invalid', detail: 'target: at most 500 numbers per request, got 501' });
    // The account (admin) key is not a device token.
    expect((await fonnte('/validate', admin(), { target: '08123456789' })).json).toMatchObject({ status: false, reason: 'token invalid' });
  });

  it('C37 /get-whatsapp-group lists the groups the device is in; C36 /fetch-group finishes', async () => {
    const group = sim.addGroup({ subject: 'Reseller Jabar', participants: [phone, '6281300000041'] });
    const res = await fonnte('/get-whatsapp-group', token);
    expect(res.json.status).toBe(true);
    expect(res.json.data).toContainEqual({ id: `${group.id}@g.us`, name: 'Reseller Jabar' });
    expect((await fonnte('/fetch-group', token)).json).toEqual({ detail: 'update whatsapp group list finished', status: true });
  });

  it('C41 /typing shows "typing…" to the chat for duration seconds, and stop ends it at once', async () => {
    const jid = '628123456789@s.whatsapp.net';
    const states = () => sim.presences.filter((p) => p.tag === 'chatstate' && p.attrs.to === jid).map((p) => p.attrs.state);
    expect((await fonnte('/typing', token, { target: '08123456789', countryCode: '62', duration: '1', stop: '' })).json).toEqual({ status: true });
    await until(() => states().join() === 'composing', 'composing');
    // After the duration, without being asked again.
    await until(() => states().join() === 'composing,paused', 'paused after 1 s', 10_000);

    expect((await fonnte('/typing', token, { target: '08123456789', duration: '30' }, 'urlencoded')).json).toEqual({ status: true });
    expect((await fonnte('/typing', token, { target: '08123456789', stop: '1' }, 'urlencoded')).json).toEqual({ status: true });
    await until(() => states().join() === 'composing,paused,composing,paused', 'paused by stop', 5_000);
    expect((await fonnte('/typing', token, { target: 'abc', duration: '5' })).json).toMatchObject({ status: false, reason: 'target invalid', detail: expect.stringContaining('must be a phone number') });
    expect((await fonnte('/typing', token, { target: '08123456789' })).json).toMatchObject({ status: false, reason: 'duration required' });
  });

  it('C38 /status, C40 /reset-message and C39 /delete-message act on a pending message; a sent one is "sent"', async () => {
    const later = Math.floor(Date.now() / 1000) + 3600;
    const queued = await callEdge(stack.edgeUrl, 'POST', '/send', { key: token, json: { target: '08123456789', message: 'nanti', schedule: later } });
    expect(queued.json.process).toBe('pending');
    const id: string = queued.json.id[0];

    expect((await fonnte('/status', token, { id })).json).toEqual({ id, message_status: 'pending', state: 'queued', status: true });
    expect((await fonnte('/status', token, {}, 'urlencoded')).json).toMatchObject({ status: false, reason: 'id required' });
    expect((await fonnte('/status', token, { id: 'msg_nope' })).json).toMatchObject({ status: false, reason: 'invalid message id' });

    const reset = await fonnte('/reset-message', token, { id, delay: '5-10', schedule: String(later + 600), byschedule: '' });
    expect(reset.json).toEqual({ detail: '1 message rescheduled', id: [id], status: true });
    const row = await callEdge(stack.edgeUrl, 'GET', `/api/messages/${id}`, { key: token });
    expect(Date.parse(row.json.scheduledAt)).toBe((later + 600) * 1000);

    expect((await fonnte('/delete-message', token, { id })).json).toEqual({ detail: `message ${id} successfully deleted`, status: true });
    expect((await fonnte('/delete-message', token, { id })).json).toMatchObject({ status: false, reason: 'cannot delete message with status failed' });

    // byschedule: every message due with this one moves, delay apart.
    const pair = await callEdge(stack.edgeUrl, 'POST', '/send', { key: token, json: { target: '628123450051,628123450052', message: 'promo', schedule: later } });
    const [first, second] = pair.json.id as string[];
    const both = await fonnte('/reset-message', token, { id: first!, delay: '5', schedule: String(later + 60), byschedule: '1' });
    expect(both.json).toEqual({ detail: '2 messages rescheduled', id: [first, second], status: true });
    const dueOf = async (messageId: string) => Date.parse((await callEdge(stack.edgeUrl, 'GET', `/api/messages/${messageId}`, { key: token })).json.scheduledAt);
    expect([await dueOf(first!), await dueOf(second!)]).toEqual([(later + 60) * 1000, (later + 65) * 1000]);
    expect((await fonnte('/status', token, { id })).json).toMatchObject({ message_status: 'failed', status: true });

    const sent = await callEdge(stack.edgeUrl, 'POST', '/send', { key: token, json: { target: '08123456789', message: 'sekarang' } });
    await sim.waitForOutgoing((m) => m.text === 'sekarang');
    const sentId: string = sent.json.id[0];
    expect((await fonnte('/status', token, { id: sentId })).json).toMatchObject({ id: expect.any(String), message_status: 'sent', status: true });
    expect((await fonnte('/delete-message', token, { id: sentId })).json).toMatchObject({ status: false, reason: 'cannot delete message with status sent' });
  });

  it('C43 /update-device renames the device and sets its webhook URLs; C32 /get-devices lists it with a masked token', async () => {
    const update = await fonnte('/update-device', token, {
      name: 'Toko Baru',
      device: phone,
      webhook: 'https://example.com/hook',
      webhookconnect: '',
      autoread: '',
      quick: '',
      target: '08123456789',
      countryCode: '62',
    });
    expect(update.json).toEqual({ detail: 'device updated', status: true });
    expect((await fonnte('/update-device', token, { webhook: 'ftp://x' })).json).toMatchObject({ status: false, reason: 'input invalid', detail: 'webhook: must be an http(s) URL' });

    const list = await fonnte('/get-devices', admin());
    expect(list.json).toMatchObject({ status: true, type: 'device', devices: expect.any(Number), connected: expect.any(Number), messages: expect.any(Number) });
    const mine = list.json.data.find((d: { id: string }) => d.id === deviceId);
    expect(mine).toEqual({
      autoread: 'off',
      device: phone,
      expired: '-',
      id: deviceId,
      name: 'Toko Baru',
      package: 'self-hosted',
      quota: 'unlimited',
      status: 'connect',
      token: `${token.slice(0, 7)}…${token.slice(-4)}`,
    });
    const admin2 = await callEdge(stack.edgeUrl, 'GET', `/api/devices/${deviceId}`, { key: `Bearer ${admin()}` });
    // As on Fonnte, statuses and device status go only to their own URLs: none was given, so none.
    expect(admin2.json).toMatchObject({ name: 'Toko Baru', webhookUrl: 'https://example.com/hook', statusWebhookUrl: '', connectionWebhookUrl: '' });
    await fonnte('/update-device', token, { webhookstatus: 'https://example.com/status', webhookconnect: 'https://example.com/connect' });
    const again = await callEdge(stack.edgeUrl, 'GET', `/api/devices/${deviceId}`, { key: `Bearer ${admin()}` });
    expect(again.json).toMatchObject({ webhookUrl: 'https://example.com/hook', statusWebhookUrl: 'https://example.com/status', connectionWebhookUrl: 'https://example.com/connect' });
  });

  it('C35 /disconnect unlinks the device once; C36 then cannot fetch; C44 /delete-device needs the account token', async () => {
    expect((await fonnte('/disconnect', token)).json).toEqual({ detail: 'device disconnected', status: true });
    await until(async () => (await reportedDevice(stack, deviceId))?.status !== 'CONNECTED', 'disconnected');
    expect((await fonnte('/disconnect', token)).json).toEqual({ detail: 'device already disconnected', status: false });
    expect((await fonnte('/fetch-group', token)).json).toEqual({ detail: 'cannot fetch with disconnected device', status: false });
    // Unlinked as on Fonnte: linking again starts with a new QR code.
    expect((await fonnte('/qr', token)).json).toEqual({ status: true, url: expect.stringMatching(/^iVBORw0KGgo/) });

    expect((await fonnte('/delete-device', token, { otp: '' })).json).toMatchObject({ status: false, reason: "otp haven't requested" });
    // Unlinked, it has no number any more: the answer names it by its id.
    expect((await fonnte('/delete-device', admin(), { device: deviceId })).json).toEqual({ detail: `device ${deviceId} successfully deleted`, status: true });
    expect((await fonnte('/device', token)).json).toMatchObject({ status: false, reason: 'token invalid' });
  });
});
