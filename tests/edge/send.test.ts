import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Params, type SendParams, UPLOAD_CHUNK_BYTES } from '../../session-host/link/protocol.ts';
import { messagesTable } from '../../edge/db/schema.ts';
import { call, newDevice } from './client.ts';
import { fakeHost, HostFailure } from './fake-host.ts';

const db = drizzle(env.DB);
let device: Awaited<ReturnType<typeof newDevice>>;
beforeAll(async () => {
  device = await newDevice('Sender');
});

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

/** A host whose WhatsApp takes every message, except to numbers in `refuse` (with that failure). */
function whatsapp(refuse: Record<string, HostFailure> = {}) {
  host = fakeHost({
    'message.send': (p) => {
      const failure = refuse[p.to.split('@')[0]!];
      if (failure) throw failure;
      return { id: `3EB0${p.to.slice(0, 12)}`, timestamp: 1779348348, to: p.to };
    },
  });
  return () => host!.requests.filter((r) => r.method === 'message.send').map((r) => r.params as SendParams);
}

const send = (json: unknown) => call('POST', '/send', { key: device.apiKey, json });

describe('POST /send (Fonnte)', () => {
  it('sends a text and answers in the seed shape', async () => {
    const sent = whatsapp();
    const { status, body } = await send({ target: '08123456789', message: 'Halo' });
    expect(status).toBe(200);
    expect(body).toEqual({
      status: true,
      reason: 'Message sent successfully',
      detail: 'sent to 1 of 1 targets',
      id: ['3EB0628123456789'],
      target: ['628123456789'],
      results: [{ target: '628123456789', status: true, id: '3EB0628123456789' }],
      process: 'sent',
      requestid: expect.any(Number),
    });
    expect(sent()).toEqual([expect.objectContaining({ deviceId: device.id, to: '628123456789@s.whatsapp.net', text: 'Halo' })]);
  });

  it('keeps a literal % in urlencoded and multipart bodies, as simple clients send it', async () => {
    const sent = whatsapp();
    // An ESP32 sketch posts its reading without encoding it: a % not followed by two hex digits.
    const raw = 'target=628666000666&message=Humidity 70%, ok 100%25 done %zz';
    const form = await call('POST', '/send', { key: device.apiKey, body: raw, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const multipart = new FormData();
    multipart.set('target', '628668000668');
    multipart.set('message', 'Humidity 70%, ok 100%25 done');
    const parts = await call('POST', '/send', { key: device.apiKey, multipart });
    expect([form.status, parts.status]).toEqual([200, 200]);
    expect(sent().map((p) => [p.to, p.text])).toEqual([
      ['628666000666@s.whatsapp.net', 'Humidity 70%, ok 100% done %zz'],
      ['628668000668@s.whatsapp.net', 'Humidity 70%, ok 100%25 done'],
    ]);
  });

  it('marks the media of a request with several targets so the host downloads it once', async () => {
    const sent = whatsapp();
    await send({ target: '628661000001,628661000002,628661000003', url: 'https://files.example/catalog.png', message: 'catalog' });
    const keys = sent()
      .filter((p) => p.to.startsWith('628661'))
      .map((p) => p.media?.shared);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^msg_/);
  });

  it('reads JSON, urlencoded and multipart bodies, with target or to', async () => {
    const sent = whatsapp();
    const multipart = new FormData();
    multipart.set('target', '628333000333');
    multipart.set('message', 'by multipart');
    const requests = [
      call('POST', '/send', { key: device.apiKey, json: { to: '628111000111', message: 'by JSON, to' } }),
      call('POST', '/send', { key: device.apiKey, form: { target: '628222000222', message: 'by form' } }),
      call('POST', '/send', { key: device.apiKey, multipart }),
      // Fonnte's clients send numbers as numbers, and unused fields blank.
      call('POST', '/send', { key: device.apiKey, json: { target: 628444000444, message: 'number', url: '', filename: '', schedule: 0, delay: '2', typing: false } }),
      call('POST', '/send', { key: device.apiKey, form: { target: '628555000555', message: 'blank form fields', url: '', countryCode: '' } }),
    ];
    for (const { status, body } of await Promise.all(requests)) expect([status, body.reason]).toEqual([200, 'Message sent successfully']);
    expect(sent().map((p) => [p.to, p.text, p.media])).toEqual(
      expect.arrayContaining([
        ['628111000111@s.whatsapp.net', 'by JSON, to', undefined],
        ['628222000222@s.whatsapp.net', 'by form', undefined],
        ['628333000333@s.whatsapp.net', 'by multipart', undefined],
        ['628444000444@s.whatsapp.net', 'number', undefined],
        ['628555000555@s.whatsapp.net', 'blank form fields', undefined],
      ]),
    );
  });

  it('sends to each of several targets, with countryCode for national numbers', async () => {
    const sent = whatsapp();
    const { status, body } = await send({ target: '0123456789, +62 812-3456-789,120363023456789012@g.us,0123456789', message: 'Hi all', countryCode: '60' });
    expect(status).toBe(200);
    // A number listed twice gets it twice, as Fonnte sends it.
    expect(body.target).toEqual(['60123456789', '628123456789', '120363023456789012@g.us', '60123456789']);
    expect(body.id).toHaveLength(4);
    expect(
      sent()
        .map((p) => p.to)
        .sort(),
    ).toEqual(['120363023456789012@g.us', '60123456789@s.whatsapp.net', '60123456789@s.whatsapp.net', '628123456789@s.whatsapp.net']);
  });

  it('sends media from url, typed by its extension, with the message as caption', async () => {
    const sent = whatsapp();
    await send({ target: '628111000111', url: 'https://cdn.example.com/a/photo.JPG?size=big', message: 'A photo' });
    await send({ target: '628111000111', url: 'https://cdn.example.com/clip.mp4' });
    await send({ target: '628111000111', url: 'https://cdn.example.com/download?id=7', filename: 'invoice.pdf' });
    expect(sent().map((p) => [p.media, p.text])).toEqual([
      [{ type: 'image', url: 'https://cdn.example.com/a/photo.JPG?size=big' }, 'A photo'],
      [{ type: 'video', url: 'https://cdn.example.com/clip.mp4' }, undefined],
      [{ type: 'document', url: 'https://cdn.example.com/download?id=7', fileName: 'invoice.pdf' }, undefined],
    ]);
  });

  it('reports each target when only some could be sent', async () => {
    whatsapp({ '628222000222': new HostFailure('send_failed', 'WhatsApp refused the message: not on WhatsApp') });
    const { status, body } = await send({ target: '628111000111,628222000222', message: 'Hi' });
    expect(status).toBe(200);
    expect(body).toEqual({
      status: true,
      reason: 'Message sent to 1 of 2 targets',
      detail: 'sent to 1 of 2 targets',
      id: ['3EB0628111000111'],
      target: ['628111000111'],
      results: [
        { target: '628111000111', status: true, id: '3EB0628111000111' },
        { target: '628222000222', status: false, reason: 'WhatsApp refused the message: not on WhatsApp' },
      ],
      process: 'sent',
      requestid: expect.any(Number),
    });
  });

  it('fails with the first failure when nothing could be sent', async () => {
    whatsapp({ '628111000111': new HostFailure('not_connected', 'Device is not connected'), '628222000222': new HostFailure('not_connected', 'Device is not connected') });
    const { status, body } = await send({ target: '628111000111,628222000222', message: 'Hi' });
    // The seed's 503, in Fonnte's phrase; the seed's words in detail.
    expect(status).toBe(503);
    expect(body).toMatchObject({ status: false, reason: 'device disconnected', detail: 'Device is not connected', requestid: expect.any(Number) });
    expect(body.results).toHaveLength(2);
  });

  it('maps host failures to statuses', async () => {
    whatsapp({
      '628111000111': new HostFailure('media_error', 'media download failed: HTTP 404'),
      '628222000222': new HostFailure('send_failed', 'WhatsApp did not accept the message'),
      '628333000333': new HostFailure('internal', 'internal error on the session host'),
    });
    // A URL the host could not fetch is Fonnte's request error: HTTP 200, its phrase.
    expect(await send({ target: '628111000111', url: 'https://cdn.example.com/gone.png' })).toMatchObject({
      status: 200,
      body: { status: false, reason: 'url unreachable', detail: 'media download failed: HTTP 404' },
    });
    expect(await send({ target: '628222000222', message: 'x' })).toMatchObject({ status: 502, body: { status: false, reason: 'WhatsApp did not accept the message' } });
    expect(await send({ target: '628333000333', message: 'x' })).toMatchObject({ status: 500, body: { status: false, reason: 'Internal Server Error' } });
  });

  it('queues while the session host is offline, as Fonnte does, and logs the message as queued', async () => {
    const started = Date.now();
    const { status, body } = await send({ target: '628999000999', message: 'Anyone there?' });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(status).toBe(200);
    expect(body).toEqual({ status: true, detail: 'success! message in queue', id: [expect.stringMatching(/^msg_/)], target: ['628999000999'], process: 'pending', requestid: expect.any(Number) });
    const [logged] = await db.select().from(messagesTable).where(eq(messagesTable.to, '628999000999'));
    expect(logged).toMatchObject({ id: body.id[0], deviceId: device.id, type: 'text', preview: 'Anyone there?', status: 'queued', waMessageId: null });
    // Cancelled, so no later test's host receives it.
    expect(await call('DELETE', `/api/messages/${logged!.id}`, { key: device.apiKey })).toMatchObject({ status: 200, body: { status: 'failed', error: 'cancelled' } });
  });

  it('logs every send with its outcome', async () => {
    whatsapp({ '628777000002': new HostFailure('not_connected', 'Device is not connected') });
    await send({ target: '628777000001,628777000002', message: 'x'.repeat(300) });
    const rows = await db.select().from(messagesTable).where(eq(messagesTable.deviceId, device.id));
    expect(rows.find((r) => r.to === '628777000001')).toMatchObject({ status: 'sent', waMessageId: '3EB0628777000001', error: null, preview: 'x'.repeat(200) });
    expect(rows.find((r) => r.to === '628777000002')).toMatchObject({ status: 'failed', waMessageId: null, error: 'Device is not connected' });
    // The log id is the host's outbox id, so the host never sends one twice.
    const outboxIds = host!.requests.filter((r) => r.method === 'message.send').map((r) => (r.params as SendParams).outboxId);
    expect(outboxIds.sort()).toEqual(
      rows
        .filter((r) => r.to.startsWith('628777'))
        .map((r) => r.id)
        .sort(),
    );
  });

  it("refuses invalid requests as Fonnte does: HTTP 200, Fonnte's phrase, the field at fault in detail", async () => {
    const cases: [unknown, string, string][] = [
      [{ message: 'Hi' }, 'target invalid', 'target: required (or to)'],
      [{ target: ' , ', message: 'Hi' }, 'target invalid', 'target: required (or to)'],
      [{ target: '628123456789' }, 'input invalid', 'message: required (or url, file, location or choices)'],
      [{ target: 'abc', message: 'Hi' }, 'target invalid', 'target: must be a phone number like 628123456789 or a group id ending in @g.us, got "abc"'],
      [{ to: '628123456789,12', message: 'Hi' }, 'target invalid', 'to: must be a phone number like 628123456789 or a group id ending in @g.us, got "12"'],
      [{ target: '628123456789', message: 'Hi', countryCode: '+62' }, 'input invalid', 'countryCode: must be 1-4 digits, like 62'],
      [{ target: '628123456789', url: 'file:///etc/passwd' }, 'url invalid', 'url: must be an http(s) URL'],
      [{ target: '628123456789', message: { text: 'Hi' } }, 'input invalid', 'message: Invalid input'],
      [{ target: Array.from({ length: 1001 }, (_, i) => `6281200${String(i).padStart(5, '0')}`).join(','), message: 'Hi' }, 'target invalid', 'target: at most 1000 recipients per request, got 1001'],
    ];
    for (const [json, reason, detail] of cases) expect(await send(json)).toEqual({ status: 200, body: { status: false, reason, detail, requestid: expect.any(Number) } });
  });

  it('carries a file upload to the host in pieces, then sends it by its upload id', async () => {
    const puts: Params<'media.put'>[] = [];
    const sends: SendParams[] = [];
    host = fakeHost({
      'media.put': (p) => {
        puts.push(p);
        return { stored: p.offset + Buffer.from(p.data, 'base64').length };
      },
      'message.send': (p) => {
        sends.push(p);
        return { id: '3EB0UPLOAD', timestamp: 1779348348, to: p.to };
      },
    });
    const bytes = new Uint8Array(UPLOAD_CHUNK_BYTES + 1000).map((_, i) => i % 251);
    const multipart = new FormData();
    multipart.set('target', '628123456789');
    multipart.set('message', 'See attached');
    multipart.set('file', new File([bytes], 'invoice.pdf', { type: 'application/pdf' }));
    expect(await call('POST', '/send', { key: device.apiKey, multipart })).toMatchObject({ status: 200, body: { status: true, reason: 'Message sent successfully' } });
    expect(puts.map((p) => [p.offset, p.total, p.mimetype, p.fileName])).toEqual([
      [0, bytes.length, 'application/pdf', 'invoice.pdf'],
      [UPLOAD_CHUNK_BYTES, bytes.length, 'application/pdf', 'invoice.pdf'],
    ]);
    expect(Buffer.concat(puts.map((p) => Buffer.from(p.data, 'base64'))).equals(Buffer.from(bytes))).toBe(true);
    expect(sends.map((p) => p.media)).toEqual([{ type: 'document', upload: puts[0]!.upload, fileName: 'invoice.pdf' }]);
    expect(new Set(puts.map((p) => p.upload)).size).toBe(1);
    const order = host!.requests.map((r) => r.method).filter((m) => m === 'media.put' || m === 'message.send');
    expect(order).toEqual(['media.put', 'media.put', 'message.send']);
  });

  it('answers a file upload while the session host is offline with 503: the file cannot wait on the edge', async () => {
    const multipart = new FormData();
    multipart.set('target', '628123456789');
    multipart.set('file', new File(['%PDF-1.4'], 'invoice.pdf', { type: 'application/pdf' }));
    expect(await call('POST', '/send', { key: device.apiKey, multipart })).toEqual({ status: 503, body: { status: false, reason: 'Session host is offline', requestid: expect.any(Number) } });
  });

  it('refuses bodies it cannot read, in its own error shape', async () => {
    const key = device.apiKey;
    expect(await call('POST', '/send', { key, body: '{"target": ', headers: { 'content-type': 'application/json' } })).toEqual({
      status: 200,
      body: { status: false, reason: 'JSON format invalid', detail: 'Malformed JSON in request body', requestid: expect.any(Number) },
    });
    // Not a form: read as JSON, whatever the Content-Type says.
    expect(await call('POST', '/send', { key, body: 'target=1', headers: { 'content-type': 'text/plain' } })).toEqual({
      status: 200,
      body: { status: false, reason: 'JSON format invalid', detail: 'Malformed JSON in request body (a body that is not a form is read as JSON)', requestid: expect.any(Number) },
    });
    const huge = await call('POST', '/send', { key, json: { target: '628123456789', message: 'x'.repeat(1024 * 1024) } });
    expect(huge).toEqual({ status: 413, body: { status: false, reason: 'Request body too large: the limit is 1 MB (send media by URL)', requestid: expect.any(Number) } });
  });
});

describe('POST /api/send-message', () => {
  const sendMessage = (json: unknown) => call('POST', '/api/send-message', { key: `Bearer ${device.apiKey}`, json });

  it('sends a text and answers in the seed shape', async () => {
    whatsapp();
    expect(await sendMessage({ to: '+62 812-3456-789', message: 'Halo' })).toEqual({
      status: 200,
      body: { success: true, message: 'Message dispatched successfully', id: '3EB0628123456789', to: '628123456789', timestamp: 1779348348 },
    });
  });

  it('sends to a group', async () => {
    const sent = whatsapp();
    expect((await sendMessage({ to: '120363023456789012@g.us', message: 'Halo grup' })).body.to).toBe('120363023456789012@g.us');
    expect(sent()[0]!.to).toBe('120363023456789012@g.us');
  });

  it('answers failures in the seed shape', async () => {
    whatsapp({ '628123456789': new HostFailure('not_connected', 'Device is not connected') });
    expect(await sendMessage({ to: '628123456789', message: 'Halo' })).toEqual({ status: 503, body: { error: 'Failed to send message: Device is not connected' } });
  });

  it("answers 503 when the session host's store is down, in both seed shapes", async () => {
    whatsapp({ '628123456789': new HostFailure('store_unavailable', 'Redis is unavailable (connect ECONNREFUSED 10.0.0.5:6379)') });
    expect(await sendMessage({ to: '628123456789', message: 'Halo' })).toEqual({ status: 503, body: { error: "Failed to send message: Session host's store is unavailable" } });
    const { status, body } = await send({ target: '628123456789', message: 'Halo' });
    expect(status).toBe(503);
    // The host's own words would show its Redis address: the reason is fixed.
    expect(body).toMatchObject({ status: false, reason: "Session host's store is unavailable" });
  });

  it('answers 503 while the session host is offline', async () => {
    expect(await sendMessage({ to: '628123456789', message: 'Halo' })).toEqual({ status: 503, body: { error: 'Failed to send message: Session host is offline' } });
  });

  it('refuses invalid requests, naming every field at fault', async () => {
    expect(await sendMessage({ to: 'abc' })).toEqual({
      status: 400,
      body: { error: 'to: must be a phone number like 628123456789 or a group id ending in @g.us, got "abc"; message: required' },
    });
    expect(await sendMessage({ to: '628123456789', message: '' })).toEqual({ status: 400, body: { error: 'message: must not be empty' } });
    expect(await sendMessage([])).toEqual({ status: 400, body: { error: 'body: must be an object' } });
    const form = await call('POST', '/api/send-message', { key: device.apiKey, form: { to: '628123456789', message: 'Hi' } });
    expect(form).toEqual({ status: 415, body: { error: 'Content-Type must be application/json' } });
    const huge = await sendMessage({ to: '628123456789', message: 'x'.repeat(1024 * 1024) });
    expect(huge).toEqual({ status: 413, body: { error: 'Request body too large: the limit is 1 MB (send media by URL)' } });
  });
});

describe('POST /api/send-media', () => {
  const sendMedia = (json: unknown) => call('POST', '/api/send-media', { key: device.apiKey, json });

  it('sends an image by default, naming the type in its answer', async () => {
    const sent = whatsapp();
    expect(await sendMedia({ to: '628123456789', url: 'https://placehold.co/600x400.png', caption: 'Lihat' })).toEqual({
      status: 200,
      body: { success: true, message: 'image message dispatched successfully', id: '3EB0628123456789', to: '628123456789', timestamp: 1779348348 },
    });
    expect(sent()[0]).toMatchObject({ text: 'Lihat', media: { type: 'image', url: 'https://placehold.co/600x400.png' } });
  });

  it('sends videos and documents', async () => {
    const sent = whatsapp();
    expect((await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/v', type: 'video' })).body.message).toBe('video message dispatched successfully');
    expect((await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/d', type: 'document', fileName: 'a.pdf' })).body.message).toBe('document message dispatched successfully');
    expect(sent().map((p) => p.media)).toEqual([
      { type: 'video', url: 'https://cdn.example.com/v' },
      { type: 'document', url: 'https://cdn.example.com/d', fileName: 'a.pdf' },
    ]);
  });

  it('sends audio, voice notes and stickers, and view-once images and videos', async () => {
    const sent = whatsapp();
    expect((await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/a.mp3', type: 'voice' })).body.message).toBe('voice message dispatched successfully');
    expect((await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/a.mp3', type: 'audio' })).body.message).toBe('audio message dispatched successfully');
    expect((await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/a.png', type: 'sticker' })).body.message).toBe('sticker message dispatched successfully');
    expect((await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/a.png', viewOnce: true })).status).toBe(200);
    expect(sent().map((p) => p.media)).toEqual([
      { type: 'voice', url: 'https://cdn.example.com/a.mp3' },
      { type: 'audio', url: 'https://cdn.example.com/a.mp3' },
      { type: 'sticker', url: 'https://cdn.example.com/a.png' },
      { type: 'image', url: 'https://cdn.example.com/a.png', viewOnce: true },
    ]);
  });

  it('refuses view once on anything but an image or a video, and a caption WhatsApp would not show', async () => {
    const sent = whatsapp();
    expect(await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/d.pdf', type: 'document', viewOnce: true })).toEqual({
      status: 400,
      body: { error: 'viewOnce: only an image or a video can be sent view once' },
    });
    expect(await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/a.png', viewOnce: 'yes' })).toEqual({ status: 400, body: { error: 'viewOnce: must be true or false' } });
    expect(await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/a.mp3', type: 'voice', caption: 'Dengar' })).toEqual({
      status: 400,
      body: { error: 'caption: audio, voice notes and stickers have no caption' },
    });
    expect(sent()).toEqual([]);
  });

  it('refuses an unsupported type with the seed message', async () => {
    expect(await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/a.gif', type: 'gif' })).toEqual({
      status: 400,
      body: { error: "Unsupported media type. Use: 'image', 'video', 'document', 'audio', 'voice', 'sticker'" },
    });
    expect(await sendMedia({ to: '628123456789', url: 'not a url' })).toEqual({ status: 400, body: { error: 'url: must be an http(s) URL' } });
  });

  it('passes on why the host could not fetch the media', async () => {
    whatsapp({ '628123456789': new HostFailure('media_error', 'media download failed: HTTP 404') });
    expect(await sendMedia({ to: '628123456789', url: 'https://cdn.example.com/gone.png' })).toEqual({
      status: 400,
      body: { error: 'Failed to send media: media download failed: HTTP 404' },
    });
  });
});
