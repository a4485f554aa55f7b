// The media host: an HTTPS server on 127.0.0.1 that takes Baileys' encrypted uploads and serves
// them back by direct path, plus the checks a recipient makes on a media message (PROTOCOL.md §6).
import type { proto } from '@whiskeysockets/baileys';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TlsIdentity } from './certs.ts';
import { hkdf } from './noise.ts';

export const MEDIA_TYPES = ['image', 'video', 'audio', 'document', 'sticker'] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];

/** The media part of a message as the recipient sees it after download and decryption. */
export interface ReceivedMedia {
  type: MediaType;
  bytes: Buffer;
  mimetype?: string;
  fileName?: string;
  caption?: string;
  /** Audio: a voice note (push to talk), its length in seconds and its waveform bars. */
  ptt?: boolean;
  seconds?: number;
  waveform?: Buffer;
  /** Stickers: animated. */
  animated?: boolean;
  /** An image or video the recipient opens once (wrapped, or flagged on the media). */
  viewOnce?: boolean;
}

type MediaMessage = proto.Message.IImageMessage & proto.Message.IVideoMessage & proto.Message.IDocumentMessage & proto.Message.IAudioMessage & proto.Message.IStickerMessage;

const KEY_INFO: Record<MediaType, string> = {
  image: 'Image',
  sticker: 'Image',
  video: 'Video',
  audio: 'Audio',
  document: 'Document',
};

const b64url = (data: Uint8Array) => Buffer.from(data).toString('base64url');

/** The fields of a media message that point at an upload and let a recipient decrypt it. */
export interface UploadedMedia {
  url: string;
  directPath: string;
  mediaKey: Buffer;
  fileEncSha256: Buffer;
  fileSha256: Buffer;
  fileLength: number;
  mimetype?: string;
  fileName?: string;
}

/** The IV, cipher key and MAC key a media key expands to (PROTOCOL.md §6). */
function mediaKeys(type: MediaType, mediaKey: Uint8Array) {
  const keys = hkdf(mediaKey, 112, Buffer.alloc(0), `WhatsApp ${KEY_INFO[type]} Keys`);
  return { iv: keys.subarray(0, 16), cipherKey: keys.subarray(16, 48), macKey: keys.subarray(48, 80) };
}

export class MediaHost {
  /** Encrypted bodies by direct path. */
  private readonly blobs = new Map<string, Buffer>();
  readonly authToken = randomBytes(16).toString('base64url');
  uploads = 0;
  /** Files the media host dropped that their senders' phones still have, by their old direct path. */
  private readonly onPhones = new Map<string, Buffer>();
  reuploads = 0;
  /** GETs of stored media, and of those the ones with a Range header. */
  downloads = 0;
  rangeDownloads = 0;

  private readonly server: Server;
  readonly host: string;
  private readonly log: (line: string) => void;

  private constructor(server: Server, host: string, log: (line: string) => void) {
    this.server = server;
    this.host = host;
    this.log = log;
  }

  static async start(tls: TlsIdentity, log: (line: string) => void): Promise<MediaHost> {
    const server = createServer({ key: tls.key, cert: tls.cert });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const media = new MediaHost(server, host, log);
    server.on('request', (req, res) => media.handle(req, res));
    return media;
  }

