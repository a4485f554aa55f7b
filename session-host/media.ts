// Media for /api/send-media: the session host downloads the URL itself (WhatsApp needs the bytes
// to encrypt them), so the fetch is capped, timed out and kept off private networks, and the
// answer is checked to be the kind of file the caller asked to send.
import { RequestError, displayUrl, safeRequest } from './net/safe-request.ts';

export type MediaType = 'image' | 'video' | 'document' | 'audio' | 'voice' | 'sticker';

export interface FetchMediaOptions {
  type: MediaType;
  maxBytes: number;
  timeoutMs: number;
  allowPrivateNetworks: boolean;
}

export interface Media {
  bytes: Buffer;
  mimetype: string;
  fileName: string;
}

export class MediaError extends RequestError {
  constructor(message: string) {
    super('bad_media', message);
  }
}
export class BadStatusError extends RequestError {
  readonly status: number;
  constructor(message: string, status: number) {
    super('bad_status', message);
    this.status = status;
  }
}

const ACCEPT: Record<MediaType, string> = { image: 'image/*', video: 'video/*', document: '*/*', audio: 'audio/*', voice: 'audio/*', sticker: 'image/*' };

/** What each type must be, and how an error names it. A voice note is converted from any audio. */
const KINDS: Record<Exclude<MediaType, 'document'>, { accepts: (mimetype: string) => boolean; noun: string }> = {
  image: { accepts: (m) => m.startsWith('image/'), noun: 'an image' },
  video: { accepts: (m) => m.startsWith('video/'), noun: 'a video' },
  audio: { accepts: isAudio, noun: 'audio' },
  voice: { accepts: isAudio, noun: 'audio' },
  // The formats a sticker is converted from; others (SVG above all) are not handed to the converter.
  sticker: { accepts: (m) => ['image/png', 'image/jpeg', 'image/gif', 'image/webp'].includes(m), noun: 'a png, jpeg, gif or webp image' },
};

function isAudio(mimetype: string): boolean {
  return mimetype.startsWith('audio/');
}

// Servers label whatever they do not know as one of these; the bytes or the name say more.
const GENERIC = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'application/unknown']);

// Names servers use besides the registered one, which is what WhatsApp's apps expect.
const ALIASES: Record<string, string> = {
  'application/ogg': 'audio/ogg',
  'audio/mp3': 'audio/mpeg',
  'audio/x-mp3': 'audio/mpeg',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'audio/vnd.wave': 'audio/wav',
  'audio/x-m4a': 'audio/mp4',
  'audio/m4a': 'audio/mp4',
  'image/jpg': 'image/jpeg',
};

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/3gpp': '3gp',
  'audio/mp4': 'm4a',
  'audio/mpeg': 'mp3',
  'audio/ogg': 'ogg',
  'audio/wav': 'wav',
  'audio/aac': 'aac',
  'audio/amr': 'amr',
  'audio/flac': 'flac',
  'application/pdf': 'pdf',
  'application/zip': 'zip',
  'text/plain': 'txt',
  'text/csv': 'csv',
  'application/json': 'json',
  'application/msword': 'doc',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.ms-powerpoint': 'ppt',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
};
/** The usual extension of a media type ("" when unknown), its parameters (`; codecs=opus`) ignored. */
export function extensionOfMime(mimetype: string): string {
  const bare = mimetype.split(';')[0]!.trim().toLowerCase();
  return EXTENSIONS[ALIASES[bare] ?? bare] ?? '';
}

const MIME_BY_EXTENSION = Object.fromEntries(Object.entries(EXTENSIONS).map(([mime, ext]) => [ext, mime]));
Object.assign(MIME_BY_EXTENSION, { jpeg: 'image/jpeg', mpeg4: 'video/mp4', opus: 'audio/ogg', oga: 'audio/ogg' });

/**
 * Downloads `url` as media of `type`. Throws a `RequestError` whose message names the problem:
 * an unsafe or invalid URL, a timeout, a file over `maxBytes`, a non-2xx answer, or content that
 * is not what `type` promises (an HTML page where a file was expected, above all).
 */
