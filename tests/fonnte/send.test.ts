// Fonnte's /send as its clients call it (API.md's corpus C01-C29), against the real Worker,
// session host and Baileys, with the simulator as the recipients' phones: Fonnte's answer shapes,
// and what each recipient decrypted.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLinkedDevice, startSimStack, until } from '../support/e2e.ts';
import { wav } from '../support/fixtures.ts';
import type { Stack } from '../../bin/stack.ts';
import type { OutgoingMessage, WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let files: Server;
let filesUrl: string;
let device: { id: string; apiKey: string; phone: string };

beforeAll(async () => {
  files = createServer((req, res) => {
    if (req.url === '/promo')
      return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html><head><title>Promo</title><meta property="og:title" content="Promo Lebaran"></head></html>');
    if (req.url !== '/sound/tone.wav') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav(1));
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  ({ sim, stack } = await startSimStack('fonnte-send', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
  device = await createLinkedDevice(stack, sim, { name: 'Fonnte' });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  files?.closeAllConnections();
  files?.close();
  await sim?.stop();
});

/** A recipient on WhatsApp, for a number unique to the test. */
const person = (phone: string) => sim.addContact({ phone, name: `Person ${phone.slice(-3)}` }).jid;

// The encodings Fonnte's clients send /send in.
type Fields = Record<string, string>;
const encodings = {
  /** PHP cURL with a CURLOPT_POSTFIELDS array: multipart, PHP false as an empty part. */
  php: (fields: Fields) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    return { body: form };
  },
  /** JS fetch with FormData (the browser sets the boundary). */
  formData: (fields: Fields) => encodings.php(fields),
  /** Python requests data=…, PHP http_build_query. */
  urlencoded: (fields: Fields) => ({ body: new URLSearchParams(fields), headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
  json: (fields: Fields) => ({ body: JSON.stringify(fields), headers: { 'content-type': 'application/json' } }),
  /** A payment notifier posting JSON with no Content-Type at all. */
  bareJson: (fields: Fields) => ({ body: new Blob([JSON.stringify(fields)]) }),
};
type Encoding = keyof typeof encodings;

async function post(fields: Fields, encoding: Encoding = 'php', token = device.apiKey) {
  const { body, headers } = { headers: {}, ...encodings[encoding](fields) };
  const res = await fetch(`${stack.edgeUrl}/send`, { method: 'POST', headers: { authorization: token, ...headers }, body });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** What the recipient decrypted of the message with this id. */
const received = (id: string) => sim.waitForOutgoing((m) => m.id === id, 30_000);
const byText = (to: string, text: string) => sim.waitForOutgoing((m) => m.to === to && m.text === text, 30_000);

const sentShape = (target: string[]) => ({
  status: true,
  reason: 'Message sent successfully',
  detail: `sent to ${target.length} of ${target.length} targets`,
  id: target.map(() => expect.any(String)),
  target,
  results: target.map((t) => ({ target: t, status: true, id: expect.any(String) })),
  process: 'sent',
  requestid: expect.any(Number),
});
const queuedShape = (target: string[]) => ({
  status: true,
  detail: 'success! message in queue',
  id: target.map(() => expect.stringMatching(/^msg_/)),
  target,
  process: 'pending',
  requestid: expect.any(Number),
});

describe('Fonnte /send, replayed as clients send it', () => {
  it('C01, C06, C07: a text, in every encoding', async () => {
    const encodingsInOrder = Object.keys(encodings) as Encoding[];
    for (const [i, encoding] of encodingsInOrder.entries()) {
      const phone = `628130000010${i}`;
      const jid = person(phone);
      const res = await post({ target: `0${phone.slice(2)}`, message: `test ya (${encoding})`, countryCode: '62' }, encoding);
      expect(res, encoding).toEqual({ status: 200, json: sentShape([phone]) });
      expect((await received(res.json.id[0])).text).toBe(`test ya (${encoding})`);
      expect((await received(res.json.id[0])).to).toBe(jid);
    }
  });

  it('C03: one number listed twice, each copy with its own variables; PHP false fields blank', async () => {
    const jid = person('6281300000201');
    const res = await post({ target: '081300000201|Fonnte|Admin,081300000201|Lili|User', message: 'test message to {name} as {var1}', schedule: '0', typing: '', delay: '0', countryCode: '62', followup: '0' });
    expect(res).toEqual({ status: 200, json: sentShape(['6281300000201', '6281300000201']) });
    expect((await byText(jid, 'test message to Fonnte as Admin')).id).toBe(res.json.id[0]);
    expect((await byText(jid, 'test message to Lili as User')).id).toBe(res.json.id[1]);
  });

  it('C12: a location only, in multipart and JSON', async () => {
    for (const encoding of ['php', 'json'] as const) {
      person('6281300000301');
      const res = await post({ target: '6281300000301', location: '-7.983908, 112.621391' }, encoding);
      expect(res).toEqual({ status: 200, json: sentShape(['6281300000301']) });
      expect((await received(res.json.id[0])).message?.locationMessage).toMatchObject({ degreesLatitude: -7.983908, degreesLongitude: 112.621391 });
    }
  });

  it('C13: a poll with its options, single or multiple choice', async () => {
    person('6281300000401');
    const single = await post({ target: '6281300000401', message: 'Pilih paket', choices: 'regular,super,ultra', select: 'single', pollname: 'paket' }, 'formData');
    expect(single).toEqual({ status: 200, json: sentShape(['6281300000401']) });
    const poll = (m: OutgoingMessage) => m.message?.pollCreationMessageV3 ?? m.message?.pollCreationMessage;
    expect(poll(await received(single.json.id[0]))).toMatchObject({ name: 'paket', options: [{ optionName: 'regular' }, { optionName: 'super' }, { optionName: 'ultra' }], selectableOptionsCount: 1 });
    const multiple = await post({ target: '6281300000401', message: 'Hari apa?', choices: 'Senin,Selasa', select: 'multiple' }, 'urlencoded');
    expect(poll(await received(multiple.json.id[0]))).toMatchObject({ name: 'Hari apa?', options: [{ optionName: 'Senin' }, { optionName: 'Selasa' }], selectableOptionsCount: 0 });
  });

  it('C18: an audio URL arrives as audio', async () => {
    person('6281300000501');
    const res = await post({ target: '6281300000501', url: `${filesUrl}/sound/tone.wav` });
    expect(res).toEqual({ status: 200, json: sentShape(['6281300000501']) });
    const out = await received(res.json.id[0]);
    expect(out.message?.audioMessage).toBeTruthy();
    expect(out.media).toMatchObject({ type: 'audio' });
  });

  it("C19: a reply quoting the incoming message the webhook's inboxid names", async () => {
    person('6281300000601');
    const { id: inboxid } = await sim.sendIncoming(device.phone, '6281300000601', 'Sudah transfer ya');
    // Until the host has stored the incoming message it cannot quote it.
    const reply = await until(async () => {
      const res = await post({ target: '6281300000601', message: 'Terima kasih', inboxid });
      return res.json.status === true && res;
    }, 'the incoming message remembered');
    const context = (await received(reply.json.id[0])).message?.extendedTextMessage?.contextInfo;
    expect(context).toMatchObject({ stanzaId: inboxid, participant: '6281300000601@s.whatsapp.net' });
    expect(context?.quotedMessage?.conversation ?? context?.quotedMessage?.extendedTextMessage?.text).toBe('Sudah transfer ya');
  });

  it("C20: data's sub-messages, each its own request, arrive in order", async () => {
    const jid = person('6281300000701');
    const data = JSON.stringify([
      { target: '081300000701', message: '1' },
      { target: '081300000701', message: '2', delay: '1' },
      { target: '081300000701', location: '-6.2,106.8', message: '3' },
    ]);
    const res = await post({ data });
    expect(res).toEqual({ status: 200, json: queuedShape(['6281300000701', '6281300000701', '6281300000701']) });
    const first = await byText(jid, '1');
    const second = await byText(jid, '2');
    const third = await sim.waitForOutgoing((m) => m.to === jid && !!m.message?.locationMessage, 30_000);
    expect(third.message?.locationMessage).toMatchObject({ degreesLatitude: -6.2, degreesLongitude: 106.8, name: '3' });
    expect(first.at).toBeLessThan(second.at);
    expect(second.at).toBeLessThan(third.at);
  });

  it('C20: a data that is not JSON gets Fonnte\'s "JSON format invalid"', async () => {
    expect(await post({ data: '[{"target":"0813' })).toEqual({
      status: 200,
      json: { status: false, reason: 'JSON format invalid', detail: expect.stringMatching(/^data: must be a JSON array/), requestid: expect.any(Number) },
    });
  });

  it('C21: sequence, preview=false, connectOnly=false and followup are accepted; sequence queues', async () => {
    const jid = person('6281300000801');
    const res = await post({ target: '081300000801', message: 'https://fonnte.com', preview: 'false', sequence: 'true', connectOnly: 'false', followup: '0' });
    expect(res).toEqual({ status: 200, json: queuedShape(['6281300000801']) });
    // Queued (sequence), and out once its turn comes; preview=false reaching the host is asserted in tests/edge/fonnte-send.test.ts.
    expect((await byText(jid, 'https://fonnte.com')).id).toEqual(expect.any(String));
  });

  it('C21: a link gets its preview card unless preview=false', async () => {
    const jid = person('6281300000802');
    const url = `${filesUrl}/promo`;
    const card = await post({ target: '6281300000802', message: `Lihat ${url}` });
    expect((await received(card.json.id[0])).message?.extendedTextMessage).toMatchObject({ matchedText: url, title: 'Promo Lebaran' });
    const plain = await post({ target: '6281300000802', message: `Tanpa kartu ${url}`, preview: 'false' });
    const out = (await received(plain.json.id[0])).message!;
    expect(out.extendedTextMessage?.text ?? out.conversation).toBe(`Tanpa kartu ${url}`);
    expect(out.extendedTextMessage?.title ?? null).toBeNull();
    expect(sim.outbox.filter((m) => m.to === jid)).toHaveLength(2);
  });

  it('C24-C26: bad token, invalid target, missing target', async () => {
    expect(await post({ target: '083120942579', message: 'x' }, 'php', 'wrongtoken')).toEqual({
      status: 401,
      json: { status: false, reason: 'Unauthorized: Invalid API Key.', requestid: expect.any(Number) },
    });
    expect(await post({ target: 'abc', message: 'x' })).toEqual({
      status: 200,
      json: { status: false, reason: 'target invalid', detail: 'target: must be a phone number like 628123456789 or a group id ending in @g.us, got "abc"', requestid: expect.any(Number) },
    });
    expect(await post({ message: 'x' }, 'urlencoded')).toEqual({ status: 200, json: { status: false, reason: 'target invalid', detail: 'target: required (or to)', requestid: expect.any(Number) } });
  });

  it('C27: 200 targets are all accepted, queued, and listed in request order', async () => {
    const phones = Array.from({ length: 200 }, (_, i) => `62813100${String(i).padStart(4, '0')}`);
    for (const phone of phones) person(phone);
    const res = await post({ target: phones.join(','), message: 'promo 200' });
    expect(res).toEqual({ status: 200, json: queuedShape(phones) });
    await byText(`${phones[0]}@s.whatsapp.net`, 'promo 200');
  });

  it('C29: the URL API, with a trailing slash and with redirect', async () => {
    const jid = person('6281300000901');
    const query = new URLSearchParams({ token: device.apiKey, target: '081300000901', message: 'hello world', countryCode: '62' });
    for (const path of ['/send', '/send/']) {
      const res = await fetch(`${stack.edgeUrl}${path}?${query}`);
      expect(await res.json()).toEqual(sentShape(['6281300000901']));
    }
    query.set('redirect', 'https://example.com/thanks');
    const redirected = await fetch(`${stack.edgeUrl}/send?${query}`, { redirect: 'manual' });
    expect([redirected.status, redirected.headers.get('location')]).toEqual([302, 'https://example.com/thanks']);
    await until(() => sim.outbox.filter((m) => m.to === jid && m.text === 'hello world').length === 3, 'three sends');
  });
});
