// Incoming media, fetched from WhatsApp's media hosts on demand and handed out in parts: the edge
// asks for one chunk at a time (`media.download`) and streams them to its client.
//
// Why cursors rather than a cache of whole files: a host carries hundreds of devices, and a video
// or a document can be hundreds of megabytes, so decrypted files cannot be held in memory, and a
// disk cache would need its own bounds and sweeping. Fetching every chunk as a separate ranged
// request would work too (AES-CBC decrypts from any block, given the block before it), but would
// cost WhatsApp a request per chunk. So a download opens one decrypting stream from WhatsApp and
// keeps it, paused, between chunks: the edge's next chunk continues it where the last one ended.
// A request at any other offset (a resumed download, a second reader) opens a ranged stream there.
// Held per idle cursor: the paused stream's buffers (tens of KB); cursors idle for IDLE_MS are
// closed, and at most MAX_CURSORS are open at once (the least recently used goes first).
// Also here: the signed link to the file that a `message` webhook carries (`mediaLinker`).
import { downloadContentFromMessage, getContentType, normalizeMessageContent, type MediaType, type proto } from '@whiskeysockets/baileys';
import { MEDIA_LINK_TTL_SECONDS, signedMediaUrl } from './link/media-link.ts';
import { LinkError, type Params, type Result } from './link/protocol.ts';
import type { Logger } from './logger.ts';
import type { IncomingPayload } from './sessions/payloads.ts';

const IDLE_MS = 30_000;
const MAX_CURSORS = 64;
/** Each step (opening the file, each chunk of it, a re-upload) must finish within this; the edge waits a little longer. */
const STEP_TIMEOUT_MS = 15_000;

/** Message content keys of downloadable media, and the key type Baileys derives them with. */
const MEDIA_TYPES: Record<string, MediaType> = {
  imageMessage: 'image',
  videoMessage: 'video',
  audioMessage: 'audio',
  documentMessage: 'document',
  stickerMessage: 'sticker',
};

type MediaMessage = proto.Message.IImageMessage & proto.Message.IDocumentMessage;

interface Media {
  type: MediaType;
  message: MediaMessage;
  total: number | null;
  mimetype: string;
  fileName: string | null;
}

/** One decrypting stream from WhatsApp, positioned at `position` of the plaintext. */
interface Cursor {
  key: string;
  position: number;
  chunks: AsyncIterator<Buffer>;
  /** Decrypted bytes read from the stream past `position`'s chunk, not handed out yet. */
  rest: Buffer;
  ended: boolean;
  close(): void;
  idle?: NodeJS.Timeout;
}

export interface MediaDownloadsOptions {
  /** The incoming message with this id, as remembered for the retention; undefined if unknown. */
  lookup: (deviceId: string, messageId: string) => Promise<proto.IMessage | undefined>;
  /**
   * Asks the sender's phone to upload a file again that WhatsApp's media hosts no longer have
   * (they keep files for a limited time); resolves with the message pointing at the new upload.
   */
  reupload?: (deviceId: string, messageId: string) => Promise<proto.IMessage>;
  logger: Logger;
  /** Defaults IDLE_MS and MAX_CURSORS (tests lower them). */
  idleMs?: number;
  maxCursors?: number;
}

export class MediaDownloads {
  private readonly lookup: MediaDownloadsOptions['lookup'];
  private readonly reupload: MediaDownloadsOptions['reupload'];
  private readonly log: Logger;
  private readonly idleMs: number;
  private readonly maxCursors: number;
  /** Idle cursors by device, message and position; a cursor in use is not here. Oldest first. */
  private readonly idle = new Map<string, Cursor>();

  constructor(options: MediaDownloadsOptions) {
    this.lookup = options.lookup;
    this.reupload = options.reupload;
    this.log = options.logger;
    this.idleMs = options.idleMs ?? IDLE_MS;
    this.maxCursors = options.maxCursors ?? MAX_CURSORS;
  }

  async chunk({ deviceId, messageId, offset, length }: Params<'media.download'>): Promise<Result<'media.download'>> {
    let media = mediaOf(await this.lookup(deviceId, messageId), messageId);
    const described = { total: media.total, mimetype: media.mimetype, fileName: media.fileName };
    if (media.total !== null && offset >= media.total) return { ...described, data: '' };
    const key = `${deviceId} ${messageId}`;
    let cursor = this.take(`${key} ${offset}`);
    if (!cursor) {
      try {
        cursor = await this.open(key, media, offset);
      } catch (error) {
        if (!this.reupload || !isGone(error)) throw asLinkError(error);
        this.log.info({ deviceId, messageId }, "media gone from WhatsApp's media host: asking the sender's phone to upload it again");
        media = mediaOf(await within(this.reupload(deviceId, messageId), "the sender's phone uploading the file again"), messageId);
        cursor = await this.open(key, media, offset).catch((again) => {
          throw asLinkError(again);
        });
      }
    }
    try {
      const data = await this.read(cursor, media.total === null ? length : Math.min(length, media.total - offset));
      if ((cursor.ended && !cursor.rest.length) || cursor.position === media.total) cursor.close();
      else this.park(cursor);
      return { ...described, data: data.toString('base64') };
    } catch (error) {
      cursor.close();
      throw error;
    }
  }

  /** Closes every open stream (the host is stopping). */
  close(): void {
    for (const cursor of this.idle.values()) cursor.close();
    this.idle.clear();
  }

