// Turns fetched media into what WhatsApp wants for its type. A voice note is Ogg/Opus with its
// length and a waveform (WhatsApp draws the bars from those 64 values, it does not compute them);
// a sticker is a 512×512 WebP. Audio goes as it is, with its length. Other types pass unchanged.
//
// Conversions are CPU work on a host that serves hundreds of devices, so they run a few at a
// time (the rest wait their turn) and each ffmpeg is single-threaded and killed after a timeout.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import sharp, { type Metadata } from 'sharp';
import type { Media, MediaType } from './media.ts';

/** Media ready to hand to Baileys: the extra fields only where the type has them. */
export interface PreparedMedia extends Media {
  /** Audio and voice notes: the length in whole seconds. */
  seconds?: number;
  /** Voice notes: 64 bars, 0 to 100. */
  waveform?: Uint8Array;
  /** Stickers: an animated WebP. */
  animated?: boolean;
}

/** The file is not what its type needs and cannot be made so; the message says why. */
export class ConvertError extends Error {}

export const VOICE_MIMETYPE = 'audio/ogg; codecs=opus';
const STICKER_SIZE = 512;
const WAVEFORM_BARS = 64;
/** The decoded PCM used for length and waveform: mono, 16-bit, at this rate. */
const PCM_RATE = 16_000;
/** Loudness is kept per 10 ms of sound, so an hour of audio is 360,000 numbers, not its PCM. */
const BLOCK_SAMPLES = PCM_RATE / 100;
const TIMEOUT_MS = 60_000;

/** Loaded on first use: a host on a platform without the binary still sends every other type. */
let ffmpegPath: Promise<string> | undefined;
const ffmpegBinary = () => (ffmpegPath ??= import('@ffmpeg-installer/ffmpeg').then((m) => m.default.path));

export interface ConvertOptions {
  /** An ffmpeg run longer than this is killed and the file refused. */
  timeoutMs?: number;
}

/** Makes `media` sendable as `type`, converting it when WhatsApp needs another format. */
export async function prepareMedia(type: MediaType, media: Media, options: ConvertOptions = {}): Promise<PreparedMedia> {
  if (type === 'voice') return turn(() => toVoiceNote(media, options));
  if (type === 'audio') return turn(async () => ({ ...media, seconds: (await decode(media.bytes, false, options)).seconds }));
  if (type === 'sticker') return turn(() => toSticker(media));
  return media;
}

// ───────────── voice notes ─────────────

/** Ogg/Opus is kept as it is (what WhatsApp records); anything else is encoded as WhatsApp records. */
async function toVoiceNote(media: Media, options: ConvertOptions): Promise<PreparedMedia> {
  const keep = isOggOpus(media.bytes);
  const { ogg, seconds, waveform } = await decode(media.bytes, !keep, options);
  const bytes = keep ? media.bytes : ogg!;
  return { bytes, mimetype: VOICE_MIMETYPE, fileName: `${media.fileName.replace(/\.[^.]*$/, '') || 'voice'}.ogg`, seconds, waveform };
}

/** Ogg's first page carries the codec's header: Opus names itself `OpusHead` there. */
export function isOggOpus(bytes: Buffer): boolean {
  return bytes.toString('latin1', 0, 4) === 'OggS' && bytes.subarray(0, 128).includes('OpusHead');
}

interface Decoded {
  seconds: number;
  waveform: Uint8Array;
  /** The Ogg/Opus encoding, when asked for. */
  ogg?: Buffer;
}

/**
 * One ffmpeg pass over the file's first audio stream: PCM on a third pipe (measured as it comes,
 * never held whole) and, with `encode`, the Ogg/Opus voice note on stdout. The input goes through
 * a temporary file because MP4 audio (m4a) can keep its index at the end, which a pipe cannot seek to.
 */
