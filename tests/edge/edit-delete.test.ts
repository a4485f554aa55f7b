// Editing and deleting sent messages, as the edge decides them: WhatsApp's time limits from the
// logged sent_at, what can be edited at all, which id names a message, what the log shows after.
// The host is the fake one: the end-to-end test shows what a recipient gets.
import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '../../edge/api/send.ts';
import { messagesTable, type MessageType } from '../../edge/db/schema.ts';
import { call, newDevice } from './client.ts';
import { fakeHost, HostFailure } from './fake-host.ts';

const db = drizzle(env.DB);
let device: Awaited<ReturnType<typeof newDevice>>;
let other: Awaited<ReturnType<typeof newDevice>>;
let host: ReturnType<typeof fakeHost> | undefined;

beforeAll(async () => {
  device = await newDevice('Editor');
  other = await newDevice('Other');
});

afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const MINUTE = 60_000;
let counter = 0;

/** A logged message, sent `minutesAgo` (or queued), as a send leaves it in D1. */
async function logged(minutesAgo: number | 'queued', type: MessageType = 'text', deviceId = device.id) {
  const { id } = newMessageId();
  const waMessageId = `3EB0EDIT${String(++counter).padStart(6, '0')}`;
  const sent = minutesAgo === 'queued' ? {} : { status: 'sent' as const, waMessageId, sentAt: new Date(Date.now() - minutesAgo * MINUTE) };
  await db.insert(messagesTable).values({ id, deviceId, to: '6281200000001', type, preview: 'Harga Rp 10.000', ...sent });
  return { id, waMessageId };
}

/** A host that carries out edits and revokes, answering with the change's own WhatsApp id. */
const obligingHost = () =>
  fakeHost({
    'message.edit': ({ id }) => ({ id: `EDIT-OF-${id}`, timestamp: Math.floor(Date.now() / 1000), to: '6281200000001@s.whatsapp.net' }),
    'message.revoke': ({ id }) => ({ id: `REVOKE-OF-${id}`, timestamp: Math.floor(Date.now() / 1000), to: '6281200000001@s.whatsapp.net' }),
  });

const patch = (id: string, json: unknown, key = device.apiKey) => call('PATCH', `/api/messages/${id}`, { key, json });
const remove = (id: string, key = device.apiKey) => call('DELETE', `/api/messages/${id}`, { key });