  private handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
    const url = new URL(req.url ?? '/', `https://${this.host}`);
    if (req.method === 'POST' && url.pathname.startsWith('/mms/')) {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const token = url.searchParams.get('token');
        if (url.searchParams.get('auth') !== this.authToken || !token || b64url(createHash('sha256').update(body).digest()) !== token) {
          this.log(`media: refused upload to ${url.pathname} (bad auth or token)`);
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
          return;
        }
        const directPath = `/v/t62.7118-24/${token}.enc`;
        this.blobs.set(directPath, body);
        this.uploads++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: `https://${this.host}${directPath}`, direct_path: directPath }));
      });
      return;
    }
    const blob = req.method === 'GET' ? this.blobs.get(url.pathname) : undefined;
    if (blob) {
      this.downloads++;
      // Ranges as a CDN serves them (one `bytes=a-b` or `bytes=a-`, clamped to the end): clients
      // decrypt a part of a file from the block before it.
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = Math.min(range[2] ? Number(range[2]) : blob.length - 1, blob.length - 1);
        if (start >= blob.length || end < start) return void res.writeHead(416, { 'content-range': `bytes */${blob.length}` }).end();
        this.rangeDownloads++;
        res.writeHead(206, { 'content-type': 'application/octet-stream', 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${blob.length}` }).end(blob.subarray(start, end + 1));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length }).end(blob);
      return;
    }
    this.log(`media: unhandled ${req.method} ${url.pathname}`);
    res.writeHead(404).end();
  }

  /** Finds the upload a media message points at, checks hashes and MAC, and decrypts it. */
  open(type: MediaType, media: MediaMessage): ReceivedMedia {
    const directPath = media.directPath ?? '';
    const body = this.blobs.get(directPath);
    if (!body) throw new Error(`no upload at direct path ${directPath}`);
    if (!media.mediaKey || !media.fileEncSha256 || !media.fileSha256) throw new Error('media message lacks keys or hashes');
    if (!createHash('sha256').update(body).digest().equals(Buffer.from(media.fileEncSha256))) {
      throw new Error('fileEncSha256 does not match the uploaded body');
    }
    const { iv, cipherKey, macKey } = mediaKeys(type, media.mediaKey);
    const ciphertext = body.subarray(0, body.length - 10);
    const mac = createHmac('sha256', macKey).update(iv).update(ciphertext).digest().subarray(0, 10);
    if (!timingSafeEqual(mac, body.subarray(body.length - 10))) throw new Error('media MAC mismatch');
    const decipher = createDecipheriv('aes-256-cbc', cipherKey, iv);
    const bytes = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    if (!createHash('sha256').update(bytes).digest().equals(Buffer.from(media.fileSha256))) {
      throw new Error('fileSha256 does not match the decrypted bytes');
    }
    if (media.fileLength != null && Number(media.fileLength) !== bytes.length) {
      throw new Error(`fileLength ${media.fileLength} but ${bytes.length} bytes decrypted`);
    }
    const received: ReceivedMedia = { type, bytes, mimetype: media.mimetype ?? undefined, fileName: media.fileName ?? undefined, caption: media.caption ?? undefined };
    if (type === 'audio') Object.assign(received, { ptt: !!media.ptt, seconds: media.seconds ?? undefined, waveform: media.waveform ? Buffer.from(media.waveform) : undefined });
    if (type === 'sticker') received.animated = !!media.isAnimated;
    if (media.viewOnce) received.viewOnce = true;
    return received;
  }

  /**
   * Stores a file as a WhatsApp client uploads it (encrypted under a fresh media key, with its
   * MAC) and returns the media message's fields, so a contact's media message can point at it.
   */
  store(type: MediaType, bytes: Buffer, details: { mimetype?: string; fileName?: string } = {}): UploadedMedia {
    const mediaKey = randomBytes(32);
    const { iv, cipherKey, macKey } = mediaKeys(type, mediaKey);
    const cipher = createCipheriv('aes-256-cbc', cipherKey, iv);
    const ciphertext = Buffer.concat([cipher.update(bytes), cipher.final()]);
    const mac = createHmac('sha256', macKey).update(iv).update(ciphertext).digest().subarray(0, 10);
    const body = Buffer.concat([ciphertext, mac]);
    const fileEncSha256 = createHash('sha256').update(body).digest();
    const directPath = `/v/t62.7118-24/${b64url(fileEncSha256)}.enc`;
    this.blobs.set(directPath, body);
    const fileSha256 = createHash('sha256').update(bytes).digest();
    return { url: `https://${this.host}${directPath}`, directPath, mediaKey, fileEncSha256, fileSha256, fileLength: bytes.length, ...details };
  }

  /**
   * WhatsApp's media hosts drop files after a while: later downloads of this one get a 404. The
   * sender's phone keeps its copy (and uploads it again when asked, see `reupload`) unless
   * `fromPhone` says it was deleted there too.
   */
  expire(directPath: string, { fromPhone = false } = {}): void {
    const body = this.blobs.get(directPath);
    this.blobs.delete(directPath);
    if (body && !fromPhone) this.onPhones.set(directPath, body);
  }

  /** The sender's phone uploads an expired file again: its new direct path, or undefined if the phone has it no more. */
  reupload(directPath: string): string | undefined {
    const body = this.onPhones.get(directPath);
    if (!body) return undefined;
    this.onPhones.delete(directPath);
    const fresh = `/v/t62.7118-24/${b64url(randomBytes(16))}.enc`;
    this.blobs.set(fresh, body);
    this.reuploads++;
    return fresh;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
