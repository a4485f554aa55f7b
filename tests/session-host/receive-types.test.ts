// Every kind of incoming message, and group changes, as the device's webhook describes them: real
// Baileys on the host decrypts what the simulator's contacts send, as WhatsApp's apps send it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../../session-host/host.ts';
import { startTestHost, TEST_SECRET } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let host: Host;
let link: LinkClient;
let receiver: WebhookReceiver;
let shop: string; // the device's phone number
const buyer = '6281300000001';
const buyerJid = `${buyer}@s.whatsapp.net`;

beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  receiver = await new WebhookReceiver().start();
  host = await startTestHost(sim);
  link = await LinkClient.connect(host.url, TEST_SECRET);
  await link.request('device.upsert', { id: 'shop', name: 'Toko', webhookUrl: receiver.url, webhookSecret: 'webhook-secret-for-receive-types' });
  const { qr } = await link.request('device.connect', { id: 'shop' });
  await sim.scanQr(qr!, { name: 'Toko' });
  shop = (await link.nextEvent('device.status', (d) => d.id === 'shop' && d.status === 'CONNECTED')).phoneNumber!;
  sim.addContact({ phone: buyer, name: 'Budi' });
});

afterAll(async () => {
  link?.close();
  await host?.stop();
  await receiver?.stop();
  await sim?.stop();
});

/** The `message` webhook of incoming message `id`. */
const hookOf = async (id: string) => (await receiver.waitFor((r) => r.json.event === 'message' && r.json.id === id)).json;

/** Sends a text from the device and returns WhatsApp's id for it. */
async function sent(params: Record<string, unknown>): Promise<string> {
  const { id } = await link.request('message.send', { deviceId: 'shop', to: buyerJid, ...params } as never);
  await sim.waitForOutgoing((m) => m.id === id);
  return id;
}

const file = { fileLength: 2048, fileSha256: Buffer.alloc(32, 9) };