describe('PATCH /api/messages/:id {message}', () => {
  it('edits a text sent minutes ago, by log id and by WhatsApp id; the log shows the new text', async () => {
    host = obligingHost();
    const { id, waMessageId } = await logged(2);
    const byLogId = await patch(id, { message: 'Harga Rp 12.000' });
    expect(byLogId).toMatchObject({ status: 200, body: { id, waMessageId, status: 'sent', preview: 'Harga Rp 12.000', editedAt: expect.any(String), deletedAt: null } });
    const byWaId = await patch(waMessageId, { message: 'Harga Rp 11.500' });
    expect(byWaId).toMatchObject({ status: 200, body: { id, preview: 'Harga Rp 11.500' } });
    expect(host.requests.filter((r) => r.method === 'message.edit').map((r) => r.params)).toEqual([
      { deviceId: device.id, id: waMessageId, text: 'Harga Rp 12.000' },
      { deviceId: device.id, id: waMessageId, text: 'Harga Rp 11.500' },
    ]);
    expect((await call('GET', `/api/messages/${id}`, { key: device.apiKey })).body).toMatchObject({ preview: 'Harga Rp 11.500', editedAt: byWaId.body.editedAt });
  });

  it('refuses with 409 a text sent more than 15 minutes ago, saying why, and asks the host nothing', async () => {
    host = obligingHost();
    const { id } = await logged(16);
    expect(await patch(id, { message: 'too late' })).toEqual({
      status: 409,
      body: { error: 'WhatsApp lets a message be edited only within 15 minutes of sending; this one was sent 16 minutes ago' },
    });
    expect(host.requests.filter((r) => r.method === 'message.edit')).toEqual([]);
  });

  it('refuses to edit what is not a text, or not sent yet, with a 409 that says why', async () => {
    host = obligingHost();
    expect(await patch((await logged(1, 'poll')).id, { message: 'Jam berapa?' })).toEqual({ status: 409, body: { error: 'Only a text message can be edited; this one is a poll' } });
    expect(await patch((await logged(1, 'location')).id, { message: 'x' })).toEqual({ status: 409, body: { error: 'Only a text message can be edited; this one is a location' } });
    expect(await patch((await logged('queued')).id, { message: 'x' })).toEqual({
      status: 409,
      body: { error: 'Message not sent yet: cancel it (DELETE) and send it again with the new text' },
    });
    expect(host.requests.filter((r) => r.method === 'message.edit')).toEqual([]);
  });

  it('takes either message or schedule, naming the field otherwise', async () => {
    const { id } = await logged(1);
    const either = 'body: give either message (to edit a sent text) or schedule (to reschedule a queued message), not both';
    expect(await patch(id, { message: 'new', schedule: 0 })).toEqual({ status: 400, body: { error: either } });
    expect(await patch(id, {})).toEqual({ status: 400, body: { error: either } });
    expect(await patch(id, { message: '' })).toEqual({ status: 400, body: { error: 'message: must not be empty' } });
    expect(await patch(id, { message: 42 })).toEqual({ status: 400, body: { error: 'message: must be a string' } });
  });

  it('answers 404 for an unknown id or another device’s message', async () => {
    expect(await patch('3EB0NOSUCHMESSAGE', { message: 'x' })).toEqual({ status: 404, body: { error: 'Message not found: 3EB0NOSUCHMESSAGE' } });
    const theirs = await logged(1, 'text', other.id);
    expect(await patch(theirs.waMessageId, { message: 'x' })).toEqual({ status: 404, body: { error: `Message not found: ${theirs.waMessageId}` } });
    expect(await remove(theirs.id)).toEqual({ status: 404, body: { error: `Message not found: ${theirs.id}` } });
  });

  it('passes the host’s failure on as the send routes do', async () => {
    host = fakeHost({
      'message.edit': () => {
        throw new HostFailure('not_connected', 'Device is not connected');
      },
    });
    const { id } = await logged(1);
    expect(await patch(id, { message: 'x' })).toEqual({ status: 503, body: { error: 'Failed to edit message: Device is not connected' } });
    expect((await call('GET', `/api/messages/${id}`, { key: device.apiKey })).body).toMatchObject({ preview: 'Harga Rp 10.000', editedAt: null });
  });
});

describe('DELETE /api/messages/:id on a sent message', () => {
  it('deletes it for everyone, by WhatsApp id; the log keeps it, marked deleted', async () => {
    host = obligingHost();
    const { id, waMessageId } = await logged(60 * 47);
    const res = await remove(waMessageId);
    expect(res).toMatchObject({ status: 200, body: { success: true, deletedForEveryone: true, id, waMessageId, status: 'sent', deletedAt: expect.any(String) } });
    expect(host.requests.filter((r) => r.method === 'message.revoke').map((r) => r.params)).toEqual([{ deviceId: device.id, id: waMessageId }]);
    expect((await call('GET', `/api/messages/${id}`, { key: device.apiKey })).body).toMatchObject({ deletedAt: res.body.deletedAt });
    expect(await patch(id, { message: 'x' })).toEqual({ status: 409, body: { error: 'This message was deleted for everyone' } });
    expect(await remove(id)).toEqual({ status: 409, body: { error: 'This message was deleted for everyone' } });
  });

  it('refuses with 409 a message sent more than 48 hours 8 minutes ago', async () => {
    host = obligingHost();
    const { id } = await logged(48 * 60 + 9);
    expect(await remove(id)).toEqual({ status: 409, body: { error: 'WhatsApp lets a message be deleted for everyone only within 48 hours 8 minutes of sending; this one was sent 48 hours 9 minutes ago' } });
    expect(host.requests.filter((r) => r.method === 'message.revoke')).toEqual([]);
  });
});
