// The host's store of uploaded files (Fonnte's `file`): pieces put over the link come back as the
// whole file, byte for byte, until the expiry; a wrong piece is refused, a missing one named.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LinkError, UPLOAD_CHUNK_BYTES } from '../../session-host/link/protocol.ts';
import { openStore } from '../../session-host/store/index.ts';
import type { Store } from '../../session-host/store/store.ts';
import { putUploadPiece, readUpload } from '../../session-host/uploads.ts';
import { tempDir } from '../support/host.ts';

const backends: [string, () => Promise<Store>][] = [
  ['files', async () => openStore({ dataDir: tempDir(), expiryResolutionMs: 100 })],
  ['redis', async () => openStore({ dataDir: tempDir(), redisUrl: 'redis://127.0.0.1:6379', namespace: `test:${randomUUID()}:` })],
];

const upload = `up_${'ab'.repeat(16)}`;
const file = Buffer.from(Array.from({ length: 2 * UPLOAD_CHUNK_BYTES + 123 }, (_, i) => (i * 7) % 256));
const piece = (offset: number, bytes = file.subarray(offset, offset + UPLOAD_CHUNK_BYTES)) => ({
  deviceId: 'shop',
  upload,
  offset,
  total: file.length,
  data: bytes.toString('base64'),
  mimetype: 'application/pdf',
  fileName: 'invoice.pdf',
});

describe.each(backends)('uploads in the %s store', (_name, open) => {
  it('gives back the whole file from its pieces, in any order, once every piece arrived', async () => {
    const store = await open();
    const expiresAt = Date.now() + 60_000;
    await putUploadPiece(store, piece(2 * UPLOAD_CHUNK_BYTES), expiresAt);
    await putUploadPiece(store, piece(0), expiresAt);
    await expect(readUpload(store, 'shop', upload)).rejects.toThrow(`file: upload ${upload} is incomplete`);
    expect(await putUploadPiece(store, piece(UPLOAD_CHUNK_BYTES), expiresAt)).toEqual({ stored: 2 * UPLOAD_CHUNK_BYTES });
    const read = await readUpload(store, 'shop', upload);
    expect(read.bytes.equals(file)).toBe(true);
    expect(read).toMatchObject({ mimetype: 'application/pdf', fileName: 'invoice.pdf' });
    // Another device's sends cannot name it.
    await expect(readUpload(store, 'other', upload)).rejects.toMatchObject({ code: 'media_error' });
    await store.close();
  });

  it('refuses a piece of the wrong size, and forgets the file at its expiry', async () => {
    const store = await open();
    const short = putUploadPiece(store, piece(0, file.subarray(0, 1000)), Date.now() + 60_000);
    await expect(short).rejects.toBeInstanceOf(LinkError);
    await expect(short).rejects.toThrow(`the piece at 0 of ${file.length} bytes must be ${UPLOAD_CHUNK_BYTES} bytes, got 1000`);

    const expiresAt = Date.now() + 300;
    for (const offset of [0, UPLOAD_CHUNK_BYTES, 2 * UPLOAD_CHUNK_BYTES]) await putUploadPiece(store, piece(offset), expiresAt);
    expect((await readUpload(store, 'shop', upload)).bytes.length).toBe(file.length);
    await expect.poll(() => store.keys(`upload:shop:${upload}`), { timeout: 5_000 }).toEqual([]);
    await expect(readUpload(store, 'shop', upload)).rejects.toThrow('is not on this host (it expired, or never arrived)');
    await store.close();
  });
});
