// Audio, voice notes, stickers and view-once media end to end: files served over HTTP, sent
// through the real Worker and session host (which converts them with ffmpeg and sharp), and
// decrypted by the simulator as the recipient's phone would.
import ffmpeg from '@ffmpeg-installer/ffmpeg';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, createLinkedDevice, type EdgeCall, sleep, startSimStack } from '../support/e2e.ts';
import { png, wav } from '../support/fixtures.ts';
import type { Stack } from '../../bin/stack.ts';
import type { OutgoingMessage, WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let files: Server;
let filesUrl: string;
let device: { id: string; apiKey: string };

/** Runs the ffmpeg the gateway ships with: `input` on stdin, the result from stdout. */
function ffmpegPipe(input: Buffer, args: string[]): Buffer {
  const run = spawnSync(ffmpeg.path, ['-hide_banner', '-loglevel', 'error', '-i', 'pipe:0', ...args, 'pipe:1'], { input, maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`ffmpeg failed: ${run.stderr}`);
  return run.stdout;
}

/** How long an audio file plays, decoded by ffmpeg (mono PCM at 16 kHz). */
const playedSeconds = (audio: Buffer) => ffmpegPipe(audio, ['-ac', '1', '-ar', '16000', '-f', 's16le']).length / 32_000;

const tone = { wav: wav(2), long: wav(3) };
const fixtures: Record<string, [string, Buffer]> = {
  '/tone.wav': ['audio/wav', tone.wav],
  '/tone.mp3': ['audio/mpeg', ffmpegPipe(tone.long, ['-f', 'mp3'])],
  '/tone.ogg': ['audio/ogg', ffmpegPipe(tone.wav, ['-c:a', 'libopus', '-f', 'ogg'])],
  '/photo.png': ['image/png', png(90, 60, 7)],
  // A server that claims audio but sends a picture.
  '/fake.mp3': ['audio/mpeg', png(20, 20, 1)],
};

beforeAll(async () => {
  // Three frames of different colours: an animated GIF.
  const frames = await Promise.all(
    ['red', 'green', 'blue'].map((colour) =>
      sharp({ create: { width: 120, height: 80, channels: 4, background: colour } })
        .raw()
        .toBuffer(),
    ),
  );
  fixtures['/wave.gif'] = [
    'image/gif',
    await sharp(Buffer.concat(frames), { raw: { width: 120, height: 240, channels: 4, pageHeight: 80 } as never })
      .gif({ delay: [200, 200, 200] })
      .toBuffer(),
  ];
  files = createServer((req, res) => {
    const found = fixtures[req.url ?? ''];
    if (!found) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': found[0] }).end(found[1]);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  ({ sim, stack } = await startSimStack('media-types', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  files?.close();
  await sim?.stop();
});

const call = (method: string, path: string, options?: EdgeCall) => callEdge(stack.edgeUrl, method, path, options);
const sendMedia = (json: Record<string, unknown>) => call('POST', '/api/send-media', { key: device.apiKey, json: { to: '6281355500001', ...json } });

/** Sends and returns what the recipient decrypted. */
async function delivered(json: Record<string, unknown>): Promise<OutgoingMessage> {
  const res = await sendMedia(json);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  const out = await sim.waitForOutgoing((m) => m.id === res.json.id, 30_000);
  expect(out.error).toBeUndefined();
  return out;
}

describe('sending audio, voice notes, stickers and view-once media', () => {
  it('links a device', async () => {
    device = await createLinkedDevice(stack, sim, { name: 'Media' });
  }, 90_000);

  for (const [from, path, seconds] of [
    ['mp3', '/tone.mp3', 3],
    ['wav', '/tone.wav', 2],
  ] as const) {
    it(`sends a voice note made from ${from}: Ogg/Opus, push to talk, with its length and waveform`, async () => {
      const out = await delivered({ url: `${filesUrl}${path}`, type: 'voice' });
      expect(out.message?.audioMessage).toBeTruthy();
      const voice = out.media!;
      expect(voice).toMatchObject({ type: 'audio', ptt: true, mimetype: 'audio/ogg; codecs=opus', seconds });
      expect(voice.bytes.subarray(0, 4).toString('latin1')).toBe('OggS');
      expect(voice.bytes.includes('OpusHead')).toBe(true);
      // MP3 pads its start with an encoder delay; the voice note plays as long as the input.
      expect(Math.abs(playedSeconds(voice.bytes) - seconds)).toBeLessThan(0.15);
      expect(voice.waveform).toHaveLength(64);
      // The tone swells from silence: the bars rise to the loudest at 100.
      const bars = [...voice.waveform!];
      expect(Math.max(...bars)).toBe(100);
      expect(bars[0]!).toBeLessThan(bars[63]!);
    });
  }

  it('sends an Ogg/Opus voice note as it is', async () => {
    const out = await delivered({ url: `${filesUrl}/tone.ogg`, type: 'voice' });
    expect(out.media).toMatchObject({ type: 'audio', ptt: true, mimetype: 'audio/ogg; codecs=opus', seconds: 2 });
    expect(out.media!.bytes.equals(fixtures['/tone.ogg']![1])).toBe(true);
  });

  it('sends audio as the file itself, not as a voice note, and logs each as its type', async () => {
    const out = await delivered({ url: `${filesUrl}/tone.mp3`, type: 'audio' });
    expect(out.media).toMatchObject({ type: 'audio', ptt: false, mimetype: 'audio/mpeg', seconds: 3 });
    expect(out.media!.bytes.equals(fixtures['/tone.mp3']![1])).toBe(true);
    const { json } = await call('GET', '/api/messages?limit=50', { key: device.apiKey });
    const types = (json.messages as { type: string }[]).map((m) => m.type);
    expect(types).toEqual(expect.arrayContaining(['audio', 'voice']));
  });

  it('sends a PNG as a 512×512 WebP sticker on a transparent background', async () => {
    const out = await delivered({ url: `${filesUrl}/photo.png`, type: 'sticker' });
    expect(out.message?.stickerMessage).toBeTruthy();
    expect(out.media).toMatchObject({ type: 'sticker', mimetype: 'image/webp', animated: false });
    const meta = await sharp(out.media!.bytes).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: 512, height: 512, hasAlpha: true });
    // 90×60 fitted into the square leaves bands above and below: the corner is see-through.
    const { data } = await sharp(out.media!.bytes).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(data[3]).toBe(0);
  });

  it('sends an animated GIF as an animated sticker', async () => {
    const out = await delivered({ url: `${filesUrl}/wave.gif`, type: 'sticker' });
    expect(out.media).toMatchObject({ type: 'sticker', mimetype: 'image/webp', animated: true });
    const meta = await sharp(out.media!.bytes, { animated: true }).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: 512, pageHeight: 512, pages: 3 });
  });

  it('sends an image view once, with its caption, as a reply with a mention', async () => {
    const earlier = await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '6281355500001', message: 'Foto menyusul' } });
    const out = await delivered({ url: `${filesUrl}/photo.png`, type: 'image', viewOnce: true, caption: 'sekali lihat', quotedId: earlier.json.id, mentions: ['6281355500001'] });
    const image = out.message?.viewOnceMessage?.message?.imageMessage ?? out.message?.viewOnceMessageV2?.message?.imageMessage;
    // On the image itself, where WhatsApp reads them, not on the view-once wrapper.
    expect(image?.contextInfo).toMatchObject({ stanzaId: earlier.json.id, mentionedJid: ['6281355500001@s.whatsapp.net'] });
    expect(image?.contextInfo?.quotedMessage?.conversation ?? image?.contextInfo?.quotedMessage?.extendedTextMessage?.text).toBe('Foto menyusul');
    expect(out.media).toMatchObject({ type: 'image', viewOnce: true, caption: 'sekali lihat' });
    expect(out.media!.bytes.equals(fixtures['/photo.png']![1])).toBe(true);
  });

  it('refuses what is not audio as a voice note or audio, naming the url, and sends nothing', async () => {
    const before = sim.outbox.length;
    const picture = await sendMedia({ url: `${filesUrl}/photo.png`, type: 'voice' });
    expect(picture).toEqual({ status: 400, json: { error: `Failed to send media: url: media at ${filesUrl}/photo.png is image/png, not audio` } });
    const disguised = await sendMedia({ url: `${filesUrl}/fake.mp3`, type: 'audio' });
    expect(disguised).toEqual({ status: 400, json: { error: `Failed to send media: url: media at ${filesUrl}/fake.mp3 has no audio in it` } });
    await sleep(300);
    expect(sim.outbox.length).toBe(before);
  });

  it('refuses an unknown type with the seed’s wording listing every type, and view once on audio', async () => {
    expect(await sendMedia({ url: `${filesUrl}/wave.gif`, type: 'gif' })).toEqual({
      status: 400,
      json: { error: "Unsupported media type. Use: 'image', 'video', 'document', 'audio', 'voice', 'sticker'" },
    });
    expect(await sendMedia({ url: `${filesUrl}/tone.mp3`, type: 'voice', viewOnce: true })).toEqual({
      status: 400,
      json: { error: 'viewOnce: only an image or a video can be sent view once' },
    });
  });
});
