// The whole gateway as its users meet it: the real Worker under `wrangler dev`, the real session
// host process, and the WhatsApp simulator, driven only through the documented HTTP API.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimStack, until } from '../support/e2e.ts';
import { mp4, pdf, png } from '../support/fixtures.ts';
import type { Stack } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let files: Server;
let filesUrl: string;
const media = { image: png(90, 60, 5), video: mp4(25_000), document: pdf('Faktur 99') };

interface Device {
  id: string;
  apiKey: string;
}
let deviceA: Device;
let deviceB: Device;
let phoneA: string;

beforeAll(async () => {
  files = createServer((req, res) => {
    const found = { '/photo.png': ['image/png', media.image], '/clip.mp4': ['video/mp4', media.video], '/faktur.pdf': ['application/pdf', media.document] }[req.url ?? ''] as [string, Buffer] | undefined;
    if (!found) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': found[0] }).end(found[1]);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  ({ sim, stack } = await startSimStack('e2e', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  files?.close();
  await sim?.stop();
});

async function call(method: string, path: string, options: { key?: string; json?: unknown; body?: RequestInit['body']; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = options.key;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const res = await fetch(`${stack.edgeUrl}${path}`, { method, headers, body });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${path}: ${res.status} answered non-JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, json: json as Record<string, any> };
}

const admin = () => `Bearer ${stack.adminKey}`;

async function statusOf(id: string) {
  const { json } = await call('GET', '/api/status', { key: admin() });
  return (json.devices as Record<string, any>[]).find((d) => d.id === id)!;
}

async function waitForStatus(id: string, status: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const device = await statusOf(id);
    if (device?.status === status) return device;
    if (Date.now() > deadline) throw new Error(`device ${id} is ${device?.status}, not ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the gateway, end to end', () => {
  it('creates a device, connects it, and shows CONNECTED with phone and push name once the phone scans', async () => {
    const created = await call('POST', '/api/devices', { key: admin(), json: { name: 'Toko Utama' } });
    expect(created.status).toBe(201);
    expect(created.json.apiKey).toMatch(/^wa_[0-9a-f]{32}$/);
    deviceA = created.json as Device;
    deviceB = (await call('POST', '/api/devices', { key: admin(), json: { name: 'Toko Cabang' } })).json as Device;

    const connect = await call('POST', `/api/devices/${deviceA.id}/connect`, { key: admin() });
    expect(connect.status).toBe(200);
    const qr = connect.json.qr ?? (await waitForStatus(deviceA.id, 'QR')).qr;
    expect(qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#/);
    expect(await statusOf(deviceA.id)).toMatchObject({ hasQr: true, authenticated: false });

    const linked = await sim.scanQr(qr, { name: 'Toko Utama WA' });
    phoneA = linked.phone;
    const device = await waitForStatus(deviceA.id, 'CONNECTED');
    expect(device).toMatchObject({ authenticated: true, hasQr: false, qr: null, phoneNumber: phoneA, pushName: 'Toko Utama WA', name: 'Toko Utama' });
    expect(device.apiKey).not.toBe(deviceA.apiKey); // only the masked key is ever shown again
  });

  it('sends with /send as Fonnte clients do: JSON, urlencoded and multipart bodies', async () => {
    const budi = sim.addContact({ phone: '6281234567001', name: 'Budi' });
    const json = await call('POST', '/send', { key: deviceA.apiKey, json: { target: '081234567001', message: 'via JSON' } });
    expect(json.status).toBe(200);
    expect(json.json).toMatchObject({ status: true, reason: 'Message sent successfully' });

    const form = await call('POST', '/send', {
      key: deviceA.apiKey,
      body: new URLSearchParams({ target: '+62 812-3456-7001', message: 'via urlencoded' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.json).toMatchObject({ status: true });

    const multipart = new FormData();
    multipart.set('to', '6281234567001');
    multipart.set('message', 'via multipart');
    expect((await call('POST', '/send', { key: `Bearer ${deviceA.apiKey}`, body: multipart })).json).toMatchObject({ status: true });

    for (const text of ['via JSON', 'via urlencoded', 'via multipart']) {
      const out = await sim.waitForOutgoing((m) => m.text === text);
      expect(out.to).toBe(budi.jid);
    }
  });

  it('sends with /api/send-message and answers the seed’s shape', async () => {
    const res = await call('POST', '/api/send-message', { key: `Bearer ${deviceA.apiKey}`, json: { to: '6281234567002', message: 'Pesanan #42 sudah dikirim' } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ success: true, message: 'Message dispatched successfully', id: expect.any(String), to: '6281234567002', timestamp: expect.any(Number) });
    const out = await sim.waitForOutgoing((m) => m.id === res.json.id);
    expect(out.text).toBe('Pesanan #42 sudah dikirim');
  });

  for (const [type, path] of [
    ['image', '/photo.png'],
    ['video', '/clip.mp4'],
    ['document', '/faktur.pdf'],
  ] as const) {
    it(`sends a${type === 'image' ? 'n' : ''} ${type} with /api/send-media; the simulator decrypts those exact bytes`, async () => {
      const res = await call('POST', '/api/send-media', { key: `Bearer ${deviceA.apiKey}`, json: { to: '6281234567003', url: `${filesUrl}${path}`, caption: `Ini ${type}`, type } });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ success: true, message: `${type} message dispatched successfully`, to: '6281234567003' });
      const out = await sim.waitForOutgoing((m) => m.id === res.json.id);
      expect(out.media?.type).toBe(type);
      expect(out.media?.bytes.equals(media[type])).toBe(true);
      expect(out.text).toBe(`Ini ${type}`);
    });
  }

  it('sends a location, contact cards and polls that the recipient decrypts as WhatsApp shows them, each logged with its type', async () => {
    const key = `Bearer ${deviceA.apiKey}`;
    const sent = async (path: string, json: object, message: string) => {
      const res = await call('POST', path, { key, json: { to: '6281234567010', ...json } });
      expect(res).toMatchObject({ status: 200, json: { success: true, message, id: expect.any(String), to: '6281234567010', timestamp: expect.any(Number) } });
      return (await sim.waitForOutgoing((m) => m.id === res.json.id)).message!;
    };
    const location = await sent('/api/send-location', { latitude: -6.2, longitude: 106.816666, name: 'Toko Maju', address: 'Jl. Sudirman 1' }, 'Location dispatched successfully');
    expect(location.locationMessage).toMatchObject({ degreesLatitude: -6.2, degreesLongitude: 106.816666, name: 'Toko Maju', address: 'Jl. Sudirman 1' });

    const one = await sent('/api/send-contact', { contacts: [{ name: 'Budi; Toko', phone: '0812-3456-7890', organization: 'Maju' }] }, 'Contact dispatched successfully');
    expect(one.contactMessage?.displayName).toBe('Budi; Toko');
    expect(one.contactMessage?.vcard).toContain('TEL;type=CELL;type=VOICE;waid=6281234567890:+6281234567890');
    expect(one.contactMessage?.vcard).toContain('FN:Budi\\; Toko');
    const two = await sent(
      '/api/send-contact',
      {
        contacts: [
          { name: 'Ani', phone: '6281111111111' },
          { name: 'Citra', phone: '6282222222222' },
        ],
      },
      'Contact dispatched successfully',
    );
    expect(two.contactsArrayMessage?.contacts?.map((c) => c.displayName)).toEqual(['Ani', 'Citra']);

    const single = await sent('/api/send-poll', { name: 'Jam berapa?', options: ['09:00', '13:00'] }, 'Poll dispatched successfully');
    expect(single.pollCreationMessageV3).toMatchObject({ name: 'Jam berapa?', options: [{ optionName: '09:00' }, { optionName: '13:00' }], selectableOptionsCount: 1 });
    const multiple = await sent('/api/send-poll', { name: 'Rasa?', options: ['Coklat', 'Keju', 'Susu'], multiple: true }, 'Poll dispatched successfully');
    expect(multiple.pollCreationMessage).toMatchObject({ name: 'Rasa?', selectableOptionsCount: 0 });
    expect(multiple.pollCreationMessage?.options).toHaveLength(3);
    // The poll carries the secret its votes are encrypted with.
    expect(multiple.messageContextInfo?.messageSecret?.length).toBe(32);

    const { json } = await call('GET', '/api/messages?limit=5', { key });
    expect((json.messages as { type: string; preview: string }[]).map((m) => [m.type, m.preview])).toEqual([
      ['poll', 'Rasa?'],
      ['poll', 'Jam berapa?'],
      ['contact', 'Ani, Citra'],
      ['contact', 'Budi; Toko'],
      ['location', 'Toko Maju, Jl. Sudirman 1'],
    ]);
  });

  it('reacts to a message it sent and to one it received, and takes a reaction back', async () => {
    const key = `Bearer ${deviceA.apiKey}`;
    const mine = await call('POST', '/api/send-message', { key, json: { to: '6281234567011', message: 'Pesanan siap' } });
    const react = (to: string, messageId: string, emoji: string) => call('POST', '/api/send-reaction', { key, json: { to, messageId, emoji } });
    const onMine = await react('6281234567011', mine.json.id, '👍');
    expect(onMine).toMatchObject({ status: 200, json: { success: true, message: 'Reaction dispatched successfully' } });
    expect((await sim.waitForOutgoing((m) => m.id === onMine.json.id)).message?.reactionMessage).toMatchObject({ text: '👍', key: { id: mine.json.id, fromMe: true } });

    const { id: theirs } = await sim.sendIncoming(phoneA, '6281234567012', 'Masih ada stok?');
    const onTheirs = await until(async () => {
      const res = await react('6281234567012', theirs, '❤️');
      return res.status === 200 && res;
    }, 'the incoming message remembered');
    const reaction = (await sim.waitForOutgoing((m) => m.id === onTheirs.json.id)).message?.reactionMessage;
    expect(reaction).toMatchObject({ text: '❤️', key: { id: theirs, fromMe: false, remoteJid: '6281234567012@s.whatsapp.net' } });

    const undone = await react('6281234567012', theirs, '');
    expect((await sim.waitForOutgoing((m) => m.id === undone.json.id)).message?.reactionMessage).toMatchObject({ text: '', key: { id: theirs } });
  });

  it('replies to a message it received, quoting it, with a mention; and to one it sent; a poll too', async () => {
    const key = `Bearer ${deviceA.apiKey}`;
    const { id: asked } = await sim.sendIncoming(phoneA, '6281234567014', 'Ada warna merah?');
    const json = { to: '6281234567014', message: 'Ada, @6281234567014!', quotedId: asked, mentions: ['6281234567014'] };
    const reply = await until(async () => {
      const res = await call('POST', '/api/send-message', { key, json });
      return res.status === 200 && res;
    }, 'the incoming message remembered');
    const out = (await sim.waitForOutgoing((m) => m.id === reply.json.id)).message!;
    expect(out.extendedTextMessage?.text).toBe('Ada, @6281234567014!');
    const context = out.extendedTextMessage?.contextInfo;
    expect(context).toMatchObject({ stanzaId: asked, participant: '6281234567014@s.whatsapp.net', mentionedJid: ['6281234567014@s.whatsapp.net'] });
    expect(context?.quotedMessage?.conversation ?? context?.quotedMessage?.extendedTextMessage?.text).toBe('Ada warna merah?');

    const pin = await call('POST', '/api/send-location', { key, json: { to: '6281234567014', latitude: -6.2, longitude: 106.8, name: 'Toko', quotedId: reply.json.id } });
    const quoted = (await sim.waitForOutgoing((m) => m.id === pin.json.id)).message!.locationMessage?.contextInfo;
    expect(quoted).toMatchObject({ stanzaId: reply.json.id, participant: `${phoneA}@s.whatsapp.net` });
    expect(quoted?.quotedMessage?.extendedTextMessage?.text).toBe('Ada, @6281234567014!');

    // A poll carries its quote and mentions on the poll itself (its first field is the vote secret).
    const poll = await call('POST', '/api/send-poll', { key, json: { to: '6281234567014', name: 'Merah atau biru?', options: ['Merah', 'Biru'], quotedId: asked, mentions: ['6281234567014'] } });
    expect(poll.status).toBe(200);
    const created = (await sim.waitForOutgoing((m) => m.id === poll.json.id)).message!;
    const pollContext = (created.pollCreationMessageV3 ?? created.pollCreationMessage)?.contextInfo;
    expect(pollContext).toMatchObject({ stanzaId: asked, participant: '6281234567014@s.whatsapp.net', mentionedJid: ['6281234567014@s.whatsapp.net'] });
    expect(pollContext?.quotedMessage?.conversation ?? pollContext?.quotedMessage?.extendedTextMessage?.text).toBe('Ada warna merah?');
    expect(created.messageContextInfo?.messageSecret?.length).toBe(32);
  });

  it('refuses bad rich messages with a 400 that names the field, and sends nothing', async () => {
    const key = `Bearer ${deviceA.apiKey}`;
    const before = sim.outbox.length;
    const refused = async (path: string, json: object) => (await call('POST', path, { key, json: { to: '6281234567013', ...json } })).json;
    expect(await refused('/api/send-location', { latitude: 200, longitude: 10 })).toEqual({ error: 'latitude: must be between -90 and 90' });
    expect(await refused('/api/send-poll', { name: 'Only one?', options: ['Ya'] })).toEqual({ error: 'options: needs 2 to 12 options' });
    expect(await refused('/api/send-contact', { contacts: [{ name: 'X', phone: 'not a phone' }] })).toMatchObject({ error: expect.stringMatching(/^contacts\.0\.phone: /) });
    expect(await refused('/api/send-message', { message: 'hi', quotedId: '3EB0NOSUCHMESSAGE' })).toEqual({
      error: expect.stringContaining('quotedId: this device sent or received no message 3EB0NOSUCHMESSAGE'),
    });
    expect(await refused('/api/send-message', { message: 'hi', mentions: ['not a number'] })).toMatchObject({ error: expect.stringMatching(/^mentions\.0: /) });
    const unknown = await call('POST', '/api/send-reaction', { key, json: { to: '6281234567013', messageId: '3EB0NOSUCHMESSAGE', emoji: '👍' } });
    expect(unknown).toMatchObject({ status: 400, json: { error: expect.stringContaining('messageId: this device sent or received no message 3EB0NOSUCHMESSAGE') } });
    expect(sim.outbox.length).toBe(before);
  });

  it('lists the device’s WhatsApp groups', async () => {
    const group = sim.addGroup({ subject: 'Family Group', participants: [phoneA, '6281234567004'] });
    const res = await call('GET', `/api/devices/${deviceA.id}/wa-groups`, { key: `Bearer ${deviceA.apiKey}` });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ success: true, groups: [{ id: `${group.id}@g.us`, name: 'Family Group' }] });
  });

  it('does not let device A’s key act on device B', async () => {
    const groups = await call('GET', `/api/devices/${deviceB.id}/wa-groups`, { key: `Bearer ${deviceA.apiKey}` });
    expect([401, 403, 404]).toContain(groups.status);
    const status = await call('GET', '/api/status', { key: `Bearer ${deviceA.apiKey}` });
    expect((status.json.devices as { id: string }[]).map((d) => d.id)).toEqual([deviceA.id]);
    const connect = await call('POST', `/api/devices/${deviceB.id}/connect`, { key: `Bearer ${deviceA.apiKey}` });
    expect([401, 403, 404]).toContain(connect.status);
  });

  it('keeps one link open to the host between requests', async () => {
    const links = async () => ((await (await fetch(`${stack.hostUrl}/healthz`)).json()) as { links: number }).links;
    expect(await links()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 6_000)); // longer than the dial timeout
    expect(await links()).toBe(1);
  });

  it('answers the seed’s 503 within 5 s when the host is killed, and works again after a restart without a new scan', async () => {
    stack.host.kill('SIGKILL');
    await new Promise((resolve) => stack.host.once('exit', resolve));
    const started = Date.now();
    const res = await call('POST', '/api/send-message', { key: `Bearer ${deviceA.apiKey}`, json: { to: '6281234567005', message: 'while the host is down' } });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res.status).toBe(503);
    expect(res.json).toEqual({ error: expect.stringMatching(/^Failed to send message: /) });
    // Fonnte's /send queues instead, and the message goes out once the host is back.
    const fonnte = await call('POST', '/send', { key: deviceA.apiKey, json: { target: '6281234567005', message: 'queued while the host is down' } });
    expect(fonnte.status).toBe(200);
    expect(fonnte.json).toMatchObject({ status: true, detail: 'success! message in queue', process: 'pending' });
    expect((await call('GET', '/api/status', { key: admin() })).json).toMatchObject({ hostOnline: false, publicUrl: null });

    // Deleted while the host is away: the host drops it when the link comes back.
    expect((await call('DELETE', `/api/devices/${deviceB.id}`, { key: admin() })).status).toBe(200);

    const scans = sim.pendingRegistrations.length;
    await stack.restartHost();
    await waitForStatus(deviceA.id, 'CONNECTED', 40_000);
    expect((await call('GET', '/api/status', { key: admin() })).json.hostOnline).toBe(true);
    const hostDevices = async () => ((await (await fetch(`${stack.hostUrl}/healthz`)).json()) as { devices: number }).devices;
    await expect.poll(hostDevices, { timeout: 10_000 }).toBe(1);
    expect(sim.pendingRegistrations.length).toBe(scans);
    const again = await call('POST', '/api/send-message', { key: `Bearer ${deviceA.apiKey}`, json: { to: '6281234567005', message: 'back again' } });
    expect(again.status).toBe(200);
    expect((await sim.waitForOutgoing((m) => m.id === again.json.id)).text).toBe('back again');
    await sim.waitForOutgoing((m) => m.text === 'queued while the host is down', 30_000);
  });
});