describe('incoming messages', () => {
  it('a text keeps its Fonnte fields, with no quote, mentions or view-once', async () => {
    const { id } = await sim.sendIncoming(shop, buyer, 'Halo');
    expect(await hookOf(id)).toMatchObject({ type: 'text', message: 'Halo', sender: buyer, name: 'Budi', quotedId: null, mentions: [], viewOnce: false, media: null });
  });

  it('a location with its coordinates, name and address (and the message it replies to)', async () => {
    const asked = await sent({ text: 'Alamat Anda di mana?' });
    const { id } = await sim.sendIncoming(shop, buyer, {
      locationMessage: { degreesLatitude: -6.175392, degreesLongitude: 106.827153, name: 'Monas', address: 'Gambir, Jakarta Pusat', contextInfo: { stanzaId: asked, participant: `${shop}@s.whatsapp.net` } },
    });
    expect(await hookOf(id)).toMatchObject({
      type: 'location',
      message: 'Monas',
      location: '-6.175392,106.827153',
      place: { latitude: -6.175392, longitude: 106.827153, name: 'Monas', address: 'Gambir, Jakarta Pusat' },
      quotedId: asked,
    });
    // Without a name, the coordinates are what a person reads.
    const bare = await sim.sendIncoming(shop, buyer, { locationMessage: { degreesLatitude: 1.5, degreesLongitude: -2.25 } });
    expect(await hookOf(bare.id)).toMatchObject({ message: '1.5,-2.25', location: '1.5,-2.25', place: { latitude: 1.5, longitude: -2.25, name: null, address: null } });
  });

  it('two contact cards with their names and numbers from the vCards', async () => {
    const vcard = (name: string, tel: string) => `BEGIN:VCARD\nVERSION:3.0\nFN:${name}\n${tel}\nEND:VCARD`;
    const { id } = await sim.sendIncoming(shop, buyer, {
      contactsArrayMessage: {
        displayName: '2 kontak',
        contacts: [
          { displayName: 'Ani', vcard: vcard('Ani', 'TEL;type=CELL;type=VOICE;waid=6281311112222:+62 813-1111-2222\nitem1.TEL:+62 21 555 0101') },
          { displayName: 'Toko Sebelah', vcard: vcard('Toko Sebelah', 'TEL;TYPE=WORK:+62 (22) 700-8000') },
        ],
      },
    });
    expect(await hookOf(id)).toMatchObject({
      type: 'contact',
      message: 'Ani, Toko Sebelah',
      contacts: [
        { name: 'Ani', numbers: ['6281311112222', '62215550101'] },
        { name: 'Toko Sebelah', numbers: ['62227008000'] },
      ],
    });
  });

  it('a poll with its name, options and whether several may be chosen', async () => {
    const { id } = await sim.sendIncoming(shop, buyer, { pollCreationMessageV3: { name: 'Jam buka?', options: [{ optionName: '08.00' }, { optionName: '09.00' }], selectableOptionsCount: 1 } });
    expect(await hookOf(id)).toMatchObject({ type: 'poll', message: 'Jam buka?', poll: { name: 'Jam buka?', options: ['08.00', '09.00'], multiple: false } });
  });

  it('votes on a poll the device sent, decrypted: the voter and the chosen options by name', async () => {
    const poll = await sent({ poll: { name: 'Warna favorit?', options: ['Merah', 'Hijau', 'Biru'], multiple: true } });
    // The poll's secret is kept with the sent message: without it no vote could be read.
    const record = JSON.parse((await host.store.get(`recent:shop:${poll}`))!);
    expect(record.message.messageContextInfo.messageSecret).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    const vote = await sim.votePoll(poll, buyer, ['Biru', 'Merah']);
    expect(await hookOf(vote.id)).toMatchObject({
      type: 'poll_vote',
      sender: buyer,
      message: 'Biru, Merah',
      vote: { pollId: poll, pollName: 'Warna favorit?', voter: buyer, options: ['Biru', 'Merah'] },
    });
    const event = await link.nextEvent('message.incoming', (e) => e.id === vote.id);
    expect(event).toMatchObject({ type: 'poll_vote', text: 'Biru, Merah', details: { vote: { pollId: poll, options: ['Biru', 'Merah'] } } });

    // A phone that names both parties by LID, and a vote taken back.
    const byLid = await sim.votePoll(poll, '6281300000002', ['Hijau'], 'lid');
    expect(await hookOf(byLid.id)).toMatchObject({ vote: { pollId: poll, voter: '6281300000002', options: ['Hijau'] } });
    const withdrawn = await sim.votePoll(poll, buyer, []);
    expect(await hookOf(withdrawn.id)).toMatchObject({ message: '', vote: { pollId: poll, options: [] } });
  });

  it('votes on a poll the device sent to a group, from a member', async () => {
    const group = sim.addGroup({ subject: 'Arisan', participants: [shop, buyer, '6281300000008'] });
    const poll = await sent({ to: `${group.id}@g.us`, poll: { name: 'Tanggal kumpul?', options: ['Sabtu', 'Minggu'], multiple: false } });
    const vote = await sim.votePoll(poll, '6281300000008', ['Minggu']);
    expect(await hookOf(vote.id)).toMatchObject({
      type: 'poll_vote',
      isGroup: true,
      member: '6281300000008',
      message: 'Minggu',
      vote: { pollId: poll, pollName: 'Tanggal kumpul?', voter: '6281300000008', options: ['Minggu'] },
    });
  });

  it('a vote on a poll the device does not have says so: no options', async () => {
    const { id } = await sim.sendIncoming(shop, buyer, {
      pollUpdateMessage: {
        pollCreationMessageKey: { remoteJid: `${shop}@s.whatsapp.net`, fromMe: false, id: '3EB0UNKNOWNPOLL' },
        vote: { encPayload: Buffer.alloc(40, 1), encIv: Buffer.alloc(12, 2) },
        senderTimestampMs: Date.now(),
      },
    });
    expect(await hookOf(id)).toMatchObject({ type: 'poll_vote', message: '', vote: { pollId: '3EB0UNKNOWNPOLL', pollName: null, voter: buyer, options: null } });
  });

  it('a reaction with its emoji and the message it is on', async () => {
    const offer = await sent({ text: 'Diskon 10% hari ini' });
    const { id } = await sim.sendIncoming(shop, buyer, { reactionMessage: { key: { remoteJid: `${shop}@s.whatsapp.net`, fromMe: false, id: offer }, text: '👍', senderTimestampMs: Date.now() } });
    expect(await hookOf(id)).toMatchObject({ type: 'reaction', message: '👍', reaction: { emoji: '👍', messageId: offer } });
  });

  it('an edit with the new text and the edited message, and a delete for everyone with the deleted one', async () => {
    const original = await sim.sendIncoming(shop, buyer, 'Pesan 2 kotak');
    await hookOf(original.id);
    const edit = await sim.editIncoming(shop, buyer, original.id, 'Pesan 3 kotak');
    expect(await hookOf(edit.id)).toMatchObject({ type: 'edit', message: 'Pesan 3 kotak', sender: buyer, edit: { messageId: original.id, text: 'Pesan 3 kotak' } });
    const revoke = await sim.revokeIncoming(shop, buyer, original.id);
    expect(await hookOf(revoke.id)).toMatchObject({ type: 'revoke', message: '', sender: buyer, revoke: { messageId: original.id } });
  });

  it('a voice note as ptt with its length, an audio file as audio', async () => {
    const voice = await sim.sendIncoming(shop, buyer, { audioMessage: { ...file, mimetype: 'audio/ogg; codecs=opus', ptt: true, seconds: 7 } });
    expect(await hookOf(voice.id)).toMatchObject({ type: 'voice', media: { mimetype: 'audio/ogg; codecs=opus', ptt: true, seconds: 7, size: 2048, sha256: '09'.repeat(32) } });
    const song = await sim.sendIncoming(shop, buyer, { audioMessage: { ...file, mimetype: 'audio/mpeg', seconds: 185 } });
    expect(await hookOf(song.id)).toMatchObject({ type: 'audio', media: { mimetype: 'audio/mpeg', ptt: false, seconds: 185 } });
  });

  it('a sticker (replying to a message), and a view-once image', async () => {
    const asked = await sent({ text: 'Suka produknya?' });
    const sticker = await sim.sendIncoming(shop, buyer, { stickerMessage: { ...file, mimetype: 'image/webp', contextInfo: { stanzaId: asked } } });
    expect(await hookOf(sticker.id)).toMatchObject({ type: 'sticker', quotedId: asked, viewOnce: false, media: { mimetype: 'image/webp', ptt: false, seconds: null } });
    const once = await sim.sendIncoming(shop, buyer, { viewOnceMessageV2: { message: { imageMessage: { ...file, mimetype: 'image/jpeg', caption: 'Sekali lihat', viewOnce: true } } } });
    expect(await hookOf(once.id)).toMatchObject({ type: 'image', message: 'Sekali lihat', viewOnce: true, media: { mimetype: 'image/jpeg' } });
  });

  it('a reply in a group names the quoted message and the mentioned numbers', async () => {
    const group = sim.addGroup({ subject: 'Reseller', participants: [shop, buyer, '6281300000003'] });
    const quoted = await sent({ to: `${group.id}@g.us`, text: 'Stok baru masuk' });
    const { id } = await sim.sendIncoming(
      shop,
      buyer,
      {
        extendedTextMessage: {
          text: `@${shop} @6281300000003 saya ambil 2`,
          contextInfo: { stanzaId: quoted, participant: `${shop}@s.whatsapp.net`, quotedMessage: { conversation: 'Stok baru masuk' }, mentionedJid: [`${shop}@s.whatsapp.net`, '6281300000003@s.whatsapp.net'] },
        },
      },
      { group: group.id },
    );
    expect(await hookOf(id)).toMatchObject({ type: 'text', isGroup: true, member: buyer, quotedId: quoted, mentions: [shop, '6281300000003'] });
  });
});