  private take(at: string): Cursor | undefined {
    const cursor = this.idle.get(at);
    if (!cursor) return undefined;
    this.idle.delete(at);
    clearTimeout(cursor.idle);
    return cursor;
  }

  private park(cursor: Cursor): void {
    const at = `${cursor.key} ${cursor.position}`;
    this.drop(at); // a twin from a parallel reader of the same file: one is enough
    this.idle.set(at, cursor);
    cursor.idle = setTimeout(() => this.drop(at, cursor), this.idleMs).unref();
    for (const oldest of this.idle.keys()) {
      if (this.idle.size <= this.maxCursors) break;
      this.drop(oldest);
    }
  }

  /** Closes the idle cursor at `at` (only if it is still `which`, when given). */
  private drop(at: string, which?: Cursor): void {
    const cursor = this.idle.get(at);
    if (!cursor || (which && cursor !== which)) return;
    this.idle.delete(at);
    clearTimeout(cursor.idle);
    cursor.close();
  }

  private async open(key: string, media: Media, offset: number): Promise<Cursor> {
    // Baileys decrypts a range only with an end (it drops everything without one); without a known
    // size the stream starts at 0 and the bytes before `offset` are skipped.
    const range = media.total === null ? {} : { startByte: offset, endByte: media.total };
    const opening = downloadContentFromMessage(media.message, media.type, range);
    const stream = await within(opening, "WhatsApp's media host answering").catch((error) => {
      // Given up on: a stream that opens after all is closed at once.
      void opening.then(
        (late) => late.destroy(),
        () => undefined,
      );
      throw error;
    });
    // A failing stream is reported by the read that meets it; this only keeps it from being unhandled.
    stream.on('error', (error) => this.log.debug({ err: error }, 'media stream failed'));
    const cursor: Cursor = {
      key,
      position: media.total === null ? 0 : offset,
      chunks: stream[Symbol.asyncIterator](),
      rest: Buffer.alloc(0),
      ended: false,
      close: () => stream.destroy(),
    };
    if (cursor.position < offset) {
      await this.read(cursor, offset - cursor.position).catch((error) => {
        cursor.close();
        throw error;
      });
    }
    return cursor;
  }

  /** The next `length` bytes of the cursor's stream (fewer only at its end). */
  private async read(cursor: Cursor, length: number): Promise<Buffer> {
    const parts = [cursor.rest];
    let have = cursor.rest.length;
    while (have < length && !cursor.ended) {
      const next = await within(cursor.chunks.next(), "WhatsApp's media host sending the file").catch((error) => {
        throw asLinkError(error);
      });
      if (next.done) cursor.ended = true;
      else {
        parts.push(next.value);
        have += next.value.length;
      }
    }
    const all = Buffer.concat(parts);
    // Copied: a view would keep the whole concatenation alive while the cursor waits.
    cursor.rest = Buffer.from(all.subarray(length));
    cursor.position += Math.min(length, all.length);
    return all.subarray(0, length);
  }
}

/** The downloadable media of a stored message, or not_found. */
function mediaOf(stored: proto.IMessage | undefined, messageId: string): Media {
  const content = normalizeMessageContent(stored);
  const contentType = content ? getContentType(content) : undefined;
  const type = contentType ? MEDIA_TYPES[contentType] : undefined;
  const message = type && ((content as Record<string, unknown>)[contentType!] as MediaMessage | undefined);
  if (!type || !message?.mediaKey || !(message.directPath || message.url)) {
    throw new LinkError('not_found', `no media in a message ${messageId} this device received (within the retention)`);
  }
  return {
    type,
    message,
    total: message.fileLength == null ? null : Number(message.fileLength),
    mimetype: message.mimetype || 'application/octet-stream',
    fileName: message.fileName || null,
  };
}

/** WhatsApp's media host no longer has the file (it keeps files for a limited time). */
const isGone = (error: unknown) => [404, 410].includes((error as { output?: { statusCode?: number } }).output?.statusCode ?? 0);

/** `promise`, or a timeout error naming `what` took too long. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LinkError('timeout', `${what} took longer than ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** WhatsApp's answer as the edge should see it: gone (404/410) is a 404, anything else a failed fetch. */
function asLinkError(error: unknown): LinkError {
  if (error instanceof LinkError) return error;
  if (isGone(error)) return new LinkError('not_found', 'media no longer on WhatsApp (it expired or was deleted; ask the sender to send it again)');
  return new LinkError('media_error', `could not download the media from WhatsApp: ${(error as Error).message}`);
}

/**
 * The webhook queue's `prepare` for incoming media: a `message` payload with `media` gets a link
 * that works for MEDIA_LINK_TTL_SECONDS from this delivery attempt, under the edge's URL for the
 * device (null when unknown: the file is then still downloadable with the device's key).
 */
export function mediaLinker(secret: string, edgeUrl: (deviceId: string) => string | undefined) {
  return async (deviceId: string, type: string, payload: object): Promise<object> => {
    const { id, media } = payload as Partial<IncomingPayload>;
    if (type !== 'message' || !media || !id) return payload;
    const base = edgeUrl(deviceId);
    const url = base ? await signedMediaUrl(secret, base, deviceId, id, Math.floor(Date.now() / 1000) + MEDIA_LINK_TTL_SECONDS) : null;
    return { ...payload, url: url ?? '', media: { ...media, url } };
  };
}
