// The inbox in the Workers runtime: the host's `message.incoming` events, fed through the
// HostLink as a host sends them, become chats and conversations read through the API, once each
// however often an event comes; the retention deletes old ones a batch at a time.
// In the browser, against the real host and the simulator: tests/dashboard/inbox.test.ts.
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { Inbox } from '../../edge/link/inbox.ts';
import { DEFAULT_HOST_ID } from '../../edge/link/host-link.ts';
import { admin, call, newDevice, until } from './client.ts';
import { fakeHost } from './fake-host.ts';

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const link = () => env.HOST_LINK.getByName(DEFAULT_HOST_ID);
const sendOk = { 'message.send': (p: { outboxId?: string; to: string }) => ({ id: `WA${p.outboxId}`, timestamp: Math.floor(Date.now() / 1000), to: p.to }) };

let seq = 1000;
const incoming = (data: Record<string, unknown>) => ({ seq: ++seq, event: 'message.incoming', data });

/** Feeds `frames` as the host's backlog and waits until the HostLink acknowledged the last. */
async function feed(frames: { seq: number }[]) {
  await host?.stop();
  host = fakeHost(sendOk, undefined, { backlog: frames });
  expect(await link().linkState(DEFAULT_HOST_ID, true)).toMatchObject({ online: true });
  const last = frames.at(-1)!.seq;
  const acks = host.acks;
  await until(() => acks.some((ack) => ack >= last), `the ack of event ${last}`);
}