describe('group changes', () => {
  const groupHook = async (id: string) => {
    const hook = await receiver.waitFor((r) => r.json.event === 'group' && r.json.id === id);
    expect(hook.headers['x-webhook-event']).toBe('group');
    return hook.json;
  };

  it('participants added, removed, promoted and demoted, and the subject changed, come as event "group"', async () => {
    const group = sim.addGroup({ subject: 'Grosir', participants: [buyer, shop, '6281300000004'], admins: [buyer] });
    const jid = `${group.id}@g.us`;
    const base = { event: 'group', device: shop, deviceId: 'shop', group: jid, author: buyer };

    const added = sim.groupNotification(group.id, { action: 'add', participants: ['6281300000005', '6281300000006'], author: buyer });
    const addHook = await groupHook(added.id);
    expect(addHook).toMatchObject({ ...base, action: 'add', participants: ['6281300000005', '6281300000006'] });
    expect(Math.abs((addHook.timestamp as number) - Date.now() / 1000)).toBeLessThan(60);

    const promoted = sim.groupNotification(group.id, { action: 'promote', participants: [shop], author: buyer });
    expect(await groupHook(promoted.id)).toMatchObject({ ...base, action: 'promote', participants: [shop] });
    const demoted = sim.groupNotification(group.id, { action: 'demote', participants: ['6281300000004'], author: buyer });
    expect(await groupHook(demoted.id)).toMatchObject({ ...base, action: 'demote', participants: ['6281300000004'] });
    const removed = sim.groupNotification(group.id, { action: 'remove', participants: ['6281300000005'], author: buyer });
    expect(await groupHook(removed.id)).toMatchObject({ ...base, action: 'remove', participants: ['6281300000005'] });
    const renamed = sim.groupNotification(group.id, { action: 'subject', subject: 'Grosir Jabodetabek', author: buyer });
    expect(await groupHook(renamed.id)).toMatchObject({ ...base, action: 'subject', subject: 'Grosir Jabodetabek' });
    const described = sim.groupNotification(group.id, { action: 'description', description: 'Harga grosir tiap Senin', author: buyer });
    expect(await groupHook(described.id)).toMatchObject({ ...base, action: 'description', description: 'Harga grosir tiap Senin' });
    // Each change once, and none described as a message.
    expect(receiver.received.filter((r) => r.json.group === jid)).toHaveLength(6);
    expect(receiver.received.filter((r) => r.json.event === 'message' && r.json.chat === jid)).toEqual([]);
  });

  it('in a LID-addressed group the numbers are still phone numbers (the author’s once the device knows it)', async () => {
    const group = sim.addGroup({ subject: 'Komunitas', participants: [buyer, shop], admins: [buyer], addressingMode: 'lid' });
    // WhatsApp names the author by LID with the number beside it, which Baileys' record drops: the
    // number comes from what the device learned when the author wrote to it.
    await hookOf((await sim.sendIncoming(shop, buyer, 'Halo lagi')).id);
    const added = sim.groupNotification(group.id, { action: 'add', participants: ['6281300000007'], author: buyer });
    expect(await groupHook(added.id)).toMatchObject({ group: `${group.id}@g.us`, action: 'add', participants: ['6281300000007'], author: buyer });
  });
});