async function decode(bytes: Buffer, encode: boolean, options: ConvertOptions): Promise<Decoded> {
  const dir = await mkdtemp(join(tmpdir(), 'wa-media-'));
  try {
    const input = join(dir, 'input');
    await writeFile(input, bytes);
    // As WhatsApp records a voice note: mono Opus at 48 kHz, about 32 kbit/s, tuned for speech.
    const opus = encode ? ['-map', '0:a:0', '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-f', 'ogg', 'pipe:1'] : [];
    const pcm = ['-map', '0:a:0', '-ac', '1', '-ar', String(PCM_RATE), '-f', 's16le', 'pipe:3'];
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-threads', '1', '-i', input, ...opus, ...pcm];
    const child = spawn(await ffmpegBinary(), args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    try {
      const loudness = new Loudness();
      const [ogg, errors, code] = await Promise.all([
        collect(child.stdout!),
        collect(child.stderr!),
        new Promise<number | null>((resolve, reject) => {
          child.on('error', reject);
          child.on('close', resolve);
        }),
        (async () => {
          for await (const chunk of child.stdio[3] as Readable) loudness.add(chunk as Buffer);
        })(),
      ]);
      if (timedOut) throw new ConvertError(`took longer than ${timeoutMs / 1000} s to convert`);
      if (code !== 0) throw new ConvertError(/matches no streams|does not contain any stream/.test(errors.toString()) ? 'has no audio in it' : 'is not audio that can be decoded');
      if (loudness.samples === 0) throw new ConvertError('has no audio in it');
      return { seconds: Math.max(1, Math.round(loudness.samples / PCM_RATE)), waveform: loudness.waveform(), ogg: encode ? ogg : undefined };
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Mean loudness per block of 16-bit mono PCM, fed in chunks of any size, then drawn as 64 bars. */
class Loudness {
  samples = 0;
  private readonly blocks: number[] = [];
  private sum = 0;
  private inBlock = 0;
  /** A chunk can end in the middle of a sample. */
  private odd?: number;

  add(chunk: Buffer): void {
    let data = chunk;
    if (this.odd !== undefined) {
      data = Buffer.concat([Buffer.from([this.odd]), chunk]);
      this.odd = undefined;
    }
    const whole = data.length & ~1;
    if (whole < data.length) this.odd = data[whole];
    for (let i = 0; i < whole; i += 2) {
      this.sum += Math.abs(data.readInt16LE(i));
      if (++this.inBlock === BLOCK_SAMPLES) this.endBlock();
    }
    this.samples += whole / 2;
  }

  private endBlock(): void {
    this.blocks.push(this.sum / this.inBlock);
    this.sum = 0;
    this.inBlock = 0;
  }

  /** 64 bars, each the mean of its share of the blocks, scaled so the loudest is 100. */
  waveform(): Uint8Array {
    if (this.inBlock) this.endBlock();
    const n = this.blocks.length;
    const bars = Array.from({ length: WAVEFORM_BARS }, (_, bar) => {
      // A clip shorter than 64 blocks repeats blocks rather than leaving bars empty.
      const start = Math.floor((bar * n) / WAVEFORM_BARS);
      const end = Math.max(start + 1, Math.floor(((bar + 1) * n) / WAVEFORM_BARS));
      let total = 0;
      for (let i = start; i < end; i++) total += this.blocks[i] ?? 0;
      return total / (end - start);
    });
    const loudest = Math.max(...bars);
    return Uint8Array.from(bars, (bar) => (loudest > 0 ? Math.floor((bar / loudest) * 100) : 0));
  }
}

// ───────────── stickers ─────────────

/** 512×512 WebP, the image centred on a transparent square; an animated GIF stays animated. */
async function toSticker(media: Media): Promise<PreparedMedia> {
  let meta: Metadata;
  try {
    meta = await sharp(media.bytes, { animated: true }).metadata();
  } catch {
    throw new ConvertError('is not an image that can be read');
  }
  const animated = (meta.pages ?? 1) > 1;
  const fileName = `${media.fileName.replace(/\.[^.]*$/, '') || 'sticker'}.webp`;
  if (meta.format === 'webp' && meta.width === STICKER_SIZE && (meta.pageHeight ?? meta.height) === STICKER_SIZE) {
    return { bytes: media.bytes, mimetype: 'image/webp', fileName, animated };
  }
  try {
    const square = sharp(media.bytes, { animated: true }).resize(STICKER_SIZE, STICKER_SIZE, { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 0 } });
    // WhatsApp's sticker limits: 100 KB, 500 KB animated. A detailed picture steps down in
    // quality until it fits; the smallest is sent if none does.
    const limit = animated ? 500 * 1024 : 100 * 1024;
    let bytes: Buffer | undefined;
    for (const quality of [80, 60, 40, 20]) {
      bytes = await square.clone().webp({ quality }).toBuffer();
      if (bytes.length <= limit) break;
    }
    return { bytes: bytes!, mimetype: 'image/webp', fileName, animated };
  } catch {
    throw new ConvertError('is not an image that can be converted to a sticker');
  }
}

// ───────────── taking turns ─────────────

/** Conversions at once on this host: one per core, at most four. */
const SLOTS = Math.min(4, availableParallelism());
let running = 0;
const waiting: (() => void)[] = [];

/** Conversions running and waiting now, out of how many may run at once. */
export function conversionLoad(): { running: number; waiting: number; slots: number } {
  return { running, waiting: waiting.length, slots: SLOTS };
}

async function turn<T>(work: () => Promise<T>): Promise<T> {
  if (running >= SLOTS) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await work();
  } finally {
    // The slot passes straight to the next in line, so `running` only drops when no one waits.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}
