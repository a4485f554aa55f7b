// The conversions themselves, with the ffmpeg and sharp the host ships with: fast cases only (the
// end-to-end test sends the results through WhatsApp's simulator).
import ffmpeg from '@ffmpeg-installer/ffmpeg';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ConvertError, conversionLoad, isOggOpus, prepareMedia, VOICE_MIMETYPE } from '../../session-host/media-convert.ts';
import { png, wav } from '../support/fixtures.ts';

const media = (bytes: Buffer, mimetype: string, fileName = 'file') => ({ bytes, mimetype, fileName });

describe('voice notes', () => {
  it('encodes a WAV as mono Ogg/Opus with its length in seconds and 64 waveform bars', async () => {
    const voice = await prepareMedia('voice', media(wav(1.6), 'audio/wav', 'halo.wav'));
    expect(voice).toMatchObject({ mimetype: VOICE_MIMETYPE, fileName: 'halo.ogg', seconds: 2 });
    expect(isOggOpus(voice.bytes)).toBe(true);
    expect(voice.waveform).toBeInstanceOf(Uint8Array);
    expect(voice.waveform).toHaveLength(64);
    // The fixture swells linearly from silence, so the bars rise.
    const bars = [...voice.waveform!];
    expect(bars[0]).toBeLessThan(10);
    expect(bars[63]).toBe(100);
    expect(bars.every((bar, i) => i === 0 || bar >= bars[i - 1]! - 2)).toBe(true);
  });

  it('converts an m4a whose index comes last (as most encoders write it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'm4a-'));
    try {
      writeFileSync(join(dir, 'in.wav'), wav(2.4));
      // Written to a file, ffmpeg puts the index (moov) after the audio: a reader must seek back.
      execFileSync(ffmpeg.path, ['-hide_banner', '-loglevel', 'error', '-i', join(dir, 'in.wav'), '-c:a', 'aac', join(dir, 'out.m4a')]);
      const m4a = readFileSync(join(dir, 'out.m4a'));
      expect(m4a.indexOf('moov')).toBeGreaterThan(m4a.indexOf('mdat'));
      const voice = await prepareMedia('voice', media(m4a, 'audio/mp4', 'rekaman.m4a'));
      expect(voice).toMatchObject({ mimetype: VOICE_MIMETYPE, fileName: 'rekaman.ogg', seconds: 2 });
      expect(isOggOpus(voice.bytes)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps a file that is already Ogg/Opus byte for byte', async () => {
    const first = await prepareMedia('voice', media(wav(1), 'audio/wav'));
    const again = await prepareMedia('voice', media(first.bytes, 'audio/ogg', 'note.opus'));
    expect(again.bytes).toBe(first.bytes);
    expect(again).toMatchObject({ seconds: 1, fileName: 'note.ogg' });
  });

  it('draws silence as flat zero bars', async () => {
    const silent = await prepareMedia('voice', media(wav(1, { peak: 0 }), 'audio/wav'));
    expect([...silent.waveform!]).toEqual(new Array(64).fill(0));
  });

  it('refuses what ffmpeg cannot read as audio, saying why', async () => {
    await expect(prepareMedia('voice', media(Buffer.from('not a sound at all, just words'), 'audio/mpeg'))).rejects.toThrow(new ConvertError('is not audio that can be decoded'));
    await expect(prepareMedia('audio', media(png(8, 8), 'audio/mpeg'))).rejects.toThrow(new ConvertError('has no audio in it'));
  });

  it('gives up on a conversion that takes too long', async () => {
    await expect(prepareMedia('voice', media(wav(30), 'audio/wav'), { timeoutMs: 1 })).rejects.toThrow(/took longer than/);
  });
});

describe('audio', () => {
  it('keeps the file and its type, adding its length', async () => {
    const file = wav(2.2);
    const audio = await prepareMedia('audio', media(file, 'audio/wav', 'a.wav'));
    expect(audio).toEqual({ bytes: file, mimetype: 'audio/wav', fileName: 'a.wav', seconds: 2 });
  });
});

describe('stickers', () => {
  it('fits an image into a transparent 512×512 WebP', async () => {
    const sticker = await prepareMedia('sticker', media(png(200, 50), 'image/png', 'logo.png'));
    expect(sticker).toMatchObject({ mimetype: 'image/webp', fileName: 'logo.webp', animated: false });
    expect(await sharp(sticker.bytes).metadata()).toMatchObject({ format: 'webp', width: 512, height: 512, hasAlpha: true });
  });

  it('lowers the quality of a detailed picture until it fits in WhatsApp’s 100 KB', async () => {
    const noise = await sharp(randomBytes(400 * 400 * 3), { raw: { width: 400, height: 400, channels: 3 } })
      .png()
      .toBuffer();
    const full = await sharp(noise).resize(512, 512).webp({ quality: 80 }).toBuffer();
    expect(full.length).toBeGreaterThan(100 * 1024);
    const sticker = await prepareMedia('sticker', media(noise, 'image/png'));
    expect(sticker.bytes.length).toBeLessThanOrEqual(100 * 1024);
    expect(await sharp(sticker.bytes).metadata()).toMatchObject({ width: 512, height: 512 });
  });

  it('pads a JPEG (which has no transparency) with a transparent background', async () => {
    const jpeg = await sharp({ create: { width: 300, height: 150, channels: 3, background: 'orange' } })
      .jpeg()
      .toBuffer();
    const sticker = await prepareMedia('sticker', media(jpeg, 'image/jpeg', 'foto.jpg'));
    const { data, info } = await sharp(sticker.bytes).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([512, 512]);
    const alphaAt = (x: number, y: number) => data[(y * 512 + x) * 4 + 3];
    expect(alphaAt(0, 0)).toBe(0);
    expect(alphaAt(256, 256)).toBe(255);
  });

  it('keeps a WebP that is already 512×512', async () => {
    const webp = await sharp({ create: { width: 512, height: 512, channels: 4, background: 'red' } })
      .webp()
      .toBuffer();
    expect((await prepareMedia('sticker', media(webp, 'image/webp'))).bytes).toBe(webp);
  });

  it('refuses bytes that are no image', async () => {
    await expect(prepareMedia('sticker', media(Buffer.from('GIF89a but nothing else'), 'image/gif'))).rejects.toBeInstanceOf(ConvertError);
  });
});

describe('taking turns', () => {
  it('runs at most one conversion per slot; the others wait and then all finish', async () => {
    const { slots } = conversionLoad();
    const seen: { running: number; waiting: number }[] = [];
    const watch = setInterval(() => seen.push(conversionLoad()), 2);
    try {
      const all = await Promise.all(Array.from({ length: slots * 3 }, () => prepareMedia('voice', media(wav(1), 'audio/wav'))));
      expect(all.every((voice) => voice.seconds === 1)).toBe(true);
    } finally {
      clearInterval(watch);
    }
    expect(Math.max(...seen.map((s) => s.running))).toBe(slots);
    expect(Math.max(...seen.map((s) => s.waiting))).toBeGreaterThan(0);
    expect(conversionLoad()).toEqual({ running: 0, waiting: 0, slots });
  });
});

describe('other types', () => {
  it('pass unchanged', async () => {
    const image = media(png(), 'image/png');
    expect(await prepareMedia('image', image)).toBe(image);
  });
});
