// Editing and deleting sent messages, and link preview cards, end to end: the real Worker, the
// real session host and Baileys, and the simulator, which shows what the recipient decrypts.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { proto } from '@whiskeysockets/baileys';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, createLinkedDevice, type EdgeCall, startSimStack } from '../support/e2e.ts';
import { png } from '../support/fixtures.ts';
import type { Stack } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let pages: Server;
let pagesUrl: string;
let device: { id: string; apiKey: string };
/** Requests the page server got, by path. */
const hits = new Map<string, number>();

const ARTICLE = `<!doctype html><html><head>
<title>Fallback title</title>
<meta property="og:title" content="Promo Lebaran &amp; Diskon">
<meta property="og:description" content="Semua barang 20% lebih murah">
<meta property="og:image" content="/cover.png">
</head><body>…</body></html>`;

beforeAll(async () => {
  pages = createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    if (req.url === '/article') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(ARTICLE);
    if (req.url === '/cover.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(png(400, 300, 9));
    if (req.url === '/slow') return; // never answers: the preview gives up, the text goes anyway
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pagesUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  // The page server listens on 127.0.0.1.
  ({ sim, stack } = await startSimStack('edit', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  pages?.closeAllConnections();
  pages?.close();
  await sim?.stop();
});

const call = (method: string, path: string, options?: EdgeCall) => callEdge(stack.edgeUrl, method, path, options);
const sendText = async (to: string, message: string, extra: object = {}) => {
  const res = await call('POST', '/api/send-message', { key: device.apiKey, json: { to, message, ...extra } });
  expect(res.status).toBe(200);
  return res.json.id as string;
};
/** The log row of a message sent with WhatsApp id `waId`. */
const logged = async (waId: string) => (await call('GET', `/api/messages/${waId}`, { key: device.apiKey })).json;
/** What the recipient decrypted of a change to message `waId` (an edit or a revoke). */
const changeTo = (waId: string, type: proto.Message.ProtocolMessage.Type, after = 0) =>
  sim.waitForOutgoing((m) => m.at >= after && m.message?.protocolMessage?.type === type && m.message.protocolMessage.key?.id === waId);

describe('edits, deletes and link previews, end to end', () => {
  it('links a device', async () => {
    device = await createLinkedDevice(stack, sim, { name: 'Editor' });
  });

  it('edits a sent text by log id and by WhatsApp id: the recipient gets WhatsApp’s MESSAGE_EDIT of the original', async () => {
    const waId = await sendText('6281400000001', 'Harga Rp 10.000');
    const { id: logId } = await logged(waId);
    expect(logId).toMatch(/^msg_/);

    const started = Date.now();
    const first = await call('PATCH', `/api/messages/${logId}`, { key: device.apiKey, json: { message: 'Harga Rp 12.000' } });
    expect(first).toMatchObject({ status: 200, json: { id: logId, waMessageId: waId, preview: 'Harga Rp 12.000', editedAt: expect.any(String) } });
    const edit = await changeTo(waId, proto.Message.ProtocolMessage.Type.MESSAGE_EDIT, started);
    expect(edit.id).not.toBe(waId); // the edit is a message of its own
    expect(edit.edit).toBe('1');
    expect(edit.to).toBe('6281400000001@s.whatsapp.net');
    expect(edit.message?.protocolMessage?.key).toMatchObject({ id: waId, fromMe: true, remoteJid: '6281400000001@s.whatsapp.net' });
    const edited = edit.message?.protocolMessage?.editedMessage;
    expect(edited?.extendedTextMessage?.text ?? edited?.conversation).toBe('Harga Rp 12.000');

    const again = Date.now();
    expect((await call('PATCH', `/api/messages/${waId}`, { key: device.apiKey, json: { message: 'Harga Rp 11.500' } })).status).toBe(200);
    const second = (await changeTo(waId, proto.Message.ProtocolMessage.Type.MESSAGE_EDIT, again)).message?.protocolMessage?.editedMessage;
    expect(second?.extendedTextMessage?.text ?? second?.conversation).toBe('Harga Rp 11.500');
    expect(await logged(waId)).toMatchObject({ preview: 'Harga Rp 11.500' });
  });

  it('deletes a sent message for everyone: the recipient gets WhatsApp’s REVOKE of it', async () => {
    const waId = await sendText('6281400000002', 'Salah kirim');
    const { id: logId } = await logged(waId);
    const res = await call('DELETE', `/api/messages/${logId}`, { key: device.apiKey });
    expect(res).toMatchObject({ status: 200, json: { success: true, deletedForEveryone: true, id: logId, waMessageId: waId, deletedAt: expect.any(String) } });
    const revoke = await changeTo(waId, proto.Message.ProtocolMessage.Type.REVOKE);
    expect(revoke.edit).toBe('7');
    expect(revoke.message?.protocolMessage?.key).toMatchObject({ id: waId, fromMe: true, remoteJid: '6281400000002@s.whatsapp.net' });
    expect(await logged(waId)).toMatchObject({ deletedAt: res.json.deletedAt });
  });

  it('cancels a queued message as before, refuses to edit a poll, and answers 404 for an unknown id', async () => {
    const inAnHour = Math.floor(Date.now() / 1000) + 3600;
    const [queued] = (await call('POST', '/send', { key: device.apiKey, json: { target: '6281400000003', message: 'nanti', schedule: inAnHour } })).json.id as string[];
    expect(await call('PATCH', `/api/messages/${queued}`, { key: device.apiKey, json: { message: 'nanti saja' } })).toEqual({
      status: 409,
      json: { error: 'Message not sent yet: cancel it (DELETE) and send it again with the new text' },
    });
    expect(await call('DELETE', `/api/messages/${queued}`, { key: device.apiKey })).toMatchObject({ status: 200, json: { id: queued, status: 'failed', error: 'cancelled' } });

    const poll = await call('POST', '/api/send-poll', { key: device.apiKey, json: { to: '6281400000003', name: 'Jam berapa?', options: ['09:00', '13:00'] } });
    const before = sim.outbox.length;
    expect(await call('PATCH', `/api/messages/${poll.json.id}`, { key: device.apiKey, json: { message: 'Hari apa?' } })).toEqual({
      status: 409,
      json: { error: 'Only a text message can be edited; this one is a poll' },
    });
    expect(await call('DELETE', '/api/messages/3EB0NOSUCHMESSAGE', { key: device.apiKey })).toEqual({ status: 404, json: { error: 'Message not found: 3EB0NOSUCHMESSAGE' } });
    expect(sim.outbox.length).toBe(before);
  });

  it('sends a link with WhatsApp’s preview card: title, description and a small JPEG thumbnail, the page fetched once for two sends', async () => {
    const url = `${pagesUrl}/article`;
    const ids = [await sendText('6281400000004', `Lihat ${url} sekarang!`), await sendText('6281400000005', `Lihat ${url} sekarang!`)];
    for (const id of ids) {
      const card = (await sim.waitForOutgoing((m) => m.id === id)).message?.extendedTextMessage;
      expect(card).toMatchObject({ text: `Lihat ${url} sekarang!`, matchedText: url, title: 'Promo Lebaran & Diskon', description: 'Semua barang 20% lebih murah' });
      const thumbnail = Buffer.from(card!.jpegThumbnail!);
      const { format, width, height } = await sharp(thumbnail).metadata();
      expect(format).toBe('jpeg');
      expect([width, height]).toEqual([192, 144]);
    }
    expect([hits.get('/article'), hits.get('/cover.png')]).toEqual([1, 1]);
  });

  it('sends no card with linkPreview: false, and the text alone when the page does not answer', async () => {
    const off = await sendText('6281400000006', `Tanpa kartu: ${pagesUrl}/article`, { linkPreview: false });
    const plain = (await sim.waitForOutgoing((m) => m.id === off)).message!;
    expect(plain.extendedTextMessage?.text ?? plain.conversation).toBe(`Tanpa kartu: ${pagesUrl}/article`);
    expect(plain.extendedTextMessage?.matchedText ?? null).toBeNull();
    expect(plain.extendedTextMessage?.title ?? null).toBeNull();

    const slow = await sendText('6281400000007', `Pelan: ${pagesUrl}/slow`);
    const text = (await sim.waitForOutgoing((m) => m.id === slow)).message!;
    expect(text.extendedTextMessage?.text ?? text.conversation).toBe(`Pelan: ${pagesUrl}/slow`);
    expect(text.extendedTextMessage?.title ?? null).toBeNull();
    expect(hits.get('/slow')).toBe(1);
  });

  it('refuses a linkPreview that is not a boolean, naming the field', async () => {
    expect(await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '6281400000008', message: 'hi', linkPreview: 'no' } })).toEqual({
      status: 400,
      json: { error: 'linkPreview: must be true or false' },
    });
  });
});
