// Fonnte's `file` part of /send: a file the client uploads with its request (PHP's CURLFile, a
// FormData Blob). The edge keeps nothing of it: it checks the file as Fonnte does (at most 4 MB,
// an image, video, audio or document), carries its bytes to the device's session host over the
// link in pieces, and the sends then name it by its upload id, as they would name a URL.
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { MAX_UPLOAD_BYTES, type MediaType, UPLOAD_CHUNK_BYTES } from '../../session-host/link/protocol.ts';
import { base64, randomHex } from '../crypto.ts';
import type { AppEnv } from '../env.ts';
import { relayFailure } from '../errors.ts';
import { relay } from '../link/relay.ts';
import type { Media, SendContext } from './send.ts';
import { targetOf } from './send.ts';

/** A multipart file part, as the body parser hands it over (a text field is not a file). */
export const filePart = z.custom<File>((value) => value instanceof File, 'must be a file part of a multipart/form-data body');

/** The most a request carrying a file may be: the file and the rest of the form. */
export const MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024;

// A file /send will not take is a request error: /send answers it as Fonnte does (HTTP 200, its
// phrase, these words in `detail`; see fonntePhrase), and "4 MB" picks "file size must under 4MB".
const refused = (detail: string) => new HTTPException(400, { message: detail });
const tooLarge = refused;

/** Only a multipart body can carry a file; JSON and urlencoded bodies keep the usual limit. */
export const mayCarryFile = (c: Context) => /^multipart\/form-data\b/i.test(c.req.header('content-type') ?? '');

/** The body limit of a multipart request to a route that takes a file: oversized, it is an oversized file. */
export const uploadBodyLimit: MiddlewareHandler<AppEnv> = bodyLimit({
  maxSize: MAX_UPLOAD_BODY_BYTES,
  onError: () => {
    throw tooLarge(`file: at most 4 MB, and the whole request at most ${MAX_UPLOAD_BODY_BYTES / 1024 / 1024} MB`);
  },
});

// What WhatsApp takes, by registered type, with the extensions that name it when a client
// labels the part generically (a FormData Blob without a type is application/octet-stream).
const FORMATS: Record<string, [MediaType, ...string[]]> = {
  'image/jpeg': ['image', 'jpg', 'jpeg'],
  'image/png': ['image', 'png'],
  'image/gif': ['image', 'gif'],
  'image/webp': ['image', 'webp'],
  'video/mp4': ['video', 'mp4', 'm4v'],
  'video/3gpp': ['video', '3gp'],
  'video/quicktime': ['video', 'mov'],
  'audio/mpeg': ['audio', 'mp3'],
  'audio/mp4': ['audio', 'm4a'],
  'audio/ogg': ['audio', 'ogg', 'oga', 'opus'],
  'audio/aac': ['audio', 'aac'],
  'audio/amr': ['audio', 'amr'],
  'audio/wav': ['audio', 'wav'],
  'application/pdf': ['document', 'pdf'],
  'application/msword': ['document', 'doc'],
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ['document', 'docx'],
  'application/vnd.ms-excel': ['document', 'xls'],
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['document', 'xlsx'],
  'application/vnd.ms-powerpoint': ['document', 'ppt'],
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': ['document', 'pptx'],
  'text/plain': ['document', 'txt'],
  'text/csv': ['document', 'csv'],
  'application/zip': ['document', 'zip'],
  'application/vnd.rar': ['document', 'rar'],
};
// Names clients use besides the registered one.
const ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'audio/mp3': 'audio/mpeg',
  'audio/x-m4a': 'audio/mp4',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'application/x-zip-compressed': 'application/zip',
  'application/x-rar-compressed': 'application/vnd.rar',
};
const GENERIC = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'application/unknown']);
const BY_EXTENSION = new Map(Object.entries(FORMATS).flatMap(([mimetype, [, ...extensions]]) => extensions.map((ext) => [ext, mimetype] as const)));

/** A name safe to show: no path, no control characters, not hidden, not too long. */
function safeName(raw: string): string {
  const name = (raw.split(/[/\\]/).pop() ?? '')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this strips
    .replace(/[\x00-\x1f\x7f<>:"|?*]/g, '')
    .trim()
    .replace(/^\.+/, '');
  return name.slice(-200);
}

/** What the file is to WhatsApp, from the part's type, else (a generic type) its name; Fonnte's refusals otherwise. */
export function classify(file: File, fileName?: string): { type: MediaType; mimetype: string; fileName: string } {
  const name = safeName(fileName || file.name) || 'file';
  const shown = JSON.stringify(safeName(file.name) || 'file');
  if (file.size > MAX_UPLOAD_BYTES) throw tooLarge(`file: ${shown} is ${file.size} bytes; the limit is 4 MB (${MAX_UPLOAD_BYTES} bytes)`);
  const declared = file.type.split(';')[0]!.trim().toLowerCase();
  const extension = /\.(\w+)$/.exec(file.name)?.[1]?.toLowerCase() ?? '';
  const mimetype = GENERIC.has(declared) ? BY_EXTENSION.get(extension) : (ALIASES[declared] ?? declared);
  const format = mimetype && FORMATS[mimetype];
  if (!mimetype || !format) {
    throw refused(`file: ${shown} (${declared || 'no type'}) is not an image, video, audio or document WhatsApp takes (${[...BY_EXTENSION.keys()].join(', ')})`);
  }
  if (file.size === 0) throw refused(`file: ${shown} is empty`);
  return { type: format[0], mimetype, fileName: name };
}

export type Upload = { upload: string; type: MediaType; fileName: string; mimetype: string };

/**
 * Puts `file` on the host of a device, piece by piece in order, and answers its upload id; a
 * RelayError when the host is offline or refuses. Nothing is kept on the edge: an offline host
 * fails the request (the file cannot wait for it here).
 */
export async function uploadToHost(env: Env, hostId: string | null, deviceId: string, file: File, fileName?: string): Promise<Upload> {
  const described = classify(file, fileName);
  const upload = `up_${randomHex(16)}`;
  const bytes = new Uint8Array(await file.arrayBuffer());
  for (let offset = 0; offset < bytes.length; offset += UPLOAD_CHUNK_BYTES) {
    const data = base64(bytes.subarray(offset, offset + UPLOAD_CHUNK_BYTES));
    await relay(env, hostId, 'media.put', { deviceId, upload, offset, total: bytes.length, data, mimetype: described.mimetype, fileName: described.fileName });
  }
  return { upload, ...described };
}

/** A send request's file as media for its sends: on the host of the device the request sends from. */
export async function uploadedMedia(ctx: SendContext, deviceId: string | undefined, file: File, fileName?: string): Promise<Media> {
  const { device } = await targetOf(ctx, deviceId);
  try {
    const { upload, type, fileName: name } = await uploadToHost(ctx.env, device.hostId, device.id, file, fileName);
    return { type, upload, fileName: name };
  } catch (error) {
    if (error instanceof HTTPException) throw error;
    throw relayFailure(error);
  }
}
