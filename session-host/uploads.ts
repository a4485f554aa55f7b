// Files a client sent with its request (Fonnte's `file` part), which the edge puts here in pieces
// before the sends that name them. Each piece is its own store key, so no piece is ever rewritten
// and a retried piece only writes the same bytes again; the file's description is written with
// every piece. All of them expire after the retention: a queued send may go out hours later, and
// one upload serves every target of its request, so none of those sends may delete it.
import { LinkError, type Params, UPLOAD_CHUNK_BYTES } from './link/protocol.ts';
import type { Media } from './media.ts';
import type { Store } from './store/store.ts';

interface Described {
  total: number;
  mimetype: string;
  fileName: string;
}

const keyOf = (deviceId: string, upload: string) => `upload:${deviceId}:${upload}`;
const pieceKey = (deviceId: string, upload: string, offset: number) => `${keyOf(deviceId, upload)}:${offset}`;

/** Stores one piece of an upload; answers the bytes up to its end. */
export async function putUploadPiece(store: Store, params: Params<'media.put'>, expiresAt: number): Promise<{ stored: number }> {
  const { deviceId, upload, offset, total, data, mimetype, fileName } = params;
  const bytes = Buffer.from(data, 'base64');
  // Every piece but the last is whole, so a reader knows each piece's key from `total` alone.
  const expected = Math.min(UPLOAD_CHUNK_BYTES, total - offset);
  if (expected <= 0 || bytes.length !== expected) {
    throw new LinkError('bad_request', `media.put: the piece at ${offset} of ${total} bytes must be ${Math.max(expected, 0)} bytes, got ${bytes.length}`);
  }
  const head = keyOf(deviceId, upload);
  const piece = pieceKey(deviceId, upload, offset);
  const described: Described = { total, mimetype, fileName };
  await store.write({ [head]: JSON.stringify(described), [piece]: data }, { expiresAt: { [head]: expiresAt, [piece]: expiresAt } });
  return { stored: offset + bytes.length };
}

/** The whole file of an upload; a `media_error` when it is incomplete or has expired. */
export async function readUpload(store: Store, deviceId: string, upload: string): Promise<Media> {
  const head = await store.get(keyOf(deviceId, upload));
  if (!head) throw new LinkError('media_error', `file: upload ${upload} is not on this host (it expired, or never arrived)`);
  const { total, mimetype, fileName } = JSON.parse(head) as Described;
  const offsets = Array.from({ length: Math.ceil(total / UPLOAD_CHUNK_BYTES) }, (_, i) => i * UPLOAD_CHUNK_BYTES);
  const pieces = await store.getMany(offsets.map((offset) => pieceKey(deviceId, upload, offset)));
  if (pieces.some((p) => p === undefined)) throw new LinkError('media_error', `file: upload ${upload} is incomplete`);
  return { bytes: Buffer.concat(pieces.map((p) => Buffer.from(p!, 'base64'))), mimetype, fileName };
}
