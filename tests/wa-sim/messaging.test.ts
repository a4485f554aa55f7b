// What a real Baileys client sends is decrypted as its recipient would see it; what contacts send
// reaches the client's messages.upsert.
import { proto, type WAMessage } from '@whiskeysockets/baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairedClient, type TestClient } from '../support/baileys-client.ts';
import { mp4, pdf, png } from '../support/fixtures.ts';
import { WaSim } from './index.ts';

let sim: WaSim;
let client: TestClient;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  client = await pairedClient(sim, { name: 'Gateway Test' });
});
afterAll(async () => {
  await client.close();
  await sim.stop();
});

const sentId = (m: WAMessage | undefined) => m!.key.id!;

describe('messages from the client', () => {
  it('decrypts a text to a contact exactly, and the own phone gets its copy', async () => {
    const bob = sim.addContact({ phone: '15559990001', name: 'Bob' });
    const text = 'Halo Bob! Pesanan #123 sudah dikirim ✅';
    const id = sentId(await client.sock.sendMessage(bob.jid, { text }));
    const out = await sim.waitForOutgoing((m) => m.id === id);
    expect(out.to).toBe(bob.jid);
    expect(out.text).toBe(text);
    expect(out.error).toBeUndefined();
    const own = out.participants.find((p) => p.jid.startsWith(client.me!.id.split(':')[0]!));
    expect(own?.message?.deviceSentMessage?.destinationJid).toBe(bob.jid);
  });

  it('uses the established session for a second message (msg, not pkmsg)', async () => {
    const carol = sim.addContact({ name: 'Carol' });
    const first = sentId(await client.sock.sendMessage(carol.jid, { text: 'one' }));
    const second = sentId(await client.sock.sendMessage(carol.jid, { text: 'two' }));
    const [a, b] = await Promise.all([sim.waitForOutgoing((m) => m.id === first), sim.waitForOutgoing((m) => m.id === second)]);
    expect([a.text, b.text]).toEqual(['one', 'two']);
    expect(a.participants.find((p) => p.jid === carol.jid)?.encType).toBe('pkmsg');
  });

  it('receives an uploaded image byte for byte, with its caption', async () => {
    const dave = sim.addContact({ name: 'Dave' });
    const image = png(80, 60, 7);
    const id = sentId(await client.sock.sendMessage(dave.jid, { image, caption: 'Invoice photo', mimetype: 'image/png' }));
    const out = await sim.waitForOutgoing((m) => m.id === id);
    expect(out.error).toBeUndefined();
    expect(out.media?.type).toBe('image');
    expect(out.media?.bytes.equals(image)).toBe(true);
    expect(out.text).toBe('Invoice photo');
    expect(out.type).toBe('media');
  });

  it('receives a document byte for byte, with file name and mimetype', async () => {
    const erin = sim.addContact({ name: 'Erin' });
    const document = pdf('Invoice 42');
    const id = sentId(await client.sock.sendMessage(erin.jid, { document, mimetype: 'application/pdf', fileName: 'invoice-42.pdf' }));
    const out = await sim.waitForOutgoing((m) => m.id === id);
    expect(out.error).toBeUndefined();
    expect(out.media).toMatchObject({ type: 'document', mimetype: 'application/pdf', fileName: 'invoice-42.pdf' });
    expect(out.media?.bytes.equals(document)).toBe(true);
  });

  it('receives a video byte for byte, with its caption', async () => {
    const frank = sim.addContact({ name: 'Frank' });
    const video = mp4(20_000);
    const id = sentId(await client.sock.sendMessage(frank.jid, { video, caption: 'Unboxing', mimetype: 'video/mp4' }));
    const out = await sim.waitForOutgoing((m) => m.id === id);
    expect(out.error).toBeUndefined();
    expect(out.media?.type).toBe('video');
    expect(out.media?.bytes.equals(video)).toBe(true);
    expect(out.text).toBe('Unboxing');
  });

  it('answers with delivery and read receipts on request, which Baileys reports as status updates', async () => {
    const gina = sim.addContact({ name: 'Gina' });
    const id = sentId(await client.sock.sendMessage(gina.jid, { text: 'did you get this?' }));
    await sim.waitForOutgoing((m) => m.id === id);
    const statuses: number[] = [];
    const reached = (status: number) =>
      new Promise<void>((resolve) => {
        const listener = (updates: { key: { id?: string | null }; update: { status?: number | null } }[]) => {
          for (const u of updates) if (u.key.id === id && u.update.status) statuses.push(u.update.status);
          if (statuses.includes(status)) client.sock.ev.off('messages.update', listener), resolve();
        };
        client.sock.ev.on('messages.update', listener);
      });
    // Baileys folds events that land within ~100 ms of each other into one buffered update; a
    // real recipient's phone never answers that fast, so the receipts come a moment apart.
    const pause = () => new Promise((resolve) => setTimeout(resolve, sim.receiptDelayMs));
    await pause();
    const delivered = reached(proto.WebMessageInfo.Status.DELIVERY_ACK);
    sim.sendReceipt(id, 'delivery');
    await delivered;
    await pause();
    const read = reached(proto.WebMessageInfo.Status.READ);
    sim.sendReceipt(id, 'read');
    await read;
    expect(statuses).toEqual([proto.WebMessageInfo.Status.DELIVERY_ACK, proto.WebMessageInfo.Status.READ]);
  });
});