export async function fetchMedia(url: string, options: FetchMediaOptions): Promise<Media> {
  const { type } = options;
  const response = await safeRequest(url, {
    label: 'media URL',
    headers: { accept: ACCEPT[type], 'user-agent': 'wa-gateway' },
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    allowPrivateNetworks: options.allowPrivateNetworks,
  });
  const shown = displayUrl(url);
  if (response.status < 200 || response.status > 299) {
    throw new BadStatusError(`media URL ${shown} answered HTTP ${response.status}, not the file`, response.status);
  }
  if (response.body.length === 0) throw new MediaError(`media at ${shown} is empty`);

  const declared = (response.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const named = contentDispositionName(response.headers['content-disposition']) ?? lastPathSegment(response.url);
  const mimetype = GENERIC.has(declared) ? guessType(response.body, named) : (ALIASES[declared] ?? declared);

  // A web page where a file was expected is nearly always a login, error or "share" page.
  if (mimetype === 'text/html' || mimetype === 'application/xhtml+xml') {
    throw new MediaError(`media at ${shown} is a web page (${mimetype}), not ${type === 'document' ? 'a document' : KINDS[type].noun}; link the file itself`);
  }
  if (type !== 'document' && !KINDS[type].accepts(mimetype)) {
    const what = mimetype === 'application/octet-stream' ? 'of unknown type' : mimetype;
    throw new MediaError(`media at ${shown} is ${what}, not ${KINDS[type].noun}`);
  }
  return { bytes: response.body, mimetype, fileName: fileName(named, type, mimetype) };
}

/** From the bytes, or the name's extension where the bytes only say "a zip" (docx, xlsx…) or nothing. */
function guessType(bytes: Buffer, name: string): string {
  const sniffed = sniff(bytes);
  const byName = MIME_BY_EXTENSION[extension(name)];
  if (sniffed === 'application/zip' && byName) return byName;
  return sniffed ?? byName ?? 'application/octet-stream';
}

/** The type the first bytes announce, for files served without a useful Content-Type. */
function sniff(bytes: Buffer): string | undefined {
  const ascii = (start: number, end: number) => bytes.toString('latin1', start, end);
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'image/gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'audio/wav';
  if (ascii(0, 4) === 'OggS') return 'audio/ogg';
  if (ascii(0, 4) === 'fLaC') return 'audio/flac';
  if (ascii(0, 5) === '#!AMR') return 'audio/amr';
  // An MP3 starts with its ID3 tag or straight with a frame (11 sync bits); AAC's ADTS frames too.
  if (ascii(0, 3) === 'ID3') return 'audio/mpeg';
  if (bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xf6) === 0xf0) return 'audio/aac';
  if (bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xe0) === 0xe0) return 'audio/mpeg';
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'qt  ') return 'video/quicktime';
    if (brand.startsWith('3g')) return 'video/3gpp';
    if (brand === 'M4A ') return 'audio/mp4';
    return 'video/mp4';
  }
  if (ascii(0, 5) === '%PDF-') return 'application/pdf';
  if (ascii(0, 4) === 'PK\x03\x04') return 'application/zip';
  if (/^\s*<(!doctype html|html[\s>])/i.test(ascii(0, 64))) return 'text/html';
  return undefined;
}

/** `filename*=UTF-8''…` (RFC 6266) wins over `filename=…`. */
function contentDispositionName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /filename\*\s*=\s*([\w-]+)'[^']*'([^;]+)/i.exec(header);
  if (extended) {
    const decoded = decode(extended[2]!.trim());
    if (decoded) return decoded;
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(header);
  return plain ? (plain[1]?.replace(/\\(.)/g, '$1') ?? plain[2]!.trim()) : undefined;
}

function lastPathSegment(url: string): string {
  const path = new URL(url).pathname;
  return decode(path.slice(path.lastIndexOf('/') + 1)) ?? '';
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function extension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** A name safe to show and to save: no path, no control characters, not hidden, not too long. */
function fileName(raw: string, type: MediaType, mimetype: string): string {
  let name = raw
    .split(/[/\\]/)
    .pop()!
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this strips
    .replace(/[\x00-\x1f\x7f<>:"|?*]/g, '')
    .trim()
    .replace(/^\.+/, '');
  if (name.length > 200) {
    const ext = extension(name);
    name = ext && ext.length < 10 ? `${name.slice(0, 199 - ext.length)}.${ext}` : name.slice(0, 200);
  }
  const ext = EXTENSIONS[mimetype];
  if (!name) name = type;
  if (ext && !extension(name)) name = `${name}.${ext}`;
  return name;
}
