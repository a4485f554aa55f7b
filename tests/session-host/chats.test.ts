// The chat operations' own rules, with a stand-in socket: what is cached and for how long, how
// WhatsApp's refusals become link errors, and which message ids a read may name.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WASocket } from '@whiskeysockets/baileys';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LinkError } from '../../session-host/link/protocol.ts';
import { asLinkError, Chats, NUMBER_CHECK_TTL_MS } from '../../session-host/sessions/chats.ts';
import { openStore } from '../../session-host/store/index.ts';
import type { Store, WriteOptions } from '../../session-host/store/store.ts';

/** Baileys' errors: Boom, with an IQ's `<error code>` in `data`, or its own status in `output`. */
const refusal = (text: string, data: number) => Object.assign(new Error(text), { data });
const failure = (text: string, statusCode: number) => Object.assign(new Error(text), { output: { statusCode } });

let store: Store;
let writes: WriteOptions[];
let queries: string[][];
let socket: Partial<WASocket> | undefined;
let chats: Chats;

/** A usync answer as Baileys parses it: the users asked about that WhatsApp knows, with their LID. */
function usyncAnswering(known: Record<string, string>) {
  return async (query: { users: { phone?: string }[] }) => {
    const phones = query.users.map((u) => u.phone!.replace('+', ''));
    queries.push(phones);
    return { list: phones.map((p) => ({ id: `${p}@s.whatsapp.net`, contact: p in known, ...(p in known ? { lid: known[p] } : {}) })), sideList: [] };
  };
}

beforeEach(async () => {
  const files = await openStore({ dataDir: mkdtempSync(join(tmpdir(), 'chats-')) });
  writes = [];
  queries = [];
  // Every write's options, to see the expiry the cache asks for.
  store = new Proxy(files, {
    get: (target, prop) =>
      prop === 'write'
        ? (changes: Record<string, string | null>, options: WriteOptions = {}) => {
            writes.push(options);
            return target.write(changes, options);
          }
        : Reflect.get(target, prop),
  });
  socket = { executeUSyncQuery: usyncAnswering({ '628111': '900111@lid' }) as never };
  chats = new Chats({ id: 'dev1', store, socket: () => socket as WASocket | undefined });
});

afterEach(async () => {
  await store.close();
});

describe('checking numbers', () => {
  it('asks WhatsApp once for the numbers it has not seen, and keeps each answer for a day', async () => {
    const before = Date.now();
    expect(await chats.checkNumbers(['628111', '628222', '628111'])).toEqual([
      { number: '628111', exists: true, jid: '628111@s.whatsapp.net', lid: '900111@lid' },
      { number: '628222', exists: false, jid: null, lid: null },
      { number: '628111', exists: true, jid: '628111@s.whatsapp.net', lid: '900111@lid' },
    ]);
    expect(queries).toEqual([['628111', '628222']]);
    const expiries = Object.values(writes[0]!.expiresAt!);
    expect(expiries).toHaveLength(2);
    for (const at of expiries) expect(at - before).toBeGreaterThanOrEqual(NUMBER_CHECK_TTL_MS);
    expect(NUMBER_CHECK_TTL_MS).toBe(86_400_000);

    await chats.checkNumbers(['628222', '628333']);
    expect(queries).toEqual([['628111', '628222'], ['628333']]);
  });

  it('takes an answer under WhatsApp’s own form of a number by its position', async () => {
    socket = { executeUSyncQuery: (async () => ({ list: [{ id: '5511988887777@s.whatsapp.net', contact: true }], sideList: [] })) as never };
    expect(await chats.checkNumbers(['551188887777'])).toEqual([{ number: '551188887777', exists: true, jid: '5511988887777@s.whatsapp.net', lid: null }]);
  });

  it('needs a connected device', async () => {
    socket = undefined;
    await expect(chats.checkNumbers(['628111'])).rejects.toMatchObject({ code: 'not_connected' });
  });
});

describe("WhatsApp's refusals", () => {
  it.each([
    [refusal('not-authorized', 401), 'forbidden', /not-authorized \(401\)/],
    [refusal('forbidden', 403), 'forbidden', /forbidden/],
    [refusal('item-not-found', 404), 'not_found', /^group 1@g.us not found/],
    [refusal('bad-request', 400), 'bad_request', /bad-request/],
    [failure('Connection Closed', 428), 'not_connected', /not connected/],
    [failure('Timed Out', 408), 'timeout', /Timed Out/],
    [refusal('internal-server-error', 500), 'send_failed', /internal-server-error/],
  ])('%s → %s', (error, code, message) => {
    const mapped = asLinkError(error, 'group 1@g.us');
    expect(mapped).toBeInstanceOf(LinkError);
    expect(mapped.code).toBe(code);
    expect(mapped.message).toMatch(message);
  });

  it('a hidden or missing profile picture is null, other failures are not', async () => {
    for (const data of [401, 404]) {
      socket = { profilePictureUrl: async () => Promise.reject(refusal('x', data)) };
      expect(await chats.profilePicture('628111@s.whatsapp.net')).toBeNull();
    }
    socket = { profilePictureUrl: async () => Promise.reject(refusal('rate-overlimit', 429)) };
    await expect(chats.profilePicture('628111@s.whatsapp.net')).rejects.toMatchObject({ code: 'send_failed' });
  });
});

describe('marking read', () => {
  let read: unknown[];
  beforeEach(async () => {
    read = [];
    socket = { readMessages: async (keys) => void read.push(...keys) };
    await store.write({
      'received:dev1:IN1': JSON.stringify({ chat: '120363001@g.us', participant: '628111@s.whatsapp.net' }),
      'received:dev1:IN2': JSON.stringify({ chat: '628222@s.whatsapp.net' }),
      'received:dev1:IN3': JSON.stringify({ chat: '900222@lid' }),
    });
  });

  it('sends each message’s key as WhatsApp named it, with the sender in a group', async () => {
    expect(await chats.read({ chat: '120363001@g.us', messageIds: ['IN1', 'IN1'] })).toBe(1);
    expect(await chats.read({ chat: '628222@s.whatsapp.net', messageIds: ['IN2'] })).toBe(1);
    // A chat WhatsApp keeps by LID is read by the number too.
    expect(await chats.read({ chat: '628222@s.whatsapp.net', messageIds: ['IN3'] })).toBe(1);
    expect(read).toEqual([
      { remoteJid: '120363001@g.us', id: 'IN1', participant: '628111@s.whatsapp.net', fromMe: false },
      { remoteJid: '628222@s.whatsapp.net', id: 'IN2', participant: undefined, fromMe: false },
      { remoteJid: '900222@lid', id: 'IN3', participant: undefined, fromMe: false },
    ]);
  });

  it('refuses an id it never received, or one of another chat, naming messageIds', async () => {
    await expect(chats.read({ chat: '628222@s.whatsapp.net', messageIds: ['IN2', 'NOPE'] })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^messageIds: .*NOPE/) });
    await expect(chats.read({ chat: '120363999@g.us', messageIds: ['IN1'] })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^messageIds: /) });
    expect(read).toEqual([]);
  });
});