describe('groups', () => {
  it('lists the groups the account is in, with their names', async () => {
    const me = client.me!.id.split(':')[0]!;
    const a = sim.addGroup({ subject: 'Family Group', participants: [me, '15559990101', '15559990102'] });
    const b = sim.addGroup({ subject: 'Toko Online CS', participants: ['15559990103', me], admins: ['15559990103'] });
    sim.addGroup({ subject: 'Not mine', participants: ['15559990104'] });
    const groups = await client.sock.groupFetchAllParticipating();
    const names = Object.values(groups).map((g) => [g.id, g.subject]);
    expect(names).toEqual(
      expect.arrayContaining([
        [`${a.id}@g.us`, 'Family Group'],
        [`${b.id}@g.us`, 'Toko Online CS'],
      ]),
    );
    expect(names).toHaveLength(2);
    expect(groups[`${a.id}@g.us`]!.participants).toHaveLength(3);
  });

  it('decrypts a message the client sends to a group', async () => {
    const me = client.me!.id.split(':')[0]!;
    const group = sim.addGroup({ subject: 'Order updates', participants: [me, '15559990201', '15559990202'] });
    const id = sentId(await client.sock.sendMessage(`${group.id}@g.us`, { text: 'Stock is back!' }));
    const out = await sim.waitForOutgoing((m) => m.id === id);
    expect(out.error).toBeUndefined();
    expect(out.to).toBe(`${group.id}@g.us`);
    expect(out.text).toBe('Stock is back!');
  });
});

describe('messages to the client', () => {
  it('delivers an encrypted message (pkmsg, then msg) to messages.upsert with its text and sender', async () => {
    const hana = sim.addContact({ phone: '15559990301', name: 'Hana' });
    const me = client.me!.id.split(':')[0]!;
    const upsert = (id: string) => client.next<{ messages: WAMessage[] }>('upsert', (u) => u.messages.some((m) => m.key.id === id));

    const first = sim.sendIncoming(me, hana.phone, 'Halo, apakah stok masih ada?', { id: 'SIMTEST0001' });
    const firstUpsert = await upsert('SIMTEST0001');
    await first;
    const message = firstUpsert.messages.find((m) => m.key.id === 'SIMTEST0001')!;
    expect(message.message?.conversation).toBe('Halo, apakah stok masih ada?');
    expect(message.key.fromMe).toBe(false);
    expect(message.pushName).toBe('Hana');
    expect([message.key.remoteJid, message.key.remoteJidAlt]).toContain(hana.jid);
    expect((firstUpsert as { type?: string }).type).toBe('notify');

    // Once the client has answered on that session, the contact's next message is a plain `msg`.
    const reply = (await client.sock.sendMessage(hana.jid, { text: 'Masih ada, kak.' }))!.key.id;
    expect((await sim.waitForOutgoing((m) => m.id === reply)).text).toBe('Masih ada, kak.');
    const secondUpsert = upsert('SIMTEST0002');
    await sim.sendIncoming(me, hana.phone, { extendedTextMessage: { text: 'Kalau ada, saya pesan 2.' } }, { id: 'SIMTEST0002' });
    const second = (await secondUpsert).messages.find((m) => m.key.id === 'SIMTEST0002')!;
    expect(second.message?.extendedTextMessage?.text).toBe('Kalau ada, saya pesan 2.');
    expect(sim.incoming.filter((m) => m.from === hana.jid).map((m) => m.encTypes)).toEqual([['pkmsg'], ['msg']]);
  });

  it('delivers a group message from a participant', async () => {
    const me = client.me!.id.split(':')[0]!;
    const group = sim.addGroup({ subject: 'Reseller', participants: [me, '15559990401'] });
    const got = client.next<{ messages: WAMessage[] }>('upsert', (u) => u.messages.some((m) => m.key.id === 'SIMGROUP0001'));
    await sim.sendIncoming(me, '15559990401', 'Restock kapan?', { group: group.id, id: 'SIMGROUP0001' });
    const message = (await got).messages.find((m) => m.key.id === 'SIMGROUP0001')!;
    expect(message.key.remoteJid).toBe(`${group.id}@g.us`);
    expect(message.message?.conversation).toBe('Restock kapan?');
  });

  it('keeps messages for an offline device and delivers them at its next login', async () => {
    const me = client.me!.id.split(':')[0]!;
    await client.close();
    await sim.sendIncoming(me, '15559990501', 'sent while you were away', { id: 'SIMOFFLINE01' });
    const got = client.next<{ type: string; messages: WAMessage[] }>('upsert', (u) => u.messages.some((m) => m.key.id === 'SIMOFFLINE01'));
    client.reconnect();
    const upsert = await got;
    expect(upsert.messages[0]!.message?.conversation).toBe('sent while you were away');
    // WhatsApp marks queued messages `offline`, which Baileys reports as 'append', not 'notify'.
    expect(upsert.type).toBe('append');
    await client.next('open').catch(() => undefined);
  });
});