describe('the inbox', () => {
  it('keeps received messages once each, lists chats newest first, and merges a chat with what the device sent to it', async () => {
    const device = await newDevice('Inbox');
    const key = device.apiKey;
    const now = Math.floor(Date.now() / 1000);
    const hello = incoming({ deviceId: device.id, id: 'IN-HELLO', from: '628111000301', chat: '628111000301@s.whatsapp.net', type: 'text', text: 'Halo, ada stok?', timestamp: now - 60, name: 'Budi' });
    const photo = incoming({
      deviceId: device.id,
      id: 'IN-PHOTO',
      from: '628111000301',
      chat: '628111000301@s.whatsapp.net',
      type: 'image',
      text: 'yang ini',
      timestamp: now - 30,
      name: 'Budi',
      quotedId: 'IN-HELLO',
      media: { mimetype: 'image/jpeg', fileName: null, size: 1234, seconds: null, ptt: false },
    });
    const inGroup = incoming({
      deviceId: device.id,
      id: 'IN-GROUP',
      from: '120363000000000301@g.us',
      chat: '120363000000000301@g.us',
      type: 'location',
      text: 'Toko',
      timestamp: now - 45,
      author: '628111000302',
      name: 'Sari',
      details: { place: { latitude: -6.2, longitude: 106.8, name: 'Toko', address: null } },
    });
    // An older host's event: none of the inbox's optional fields.
    const plain = incoming({ deviceId: device.id, id: 'IN-OLD', from: '628111000303', chat: '628111000303@s.whatsapp.net', type: 'text', text: 'lama', timestamp: now - 90 });
    // The journal sends an event again until it is acknowledged: the second copy changes nothing.
    const again = { ...hello, seq: ++seq };
    await feed([hello, inGroup, photo, plain, again]);

    const sent = await call('POST', '/api/send-message', { key, json: { to: '+62 811-1000-301', message: 'Ada, kak', quotedId: 'IN-PHOTO' } });
    expect(sent.status).toBe(200);

    const list = await call('GET', '/api/chats', { key });
    expect(list.status).toBe(200);
    expect(list.body.chats.map((c: { chat: string }) => c.chat)).toEqual(['628111000301', '120363000000000301@g.us', '628111000303']);
    expect(list.body.chats[0]).toMatchObject({ name: 'Budi', isGroup: false, lastMessage: { id: 'IN-PHOTO', type: 'image', text: 'yang ini', sender: '628111000301' } });
    expect(list.body.chats[1]).toMatchObject({ name: null, isGroup: true, lastMessage: { sender: '628111000302', type: 'location' } });
    expect(list.body.chats[2]).toMatchObject({ name: null, lastMessage: { text: 'lama' } });

    const chat = await call('GET', '/api/chats/628111000301/messages', { key });
    expect(chat.status).toBe(200);
    expect(chat.body.messages).toHaveLength(3);
    const [reply, image, first] = chat.body.messages;
    expect(reply).toMatchObject({ direction: 'out', id: sent.body.id, text: 'Ada, kak', status: 'sent', type: 'text' });
    expect(image).toMatchObject({ direction: 'in', id: 'IN-PHOTO', quotedId: 'IN-HELLO', senderName: 'Budi', media: { mimetype: 'image/jpeg', size: 1234 } });
    expect(first).toMatchObject({ direction: 'in', id: 'IN-HELLO', text: 'Halo, ada stok?', mentions: [], media: null });

    const group = await admin('GET', `/api/chats/${encodeURIComponent('120363000000000301@g.us')}/messages?deviceId=${device.id}`);
    expect(group.body.messages).toEqual([expect.objectContaining({ direction: 'in', sender: '628111000302', senderName: 'Sari', details: { place: expect.objectContaining({ name: 'Toko' }) } })]);

    // Paged by time: two pages of two and one, each message once, in order.
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page = await call('GET', `/api/chats/628111000301/messages?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { key });
      expect(page.status).toBe(200);
      seen.push(...page.body.messages.map((m: { id: string }) => m.id));
      cursor = page.body.nextCursor;
    }
    expect(seen).toEqual([sent.body.id, 'IN-PHOTO', 'IN-HELLO']);
    const firstChats = await call('GET', '/api/chats?limit=2', { key });
    const rest = await call('GET', `/api/chats?limit=2&cursor=${encodeURIComponent(firstChats.body.nextCursor)}`, { key });
    expect([...firstChats.body.chats, ...rest.body.chats].map((c: { chat: string }) => c.chat)).toEqual(['628111000301', '120363000000000301@g.us', '628111000303']);
    expect(rest.body.nextCursor).toBeNull();
  });

  it("shows a message's edit and its deletion for everyone on the message itself, when its own sender made them", async () => {
    const device = await newDevice('Edits');
    const now = Math.floor(Date.now() / 1000);
    const group = '120363000000000321@g.us';
    const said = (id: string, author: string, text: string, extra: Record<string, unknown> = {}) =>
      incoming({ deviceId: device.id, id, from: group, chat: group, type: 'text', text, timestamp: now - 50, author, ...extra });
    const change = (id: string, author: string, type: 'edit' | 'revoke', details: Record<string, unknown>) => said(id, author, '', { type, details, timestamp: now - 10 });
    await feed([
      said('G-1', '628111000321', 'harga 10rb'),
      said('G-2', '628111000321', 'salah kirim', { media: { mimetype: 'image/jpeg', fileName: null, size: 10, seconds: null, ptt: false } }),
      said('G-3', '628111000322', 'punya Sari'),
      change('G-1-EDIT', '628111000321', 'edit', { edit: { messageId: 'G-1', text: 'harga 12rb' } }),
      change('G-2-DEL', '628111000321', 'revoke', { revoke: { messageId: 'G-2' } }),
      // Another member cannot change Sari's message.
      change('G-3-EDIT', '628111000321', 'edit', { edit: { messageId: 'G-3', text: 'diubah orang lain' } }),
    ]);
    const { body } = await call('GET', `/api/chats/${encodeURIComponent(group)}/messages`, { key: device.apiKey });
    const byId = Object.fromEntries(body.messages.map((m: { id: string }) => [m.id, m]));
    expect(byId['G-1']).toMatchObject({ text: 'harga 12rb', editedAt: new Date((now - 10) * 1000).toISOString(), deletedAt: null });
    expect(byId['G-2']).toMatchObject({ text: '', media: null, deletedAt: new Date((now - 10) * 1000).toISOString() });
    expect(byId['G-3']).toMatchObject({ text: 'punya Sari', editedAt: null });
    // The edit and the delete stay in the conversation too, as the webhook delivered them.
    expect(byId['G-1-EDIT']).toMatchObject({ type: 'edit', details: { edit: { messageId: 'G-1' } } });
  });

  it("ignores events naming a device that is not this host's, and still acknowledges them", async () => {
    const elsewhere = await admin('POST', '/api/hosts', { json: { name: 'Elsewhere', url: 'http://127.0.0.1:9', secret: 'another-long-shared-secret' } });
    const theirs = await newDevice('On another host', { hostId: elsewhere.body.id });
    const stray = incoming({ deviceId: theirs.id, id: 'IN-STRAY', from: '628111000304', chat: '628111000304@s.whatsapp.net', type: 'text', text: 'bukan milikmu', timestamp: 1779348348 });
    const unknown = incoming({ deviceId: 'device_gone', id: 'IN-GONE', from: '628111000304', chat: '628111000304@s.whatsapp.net', type: 'text', text: '?', timestamp: 1779348348 });
    await feed([stray, unknown]);
    const list = await admin('GET', `/api/chats?deviceId=${theirs.id}`);
    expect(list).toMatchObject({ status: 200, body: { chats: [], nextCursor: null } });
  });

  it('answers bad input with a 400 naming the field, and a device key asking for another device with a 403', async () => {
    const mine = await newDevice('Mine');
    const other = await newDevice('Other');
    const badChat = await call('GET', '/api/chats/not-a-number/messages', { key: mine.apiKey });
    expect(badChat.status).toBe(400);
    expect(JSON.stringify(badChat.body)).toContain('chat');
    const noDevice = await admin('GET', '/api/chats');
    expect(noDevice.status).toBe(400);
    expect(JSON.stringify(noDevice.body)).toContain('deviceId');
    const badLimit = await call('GET', '/api/chats?limit=0', { key: mine.apiKey });
    expect(badLimit.status).toBe(400);
    expect(JSON.stringify(badLimit.body)).toContain('limit');
    const badCursor = await call('GET', '/api/chats/628111000301/messages?cursor=yesterday', { key: mine.apiKey });
    expect(badCursor.status).toBe(400);
    expect(JSON.stringify(badCursor.body)).toContain('cursor');
    expect((await call('GET', `/api/chats?deviceId=${other.id}`, { key: mine.apiKey })).status).toBe(403);
    expect((await call('GET', `/api/chats/628111000301/messages?deviceId=${other.id}`, { key: mine.apiKey })).status).toBe(403);
    expect((await admin('GET', '/api/chats?deviceId=device_none')).status).toBe(404);
    expect((await call('GET', '/api/chats')).status).toBe(401);
  });

  it('deletes messages and chats older than the retention, a bounded batch at a time', async () => {
    const device = await newDevice('Retention');
    const inbox = new Inbox(env.DB, DEFAULT_HOST_ID, 30);
    const day = 86_400_000;
    const now = Date.now();
    const message = (id: string, from: string, receivedAt: number) =>
      inbox.record({ deviceId: device.id, id, from, chat: `${from}@s.whatsapp.net`, type: 'text', text: id, timestamp: Math.floor(receivedAt / 1000) }, receivedAt);
    for (const n of [1, 2, 3]) await message(`OLD-${n}`, '628111000311', now - 40 * day + n);
    await message('NEW-1', '628111000312', now - day);
    // Not deleted yet, but past the retention: reads leave them out already.
    const before = await call('GET', '/api/chats', { key: device.apiKey });
    expect(before.body.chats.map((c: { chat: string }) => c.chat)).toEqual(['628111000312']);
    expect((await call('GET', '/api/chats/628111000311/messages', { key: device.apiKey })).body.messages).toEqual([]);

    expect(await inbox.prune(now, 2)).toBe(2);
    expect(inbox.pruneDue(now)).toBe(true); // a full batch: more is due at once
    expect(await inbox.prune(now, 2)).toBe(1);
    expect(inbox.pruneDue(now)).toBe(false);

    const chats = await call('GET', '/api/chats', { key: device.apiKey });
    expect(chats.body.chats.map((c: { chat: string }) => c.chat)).toEqual(['628111000312']);
    const old = await call('GET', '/api/chats/628111000311/messages', { key: device.apiKey });
    expect(old.body.messages).toEqual([]);
    const kept = await call('GET', '/api/chats/628111000312/messages', { key: device.apiKey });
    expect(kept.body.messages.map((m: { id: string }) => m.id)).toEqual(['NEW-1']);
  });
});
