// The media download route inside the Workers runtime, with a stand-in host: the file is pulled
// from the host a chunk at a time as the client reads, never gathered whole in the Worker.
import { env, exports } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { CHUNK_BYTES } from '../../edge/routes/media.ts';
import { signMedia } from '../../session-host/link/media-link.ts';
import { newDevice } from './client.ts';
import { fakeHost } from './fake-host.ts';

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

/** A file of ten and a bit chunks, each byte telling its position. */
const file = Uint8Array.from({ length: CHUNK_BYTES * 10 + 5 }, (_, i) => (i * 7 + (i >> 8)) & 255);
const base64 = (bytes: Uint8Array) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(''));

function hostWithFile() {
  return fakeHost({
    'media.download': ({ offset, length }) => ({
      total: file.length,
      mimetype: 'video/mp4',
      fileName: 'Video promo.mp4',
      data: base64(file.subarray(offset, offset + length)),
    }),
  });
}

const downloads = () => host!.requests.filter((r) => r.method === 'media.download').map((r) => (r.params as { offset: number }).offset);

describe('GET /api/media/:deviceId/:messageId', () => {
  it('pulls the next chunk from the host only as the client reads', async () => {
    const device = await newDevice();
    host = hostWithFile();
    const res = await exports.default.fetch(`http://gateway.test/api/media/${device.id}/3EB0VIDEO`, { headers: { authorization: `Bearer ${device.apiKey}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('content-length')).toBe(String(file.length));
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="Video promo.mp4"; filename*=UTF-8''Video%20promo.mp4`);

    const reader = res.body!.getReader();
    const parts: Uint8Array[] = [];
    let received = 0;
    while (received < CHUNK_BYTES) {
      const { value } = await reader.read();
      parts.push(value!);
      received += value!.length;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The first chunk, and at most the few the stream reads ahead: not the file's eleven.
    expect(downloads().length).toBeLessThanOrEqual(3);

    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
      received += value.length;
    }
    const body = new Uint8Array(received);
    let at = 0;
    for (const part of parts) body.set(part, (at += part.length) - part.length);
    expect(body).toEqual(file);
    expect(downloads()).toEqual(Array.from({ length: 11 }, (_, i) => i * CHUNK_BYTES));
    expect(host.requests.find((r) => r.method === 'media.download')!.params).toEqual({ deviceId: device.id, messageId: '3EB0VIDEO', offset: 0, length: CHUNK_BYTES });
  });

  it('takes a link signed with the host secret instead of a key', async () => {
    const device = await newDevice();
    host = hostWithFile();
    const expires = Math.floor(Date.now() / 1000) + 60;
    const sig = await signMedia(env.HOST_SECRET!, device.id, '3EB0VIDEO', expires);
    const res = await exports.default.fetch(`http://gateway.test/api/media/${device.id}/3EB0VIDEO?expires=${expires}&sig=${sig}`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(file);
    const forged = await exports.default.fetch(`http://gateway.test/api/media/${device.id}/3EB0VIDEO?expires=${expires}&sig=${await signMedia('another-secret-0123456789', device.id, '3EB0VIDEO', expires)}`);
    expect(forged.status).toBe(403);
    expect(await forged.json()).toEqual({ error: expect.stringMatching(/^Forbidden: this media link is not valid/) });
  });
});
