// The host's side of media downloads against the simulator's media host (real HTTPS, real
// WhatsApp encryption): any part of a file decrypts byte for byte, whether it continues an open
// stream, starts a ranged one in the middle of an AES block, or the file's size is unknown.
import { randomBytes } from 'node:crypto';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkError } from '../../session-host/link/protocol.ts';
import { MediaDownloads } from '../../session-host/media-download.ts';
import { makeTlsIdentity } from '../wa-sim/certs.ts';
import { MediaHost, type UploadedMedia } from '../wa-sim/media.ts';

let host: MediaHost;
let downloads: MediaDownloads;
const messages = new Map<string, object>();
const file = randomBytes(700_000 + 7);

beforeAll(async () => {
  const tls = await makeTlsIdentity();
  // What NODE_EXTRA_CA_CERTS does for the host process: trust the simulator's certificate.
  setDefaultCACertificates([...getCACertificates('default'), tls.cert]);
  host = await MediaHost.start(tls, () => {});
  downloads = new MediaDownloads({ lookup: async (_device, id) => messages.get(id), logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  downloads?.close();
  await host?.stop();
});

function received(id: string, uploaded: UploadedMedia, change: Partial<UploadedMedia> = {}): string {
  messages.set(id, { documentMessage: { ...uploaded, ...change } });
  return id;
}

const part = async (messageId: string, offset: number, length: number) => {
  const chunk = await downloads.chunk({ deviceId: 'shop', messageId, offset, length });
  return { ...chunk, bytes: Buffer.from(chunk.data, 'base64') };
};

describe('media downloads on the host', () => {
  it('hands out a file in consecutive chunks from one stream from the media host', async () => {
    const id = received('A', host.store('document', file, { mimetype: 'application/pdf', fileName: 'a.pdf' }));
    const before = host.downloads;
    const parts: Buffer[] = [];
    for (let offset = 0; offset < file.length; offset += 65_536) {
      const chunk = await part(id, offset, 65_536);
      expect(chunk).toMatchObject({ total: file.length, mimetype: 'application/pdf', fileName: 'a.pdf' });
      parts.push(chunk.bytes);
    }
    expect(Buffer.concat(parts).equals(file)).toBe(true);
    expect(host.downloads - before).toBe(1);
    expect((await part(id, file.length, 10)).bytes.length).toBe(0);
  });

  it('starts anywhere: a ranged stream decrypts from the middle of an AES block', async () => {
    const id = received('B', host.store('document', file));
    const ranged = host.rangeDownloads;
    for (const [offset, length] of [
      [100_003, 5_000],
      [17, 1],
      [15, 2],
      [file.length - 5, 100],
      [0, 16],
    ] as const) {
      const { bytes } = await part(id, offset, length);
      expect(bytes.equals(file.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true);
    }
    expect(host.rangeDownloads).toBeGreaterThan(ranged);
  });

  it('reads to the end when WhatsApp did not give the size, skipping up to an offset', async () => {
    const id = received('C', host.store('document', file), { fileLength: undefined });
    const head = await part(id, 0, 400_000);
    expect(head.total).toBeNull();
    const tail = await part(id, 400_000, 400_000);
    expect(Buffer.concat([head.bytes, tail.bytes]).equals(file)).toBe(true);
    const later = await part(id, 650_000, 400_000);
    expect(later.bytes.equals(file.subarray(650_000))).toBe(true);
  });

  it('keeps at most maxCursors streams open, and none past idleMs: a later chunk then opens a ranged one', async () => {
    const bounded = new MediaDownloads({ lookup: async (_device, id) => messages.get(id), logger: pino({ level: 'silent' }), maxCursors: 2, idleMs: 300 });
    const ids = ['D1', 'D2', 'D3'].map((id) => received(id, host.store('document', file)));
    const next = async (id: string) => {
      const before = host.downloads;
      const { data } = await bounded.chunk({ deviceId: 'shop', messageId: id, offset: 1000, length: 1000 });
      expect(Buffer.from(data, 'base64').equals(file.subarray(1000, 2000))).toBe(true);
      return host.downloads - before;
    };
    for (const id of ids) await bounded.chunk({ deviceId: 'shop', messageId: id, offset: 0, length: 1000 });
    // D1's stream was the oldest of three: closed. D3's is still open, and continues.
    expect(await next(ids[0]!)).toBe(1);
    expect(await next(ids[2]!)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Idle past idleMs: D3's stream was closed too.
    const before = host.downloads;
    const late = await bounded.chunk({ deviceId: 'shop', messageId: ids[2]!, offset: 2000, length: 10 });
    expect(Buffer.from(late.data, 'base64').equals(file.subarray(2000, 2010))).toBe(true);
    expect(host.downloads - before).toBe(1);
    bounded.close();
  });

  it('says not found for a message without media, and for a file the media host no longer has', async () => {
    messages.set('text', { conversation: 'hello' });
    await expect(part('text', 0, 10)).rejects.toMatchObject({ code: 'not_found', message: expect.stringMatching(/no media/) });
    await expect(part('unknown', 0, 10)).rejects.toBeInstanceOf(LinkError);
    const uploaded = host.store('image', randomBytes(1000), { mimetype: 'image/jpeg' });
    messages.set('gone', { imageMessage: uploaded });
    host.expire(uploaded.directPath);
    await expect(part('gone', 0, 10)).rejects.toMatchObject({ code: 'not_found', message: expect.stringMatching(/no longer on WhatsApp/) });
  });
});
