// Webhooks as a Fonnte receiver reads them: each incoming body carries Fonnte's fields filled as
// Fonnte fills them (API.md §4.1's real bodies, H1-H5), statuses carry the id the API answered
// (H6), device status says connect/disconnect (H7), each kind goes to its own URL, and a receiver
// answering 302 (Google Apps Script) gets the event once. Real Baileys on the host, the simulator
// playing WhatsApp and the people writing to the device.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../../session-host/host.ts';
import { startTestHost, TEST_SECRET } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { type Received, WebhookReceiver } from '../support/receiver.ts';
import { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let host: Host;
let link: LinkClient;
/** Fonnte's three URLs: incoming messages, message statuses, device status. */
let messages: WebhookReceiver;
let statuses: WebhookReceiver;
let connections: WebhookReceiver;
let shop: string; // the device's phone number
const buyer = '6281300000001';
const buyerJid = `${buyer}@s.whatsapp.net`;
const EDGE = 'https://gw.example.com';

/** Every field of Fonnte's incoming-message body (API.md §4.1, both real bodies), and the timestamp added in Jan 2026. */
const FONNTE_FIELDS = [
  'quick',
  'device',
  'pesan',
  'pengirim',
  'member',
  'message',
  'text',
  'sender',
  'name',
  'location',
  'url',
  'type',
  'extension',
  'filename',
  'pollname',
  'choices',
  'inboxid',
  'isgroup',
  'isforwarded',
  'timestamp',
] as const;

/** The Fonnte fields of a body, to compare whole: a missing field shows as undefined, not as a pass. */
const fonnteView = (json: Record<string, unknown>) => Object.fromEntries(FONNTE_FIELDS.map((field) => [field, json[field]]));

/** What Fonnte sends for a plain private text, which the other cases differ from. */
const privateText = (id: string, message: string) => ({
  quick: false,
  device: shop,
  pesan: message,
  pengirim: buyer,
  member: '',
  message,
  text: 'non-button message',
  sender: buyer,
  name: 'Budi',
  location: '',
  url: '',
  type: 'text',
  extension: '',
  filename: '',
  pollname: '',
  choices: [],
  inboxid: id,
  isgroup: false,
  isforwarded: false,
  timestamp: expect.any(Number),
});

const hookOf = async (id: string) => (await messages.waitFor((r) => r.json.event === 'message' && r.json.id === id)).json;
const statusesOf = (id: string) => statuses.received.filter((r) => r.json.id === id).map((r) => r.json);

beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  [messages, statuses, connections] = await Promise.all([new WebhookReceiver().start(), new WebhookReceiver().start(), new WebhookReceiver().start()]);
  host = await startTestHost(sim);
  link = await LinkClient.connect(host.url, TEST_SECRET);
  await link.request('device.upsert', {
    id: 'shop',
    name: 'Toko',
    webhookUrl: messages.url,
    statusWebhookUrl: statuses.url,
    connectionWebhookUrl: connections.url,
    webhookSecret: 'webhook-secret-for-fonnte-hooks',
    edgeUrl: EDGE,
  });
  const { qr } = await link.request('device.connect', { id: 'shop' });
  await sim.scanQr(qr!, { name: 'Toko' });
  shop = (await link.nextEvent('device.status', (d) => d.id === 'shop' && d.status === 'CONNECTED')).phoneNumber!;
  sim.addContact({ phone: buyer, name: 'Budi' });
});

afterAll(async () => {
  link?.close();
  await host?.stop();
  await Promise.all([messages?.stop(), statuses?.stop(), connections?.stop()]);
  await sim?.stop();
});

