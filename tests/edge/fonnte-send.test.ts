// Fonnte's /send parameters beyond a text, in the Workers runtime with a stand-in session host:
// what each asks the host to send, and Fonnte's answers. With the real host: tests/fonnte/send.test.ts.
import { exports } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SendParams } from '../../session-host/link/protocol.ts';
import { ADMIN_KEY, call, newDevice, until } from './client.ts';
import { fakeHost, HostFailure } from './fake-host.ts';

let device: Awaited<ReturnType<typeof newDevice>>;
beforeAll(async () => {
  device = await newDevice('Fonnte');
});

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

/** A host whose WhatsApp takes every message, except while `offline` says the device is not connected. */
function whatsapp(offline = { now: false }) {
  host = fakeHost({
    'message.send': (p) => {
      if (offline.now) throw new HostFailure('not_connected', 'Device is not connected');
      return { id: `WA${p.outboxId}`, timestamp: 1779348348, to: p.to };
    },
  });
  return (prefix: string) =>
    host!.requests
      .filter((r) => r.method === 'message.send')
      .map((r) => r.params as SendParams)
      .filter((p) => p.to.startsWith(prefix));
}

const send = (json: unknown) => call('POST', '/send', { key: device.apiKey, json });
const requestid = expect.any(Number);

describe('POST /send: what Fonnte can send', () => {
  it('sends a location, with or without a message as its name', async () => {
    const sent = whatsapp();
    const only = await send({ target: '628110000001', location: '-7.983908, 112.621391' });
    expect(only).toMatchObject({ status: 200, body: { status: true, process: 'sent', requestid, target: ['628110000001'] } });
    await send({ target: '628110000002', location: '-6.2,106.816666', message: 'Kantor' });
    expect(sent('62811').map((p) => [p.to, p.location, p.text])).toEqual([
      ['628110000001@s.whatsapp.net', { latitude: -7.983908, longitude: 112.621391 }, undefined],
      ['628110000002@s.whatsapp.net', { latitude: -6.2, longitude: 106.816666, name: 'Kantor' }, undefined],
    ]);
  });

  it('sends a poll: pollname (else message) as its name, single choice unless select is multiple', async () => {
    const sent = whatsapp();
    await send({ target: '628120000001', message: 'Pilih paket', choices: 'regular, super,ultra', select: 'single', pollname: 'paket' });
    await send({ target: '628120000002', message: 'Which days?', choices: 'mon,tue', select: 'multiple' });
    expect(sent('62812').map((p) => [p.poll, p.text])).toEqual([
      [{ name: 'paket', options: ['regular', 'super', 'ultra'], multiple: false }, undefined],
      [{ name: 'Which days?', options: ['mon', 'tue'], multiple: true }, undefined],
    ]);
  });

  it('quotes the message inboxid names, and leaves link previews off with preview false', async () => {
    const sent = whatsapp();
    await send({ target: '628130000001', message: 'Terima kasih', inboxid: '3EB0C0FFEE' });
    await send({ target: '628130000002', message: 'https://example.com', preview: 'false' });
    expect(sent('62813').map((p) => [p.quotedId, p.linkPreview])).toEqual([
      ['3EB0C0FFEE', undefined],
      [undefined, false],
    ]);
  });

  it('types for duration seconds, and sends audio URLs as audio', async () => {
    const sent = whatsapp();
    await send({ target: '628140000001', message: 'Halo', typing: true, duration: '5' });
    await send({ target: '628140000002', url: 'https://cdn.example.com/voice/greeting.mp3' });
    await send({ target: '628140000003', url: 'https://cdn.example.com/get?id=1', filename: 'song.ogg' });
    expect(sent('62814').map((p) => [p.typingMs, p.media?.type])).toEqual([
      [5_000, undefined],
      [undefined, 'audio'],
      [undefined, 'audio'],
    ]);
  });

  it('sends a target listed twice twice, each with its own variables, and answers each in order', async () => {
    const sent = whatsapp();
    const { body } = await send({ target: '628150000001|Fonnte|Admin,628150000001|Lili|User', message: 'test message to {name} as {var1}' });
    expect(body).toMatchObject({ status: true, target: ['628150000001', '628150000001'], id: [expect.any(String), expect.any(String)] });
    expect(sent('62815').map((p) => p.text)).toEqual(expect.arrayContaining(['test message to Fonnte as Admin', 'test message to Lili as User']));
  });

  it('queues data, sequence and more than 50 targets through the outbox, in request order', async () => {
    const sent = whatsapp();
    const data = JSON.stringify([
      { target: '628160000001', message: '1' },
      { target: '628160000001', message: '2', location: '1,2' },
      { target: '628160000001', message: '3', choices: 'a,b' },
    ]);
    const bulk = await call('POST', '/send', { key: device.apiKey, form: { data } });
    expect(bulk.body).toEqual({
      status: true,
      detail: 'success! message in queue',
      id: [expect.any(String), expect.any(String), expect.any(String)],
      target: ['628160000001', '628160000001', '628160000001'],
      process: 'pending',
      requestid,
    });
    await until(async () => sent('62816').length === 3, 'data sent');
    expect(sent('62816').map((p) => p.text ?? p.location?.name ?? p.poll?.name)).toEqual(['1', '2', '3']);

    const many = Array.from({ length: 60 }, (_, i) => `6281700${String(i).padStart(5, '0')}`);
    const big = await send({ target: many.join(','), message: 'promo', sequence: true });
    expect(big.body).toMatchObject({ status: true, detail: 'success! message in queue', process: 'pending', target: many });
    expect(big.body.id).toHaveLength(60);
    await until(async () => sent('628170').length === 60, 'all 60 sent');
  });

  it('answers a bad data with JSON format invalid, and a bad sub-request naming it', async () => {
    whatsapp();
    expect(await call('POST', '/send', { key: device.apiKey, form: { data: '[{"target":' } })).toEqual({
      status: 200,
      body: { status: false, reason: 'JSON format invalid', detail: 'data: must be a JSON array of requests like [{"target":"628123456789","message":"Hi"}]', requestid },
    });
    expect(
      await send({
        data: [
          { target: '628160000001', message: 'ok' },
          { target: 'x', message: 'bad' },
        ],
      }),
    ).toMatchObject({
      status: 200,
      body: { status: false, reason: 'target invalid', detail: expect.stringMatching(/^data\.1\.target: must be a phone number/) },
    });
  });

  it('answers a disconnected device with 503 "device disconnected", or queues it with connectOnly false', async () => {
    const offline = { now: true };
    const sent = whatsapp(offline);
    expect(await send({ target: '628180000001', message: 'refused' })).toEqual({
      status: 503,
      body: { status: false, reason: 'device disconnected', detail: 'Device is not connected', results: [{ target: '628180000001', status: false, reason: 'Device is not connected' }], requestid },
    });
    const kept = await send({ target: '628180000002', message: 'kept', connectOnly: false });
    expect(kept).toEqual({ status: 200, body: { status: true, detail: 'success! message in queue', id: [expect.stringMatching(/^msg_/)], target: ['628180000002'], process: 'pending', requestid } });
    offline.now = false;
    await until(async () => sent('628180000002').some((p) => p.text === 'kept'), 'sent once the device is back');
  });

  it('refuses bad Fonnte fields, naming them', async () => {
    const cases: [unknown, string, string][] = [
      [{ target: '628123456789', location: 'here' }, 'input invalid', 'location: must be "latitude,longitude" like "-7.983908, 112.621391", got "here"'],
      [{ target: '628123456789', choices: 'only one', pollname: 'x' }, 'input invalid', 'choices: must be 2 to 12 comma-separated options of at most 100 characters, got 1'],
      [{ target: '628123456789', choices: 'a,b' }, 'input invalid', 'pollname: required with choices (or message, as the poll name)'],
      [{ target: '628123456789', message: 'x', select: 'many' }, 'input invalid', 'select: Invalid option: expected one of "single"|"multiple"'],
      [{ target: '628123456789', message: 'x', duration: '90' }, 'input invalid', 'duration: must be 1 to 30 seconds'],
      [
        { target: Array(100).fill('628123456789').join(','), message: 'x'.repeat(50_000) },
        'input invalid',
        'message: at most 4000000 characters for all targets together, got 5000000: send a long text to fewer targets at once',
      ],
    ];
    for (const [json, reason, detail] of cases) expect(await send(json)).toEqual({ status: 200, body: { status: false, reason, detail, requestid } });
  });
});

