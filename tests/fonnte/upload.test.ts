// Fonnte's `file` part of /send, end to end: multipart requests as Fonnte's own snippets send them
// (PHP's CURLFile, a JS FormData Blob), through the real Worker, carried to the real session host
// and sent by Baileys; the simulator's recipients decrypt what arrived.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, createLinkedDevice, startSimStack } from '../support/e2e.ts';
import { MAX_UPLOAD_BYTES } from '../../session-host/link/protocol.ts';
import { mp4, pdf, wav } from '../support/fixtures.ts';
import type { Stack } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let device: { id: string; apiKey: string };
let photo: Buffer;

beforeAll(async () => {
  ({ sim, stack } = await startSimStack('fonnte-upload'));
  device = await createLinkedDevice(stack, sim, { name: 'Fonnte uploads' });
  // A real JPEG, a little over one piece of the link's 256 KiB, so it crosses in several.
  photo = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .jpeg({ quality: 95 })
    .toBuffer();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

/** POST /send as a Fonnte client does it: the device token as is in Authorization, a multipart form. */
async function send(form: FormData) {
  const res = await fetch(`${stack.edgeUrl}/send`, { method: 'POST', headers: { authorization: device.apiKey }, body: form });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

function formOf(fields: Record<string, string>, file?: { bytes: Buffer; name: string; type: string }): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  // A part with a file name and a Content-Type, as CURLFile and a FormData Blob both send it.
  if (file) form.append('file', new Blob([new Uint8Array(file.bytes)], { type: file.type }), file.name);
  return form;
}

/** Nothing went to `number` before: the first message it gets is a marker sent afterwards. */
async function expectNothingSentTo(number: string) {
  const marker = await callEdge(stack.edgeUrl, 'POST', '/send', { key: device.apiKey, json: { target: number, message: `marker for ${number}` } });
  expect(marker.json.status).toBe(true);
  const first = await sim.waitForOutgoing((m) => m.to.startsWith(number));
  expect(first.text).toBe(`marker for ${number}`);
  expect(first.media).toBeUndefined();
}

describe('Fonnte /send with a file', () => {
  it("sends Fonnte's PHP snippet (C02) with its jpg as an image, byte for byte, to each target with its variables; the file wins over url", async () => {
    // The canonical snippet, field for field (its url is unreachable from here: the file is sent, not the url).
    const res = await send(
      formOf(
        {
          target: '08123456781|Fonnte|Admin,08123456782|Lili|User',
          message: 'test message to {name} as {var1}',
          url: 'https://md.fonnte.com/images/wa-logo.png',
          filename: 'filename',
          schedule: '0',
          typing: '',
          delay: '2',
          countryCode: '62',
          location: '-7.983908, 112.621391',
          followup: '0',
        },
        { bytes: photo, name: 'localfile.jpg', type: 'image/jpeg' },
      ),
    );
    // Two targets with a delay between them: queued, as Fonnte answers every send.
    expect(res).toMatchObject({ status: 200, json: { status: true, detail: 'success! message in queue', process: 'pending', target: ['628123456781', '628123456782'] } });
    expect(res.json.id).toHaveLength(2);

    for (const [number, caption] of [
      ['628123456781', 'test message to Fonnte as Admin'],
      ['628123456782', 'test message to Lili as User'],
    ] as const) {
      const out = await sim.waitForOutgoing((m) => m.to.startsWith(number), 20_000);
      expect(out.error).toBeUndefined();
      expect(out.media?.type).toBe('image');
      expect(out.media?.mimetype).toBe('image/jpeg');
      expect(out.media?.bytes.equals(photo)).toBe(true);
      expect(out.text).toBe(caption);
    }
  });

  it('sends a PDF appended to FormData as a Blob as a document with its file name', async () => {
    const invoice = pdf('Invoice 2026-0042');
    const res = await send(formOf({ target: '628123456783', message: 'Invoice attached' }, { bytes: invoice, name: 'invoice-0042.pdf', type: 'application/pdf' }));
    expect(res).toMatchObject({ status: 200, json: { status: true, reason: 'Message sent successfully', target: ['628123456783'] } });
    const out = await sim.waitForOutgoing((m) => m.id === res.json.id[0]);
    expect(out.media?.type).toBe('document');
    expect(out.media?.mimetype).toBe('application/pdf');
    expect(out.media?.fileName).toBe('invoice-0042.pdf');
    expect(out.media?.bytes.equals(invoice)).toBe(true);
    expect(out.text).toBe('Invoice attached');
  });

  it('takes a Blob without a type by its file name', async () => {
    const res = await send(formOf({ target: '628123456784' }, { bytes: photo, name: 'photo.JPG', type: '' }));
    expect(res.json).toMatchObject({ status: true, reason: 'Message sent successfully' });
    const out = await sim.waitForOutgoing((m) => m.id === res.json.id[0]);
    expect(out.media?.type).toBe('image');
    expect(out.media?.bytes.equals(photo)).toBe(true);
  });

  it('sends audio and video uploads by their type: audio as a music message with its length, video with its caption', async () => {
    const tone = wav(2);
    const clip = mp4(40_000);
    const audio = await send(formOf({ target: '628123456788' }, { bytes: tone, name: 'tone.wav', type: 'audio/x-wav' }));
    const video = await send(formOf({ target: '628123456788', message: 'the clip' }, { bytes: clip, name: 'clip.mp4', type: 'video/mp4' }));
    expect([audio.json.status, video.json.status]).toEqual([true, true]);
    const heard = await sim.waitForOutgoing((m) => m.id === audio.json.id[0]);
    expect(heard.media).toMatchObject({ type: 'audio', mimetype: 'audio/wav', ptt: false, seconds: 2 });
    expect(heard.media?.bytes.equals(tone)).toBe(true);
    const seen = await sim.waitForOutgoing((m) => m.id === video.json.id[0]);
    expect(seen.media?.type).toBe('video');
    expect(seen.media?.bytes.equals(clip)).toBe(true);
    expect(seen.text).toBe('the clip');
  });

  it('sends a file of exactly 4 MB, byte for byte', async () => {
    const largest = Buffer.concat([pdf('largest'), Buffer.alloc(MAX_UPLOAD_BYTES)]).subarray(0, MAX_UPLOAD_BYTES);
    for (let i = 1024; i < largest.length; i++) largest[i] = (i * 31) & 255;
    const res = await send(formOf({ target: '628123456789' }, { bytes: largest, name: 'largest.pdf', type: 'application/pdf' }));
    expect(res.json).toMatchObject({ status: true, reason: 'Message sent successfully' });
    const out = await sim.waitForOutgoing((m) => m.id === res.json.id[0]);
    expect(out.media?.bytes.length).toBe(MAX_UPLOAD_BYTES);
    expect(out.media?.bytes.equals(largest)).toBe(true);
  });

  it("answers a file over 4 MB with Fonnte's HTTP 200 `file size must under 4MB`, and sends nothing", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    const res = await send(formOf({ target: '628123456785', message: 'too big' }, { bytes: big, name: 'big.pdf', type: 'application/pdf' }));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: false, reason: 'file size must under 4MB', detail: expect.stringMatching(/^file: .*4 MB/) });
    // Just over the limit but inside the body limit: refused by the file's own size.
    const over = await send(formOf({ target: '628123456785' }, { bytes: Buffer.alloc(4 * 1024 * 1024 + 1, 7), name: 'over.pdf', type: 'application/pdf' }));
    expect(over).toMatchObject({ status: 200, json: { status: false, reason: 'file size must under 4MB', detail: expect.stringContaining('"over.pdf" is 4194305 bytes') } });
    await expectNothingSentTo('628123456785');
  });

  it("answers a program (.exe) with Fonnte's HTTP 200 `file format not supported`, and sends nothing", async () => {
    const exe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(2048, 1)]);
    const res = await send(formOf({ target: '628123456786', message: 'run me' }, { bytes: exe, name: 'setup.exe', type: 'application/x-msdownload' }));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: false, reason: 'file format not supported', detail: expect.stringContaining('file: "setup.exe" (application/x-msdownload)') });
    await expectNothingSentTo('628123456786');
  });

  it('refuses a file field that is text, not a file part, naming the field', async () => {
    const res = await send(formOf({ target: '628123456787', message: 'hi', file: 'C:\\photos\\a.jpg' }));
    expect(res.json).toMatchObject({ status: false, reason: 'file format not supported', detail: expect.stringContaining('file: must be a file'), requestid: expect.any(Number) });
  });
});