describe('incoming messages (webhook)', () => {
  it('H1: a private text is Fonnte’s body, field by field', async () => {
    const { id } = await sim.sendIncoming(shop, buyer, 'Halo');
    expect(fonnteView(await hookOf(id))).toEqual(privateText(id, 'Halo'));
  });

  it('H2: a group text names the group (with @g.us) as sender, the writer as member', async () => {
    const group = sim.addGroup({ subject: 'Cider party', participants: [shop, buyer] });
    const text = `@${shop} minfo Cider party`;
    const { id } = await sim.sendIncoming(shop, buyer, text, { group: group.id });
    expect(fonnteView(await hookOf(id))).toEqual({ ...privateText(id, text), sender: `${group.id}@g.us`, pengirim: `${group.id}@g.us`, member: buyer, isgroup: true });
  });

  it('H3: an image with a caption carries its download link, file name and extension; a document keeps its own name', async () => {
    const file = { fileLength: 2048, fileSha256: Buffer.alloc(32, 9) };
    const image = await sim.sendIncoming(shop, buyer, { imageMessage: { ...file, mimetype: 'image/jpeg', caption: 'Bukti transfer' } });
    const hook = await hookOf(image.id);
    expect(fonnteView(hook)).toEqual({
      ...privateText(image.id, 'Bukti transfer'),
      type: 'image',
      url: expect.stringMatching(new RegExp(`^${EDGE}/\\S+${image.id}\\S*\\?expires=\\d+&sig=`)),
      filename: `${image.id}.jpg`,
      extension: 'jpg',
    });
    expect(hook.url).toBe((hook.media as { url: string }).url);

    const pdf = await sim.sendIncoming(shop, buyer, { documentMessage: { ...file, mimetype: 'application/pdf', fileName: 'Invoice-7.PDF' } });
    expect(await hookOf(pdf.id)).toMatchObject({ type: 'document', message: '', filename: 'Invoice-7.PDF', extension: 'pdf', url: expect.stringContaining(pdf.id) });
  });

  it('H4: a location is "lat,long"', async () => {
    const { id } = await sim.sendIncoming(shop, buyer, { locationMessage: { degreesLatitude: -6.175392, degreesLongitude: 106.827153, name: 'Monas' } });
    expect(fonnteView(await hookOf(id))).toEqual({ ...privateText(id, 'Monas'), type: 'location', location: '-6.175392,106.827153' });
  });

  it('H5: a poll vote names the poll and the chosen options', async () => {
    const { id: poll } = await link.request('message.send', { deviceId: 'shop', to: buyerJid, poll: { name: 'Warna favorit?', options: ['Merah', 'Hijau', 'Biru'], multiple: true } });
    await sim.waitForOutgoing((m) => m.id === poll);
    const vote = await sim.votePoll(poll, buyer, ['Biru', 'Merah']);
    expect(fonnteView(await hookOf(vote.id))).toEqual({ ...privateText(vote.id, 'Biru, Merah'), type: 'poll_vote', pollname: 'Warna favorit?', choices: ['Biru', 'Merah'] });
  });

  it('a button reply’s text is `text`; a forwarded message says so', async () => {
    const reply = await sim.sendIncoming(shop, buyer, { buttonsResponseMessage: { selectedButtonId: 'yes', selectedDisplayText: 'Ya, kirim', type: 1 } });
    expect(await hookOf(reply.id)).toMatchObject({ text: 'Ya, kirim', message: 'Ya, kirim', pesan: 'Ya, kirim' });
    const forwarded = await sim.sendIncoming(shop, buyer, { extendedTextMessage: { text: 'Promo!', contextInfo: { isForwarded: true, forwardingScore: 1 } } });
    expect(fonnteView(await hookOf(forwarded.id))).toEqual({ ...privateText(forwarded.id, 'Promo!'), isforwarded: true });
  });

  it('a sender WhatsApp names by LID alone is still a phone number (its LID in senderLid)', async () => {
    // The device learns the number behind the LID from an earlier message that carried both.
    const person = sim.addContact({ phone: '6281300000009', name: 'Lia' });
    await hookOf((await sim.sendIncoming(shop, person.phone, 'Halo')).id);
    const { id } = await sim.sendIncoming(shop, person.phone, 'Lewat LID', { fromLid: true });
    const hook = await hookOf(id);
    expect(hook).toMatchObject({ sender: '6281300000009', pengirim: '6281300000009', member: '', senderLid: person.lidJid, chat: person.lidJid });
  });

  it('go to the messages URL only: no status or device-status body there, no message at the other URLs', () => {
    expect(messages.received.filter((r) => r.json.event !== 'message')).toEqual([]);
    expect([...statuses.received, ...connections.received].filter((r) => r.json.event === 'message')).toEqual([]);
  });
});