describe("Fonnte's rotator: Authorization: TOKEN1,TOKEN2", () => {
  it('sends the targets from each device in turn, answering in request order', async () => {
    const sent = whatsapp();
    const other = await newDevice('Fonnte 2');
    const targets = ['628220000001', '628220000002', '628220000003'];
    const res = await call('POST', '/send', { key: `${device.apiKey}, ${other.apiKey}`, json: { target: targets.join(','), message: 'rotated' } });
    expect(res).toMatchObject({ status: 200, body: { status: true, target: targets, process: 'sent', requestid } });
    const from = Object.fromEntries(sent('62822').map((p) => [p.to.split('@')[0], p.deviceId]));
    expect(targets.map((t) => from[t])).toEqual([device.id, other.id, device.id]);
  });

  it('refuses the lot if any key is not a device key', async () => {
    whatsapp();
    for (const key of [`${device.apiKey},wa_${'0'.repeat(32)}`, `${device.apiKey},${ADMIN_KEY}`]) {
      expect(await call('POST', '/send', { key, json: { target: '628220000009', message: 'x' } })).toMatchObject({ status: 401, body: { status: false, reason: 'Unauthorized: Invalid API Key.' } });
    }
  });
});

describe("Fonnte's URL API, paths and bodies", () => {
  it('sends with GET /send?token=…, and redirects there with redirect', async () => {
    const sent = whatsapp();
    const query = new URLSearchParams({ token: device.apiKey, target: '08190000001', message: 'hello world', countryCode: '62', url: '' });
    const { status, body } = await call('GET', `/send?${query}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: true, reason: 'Message sent successfully', target: ['628190000001'], process: 'sent', requestid });
    query.set('target', '628190000002');
    query.set('redirect', 'https://example.com/done');
    const res = await exports.default.fetch(`http://gateway.test/send/?${query}`, { redirect: 'manual' });
    expect([res.status, res.headers.get('location')]).toEqual([302, 'https://example.com/done']);
    expect(sent('62819').map((p) => p.text)).toEqual(['hello world', 'hello world']);
    expect(await call('GET', `/send?${new URLSearchParams({ token: 'wa_wrong', target: '1', message: 'x' })}`)).toMatchObject({ status: 401, body: { status: false, reason: 'Unauthorized: Invalid API Key.' } });
  });

  it('routes /send/ and //send, and leaves /api paths as they are', async () => {
    whatsapp();
    for (const path of ['/send/', '//send', '//send/']) {
      expect(await call('POST', path, { key: device.apiKey, json: { target: '628200000001', message: path } })).toMatchObject({ status: 200, body: { status: true } });
    }
    expect(await call('GET', '/api//status', { key: device.apiKey })).toEqual({ status: 404, body: { error: 'Not found' } });
  });

  it('reads a body that is not a form as JSON, whatever its Content-Type says', async () => {
    const sent = whatsapp();
    const body = JSON.stringify({ target: '628210000001', message: 'no content type' });
    const bare = await exports.default.fetch('http://gateway.test/send', { method: 'POST', headers: { authorization: device.apiKey }, body: new Blob([body]) });
    expect(await bare.json()).toMatchObject({ status: true });
    const text = await call('POST', '/send', { key: device.apiKey, body: JSON.stringify({ target: '628210000002', message: 'text/plain' }), headers: { 'content-type': 'text/plain' } });
    expect(text.body).toMatchObject({ status: true });
    expect(sent('62821').map((p) => p.text)).toEqual(['no content type', 'text/plain']);
  });
});