describe('message statuses (webhook status)', () => {
  it('H6: a send answered at once: `id` is the WhatsApp id the API answered, `state` moves on', async () => {
    const { id } = await link.request('message.send', { deviceId: 'shop', to: buyerJid, text: 'Pesanan dikirim', outboxId: 'msg_now_1' });
    await statuses.waitFor((r) => r.json.id === id && r.json.state === 'sent');
    sim.sendReceipt(id, 'delivery');
    await statuses.waitFor((r) => r.json.id === id && r.json.state === 'delivered');
    expect(statusesOf(id).map(({ device, id, stateid, status, state }) => ({ device, id, stateid, status, state }))).toEqual([
      { device: shop, id, stateid: id, status: 'sent', state: 'sent' },
      { device: shop, id, stateid: id, status: 'sent', state: 'delivered' },
    ]);
    expect(statusesOf(id)[0]).toMatchObject({ event: 'status', messageId: 'msg_now_1', to: buyerJid });
  });

  it('H6: a queued send: every status carries the log id the API answered, WhatsApp’s id in stateid', async () => {
    // The edge reports the queueing (it alone sees it), then its outbox has the host send.
    await link.request('webhook.status', { deviceId: 'shop', messageId: 'msg_queued_1', to: buyer, status: 'queued', reason: null, timestamp: Math.floor(Date.now() / 1000) });
    const { id: waId } = await link.request('message.send', { deviceId: 'shop', to: buyerJid, text: 'Terjadwal', outboxId: 'msg_queued_1', queued: true });
    await statuses.waitFor((r) => r.json.id === 'msg_queued_1' && r.json.state === 'sent');
    sim.sendReceipt(waId, 'read');
    await statuses.waitFor((r) => r.json.id === 'msg_queued_1' && r.json.state === 'read');
    expect(statusesOf('msg_queued_1').map(({ device, id, stateid, status, state }) => ({ device, id, stateid, status, state }))).toEqual([
      { device: shop, id: 'msg_queued_1', stateid: null, status: 'pending', state: 'queued' },
      { device: shop, id: 'msg_queued_1', stateid: waId, status: 'sent', state: 'sent' },
      { device: shop, id: 'msg_queued_1', stateid: waId, status: 'sent', state: 'read' },
    ]);
    expect(statusesOf(waId)).toEqual([]);
  });

  it('go to the status URL only', () => {
    expect(statuses.received.length).toBeGreaterThan(0);
    expect([...messages.received, ...connections.received].filter((r) => r.json.event === 'status')).toEqual([]);
  });
});

describe('device status (webhook connect)', () => {
  it('H7: connect and disconnect, to the device-status URL only', async () => {
    const fonnte = (r: Received) => ({ device: r.json.device, status: r.json.status, state: r.json.state, reason: r.json.reason, timestamp: r.json.timestamp });
    expect(fonnte(await connections.waitFor((r) => r.json.status === 'connect'))).toEqual({ device: shop, status: 'connect', state: 'CONNECTED', reason: null, timestamp: expect.any(Number) });
    await link.request('device.disconnect', { id: 'shop' });
    expect(fonnte(await connections.waitFor((r) => r.json.status === 'disconnect'))).toEqual({ device: shop, status: 'disconnect', state: 'DISCONNECTED', reason: null, timestamp: expect.any(Number) });
    expect([...messages.received, ...statuses.received].filter((r) => r.json.event === 'connection')).toEqual([]);
    await link.request('device.connect', { id: 'shop' });
    await connections.waitFor((r) => r.json.status === 'connect' && r !== connections.received[0]);
  });

  it('"" sends none of that kind; null sends it to the messages URL', async () => {
    await link.request('device.upsert', { id: 'shop', webhookUrl: messages.url, statusWebhookUrl: '', connectionWebhookUrl: null });
    const { id } = await link.request('message.send', { deviceId: 'shop', to: buyerJid, text: 'Tanpa status' });
    await sim.waitForOutgoing((m) => m.id === id);
    await link.request('device.disconnect', { id: 'shop' });
    await messages.waitFor((r) => r.json.event === 'connection' && r.json.status === 'disconnect');
    expect([...messages.received, ...statuses.received].filter((r) => r.json.id === id)).toEqual([]);
    await link.request('device.upsert', { id: 'shop', statusWebhookUrl: statuses.url, connectionWebhookUrl: connections.url });
    await link.request('device.connect', { id: 'shop' });
  });
});

describe('a receiver answering 302 (Google Apps Script)', () => {
  it('gets the event once: a redirect counts as delivered and is not followed', async () => {
    const appsScript = await new WebhookReceiver().start();
    appsScript.status = 302;
    try {
      await link.request('device.upsert', { id: 'shop', webhookUrl: appsScript.url });
      const { id } = await sim.sendIncoming(shop, buyer, 'Sekali saja');
      await appsScript.waitFor((r) => r.json.id === id);
      // Test retries start after 100 ms: a failed delivery would have come again by now.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(appsScript.received.map((r) => r.json.id)).toEqual([id]);
    } finally {
      await appsScript.stop();
    }
  });
});
