// Incoming media downloaded through the edge, end to end: a contact's phone uploads a file to the
// simulator's media host and sends it; the real session host receives it, the webhook carries a
// signed link on the real Worker, and the file streams back from WhatsApp through host, link and
// edge, byte for byte.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signMedia } from '../../session-host/link/media-link.ts';
import type { Stack } from '../../bin/stack.ts';
import { callEdge, createLinkedDevice, startSimStack } from '../support/e2e.ts';
import { png } from '../support/fixtures.ts';
import { type Received, WebhookReceiver } from '../support/receiver.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let receiver: WebhookReceiver;
let device: { id: string; apiKey: string };
let other: { id: string; apiKey: string };
let phone: string;

const admin = () => `Bearer ${stack.adminKey}`;
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
  // The webhook receiver listens on 127.0.0.1.
  ({ sim, stack } = await startSimStack('media-download', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
  const linked = await createLinkedDevice(stack, sim, { name: 'Media', webhookUrl: receiver.url });
  device = linked;
  phone = linked.phone;
  other = (await callEdge(stack.edgeUrl, 'POST', '/api/devices', { key: admin(), json: { name: 'Other' } })).json as typeof other;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await receiver?.stop();
  await sim?.stop();
});

/** A contact sends a file the way WhatsApp carries it; resolves with the message's webhook. */
async function contactSends(type: 'image' | 'document', bytes: Buffer, details: { mimetype: string; fileName?: string; caption?: string }): Promise<{ id: string; hook: Received; directPath: string }> {
  const { caption, ...file } = details;
  const uploaded = sim.uploadMedia(type, bytes, file);
  const { id } = await sim.sendIncoming(phone, '6281277700001', { [`${type}Message`]: { ...uploaded, caption } });
  const hook = await receiver.waitFor((r) => r.json.event === 'message' && r.json.id === id);
  return { id, hook, directPath: uploaded.directPath };
}

async function download(url: string, key?: string) {
  const res = await fetch(url, { headers: key ? { authorization: key } : {} });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { res, bytes, text: () => new TextDecoder().decode(bytes) };
}

const route = (id: string, deviceId = device.id) => `${stack.edgeUrl}/api/media/${deviceId}/${id}`;

describe('incoming media through the edge', () => {
  const image = png(120, 80, 7);
  const document = randomBytes(3 * 1024 * 1024 + 12_345);
  let imageId: string;
  let documentId: string;

  it('puts a signed link in the webhook that downloads an image without a key, byte for byte', async () => {
    const { id, hook } = await contactSends('image', image, { mimetype: 'image/png', caption: 'Foto barang' });
    imageId = id;
    const media = hook.json.media as Record<string, any>;
    expect(media).toMatchObject({ mimetype: 'image/png', size: image.length, url: expect.stringMatching(/\?expires=\d+&sig=[0-9a-f]{64}$/) });
    expect(media.url.startsWith(`${route(id)}?`)).toBe(true);
    // Fonnte's own field for an attachment's link.
    expect(hook.json.url).toBe(media.url);
    const expires = Number(new URL(media.url).searchParams.get('expires'));
    expect(expires - Date.now() / 1000).toBeGreaterThan(29 * 60);
    expect(expires - Date.now() / 1000).toBeLessThanOrEqual(30 * 60);

    const { res, bytes } = await download(media.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-length')).toBe(String(image.length));
    expect(sha(bytes)).toBe(sha(image));
  });

  it('streams a 3 MB document in chunks, with its type and file name, fetching it from WhatsApp once', async () => {
    const { id, hook } = await contactSends('document', document, { mimetype: 'application/pdf', fileName: 'Laporan tahunan 2026.pdf' });
    documentId = id;
    const fetchesBefore = sim.media.downloads;
    const { res, bytes } = await download((hook.json.media as { url: string }).url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-length')).toBe(String(document.length));
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="Laporan tahunan 2026.pdf"; filename*=UTF-8''Laporan%20tahunan%202026.pdf`);
    expect(bytes.length).toBe(document.length);
    expect(sha(bytes)).toBe(sha(document));
    // Thirteen chunks over the link, one decrypting stream from WhatsApp's media host.
    expect(sim.media.downloads - fetchesBefore).toBe(1);
  });

  it("downloads with the device's key or the admin key, and refuses no key and another device's key", async () => {
    const withKey = await download(route(documentId), device.apiKey);
    expect(withKey.res.status).toBe(200);
    expect(sha(withKey.bytes)).toBe(sha(document));
    const withAdmin = await download(route(imageId), admin());
    expect(withAdmin.res.status).toBe(200);
    expect(sha(withAdmin.bytes)).toBe(sha(image));

    const noKey = await download(route(imageId));
    expect(noKey.res.status).toBe(401);
    expect(JSON.parse(noKey.text())).toEqual({ error: 'Unauthorized: Invalid API Key.' });
    const otherKey = await download(route(imageId), other.apiKey);
    expect(otherKey.res.status).toBe(403);
    expect(JSON.parse(otherKey.text()).error).toMatch(/another device/);
  });

  it("keeps a sender's HTML from running on the gateway's origin, and serves a malformed mimetype as bytes", async () => {
    const html = Buffer.from('<script>alert(document.cookie)</script>');
    const page = await contactSends('document', html, { mimetype: 'text/html', fileName: 'promo.html' });
    const served = await download(route(page.id), device.apiKey);
    expect(served.res.headers.get('content-type')).toBe('text/html');
    expect(served.res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(sha(served.bytes)).toBe(sha(html));

    const odd = await contactSends('document', Buffer.from('data'), { mimetype: 'text/plain\r\nset-cookie: a=b', fileName: 'odd.txt' });
    const bytes = await download(route(odd.id), device.apiKey);
    expect(bytes.res.status).toBe(200);
    expect(bytes.res.headers.get('content-type')).toBe('application/octet-stream');
    expect(bytes.res.headers.get('set-cookie')).toBeNull();
  });

  it("has the sender's phone upload a file again that WhatsApp's media host dropped", async () => {
    const photo = png(64, 40, 3);
    const { id, directPath } = await contactSends('image', photo, { mimetype: 'image/png' });
    sim.media.expire(directPath);
    const again = await download(route(id), device.apiKey);
    expect(again.res.status, again.text()).toBe(200);
    expect(sha(again.bytes)).toBe(sha(photo));
    expect(sim.media.reuploads).toBe(1);
    // The new upload is remembered: the next download goes straight to it.
    expect(sha((await download(route(id), device.apiKey)).bytes)).toBe(sha(photo));
    expect(sim.media.reuploads).toBe(1);
  });

  it('answers 404 for a message without media, and for a file neither WhatsApp nor the sender has any more', async () => {
    const { id: textId } = await sim.sendIncoming(phone, '6281277700001', 'tanpa lampiran');
    await receiver.waitFor((r) => r.json.id === textId);
    const text = await download(route(textId), device.apiKey);
    expect(text.res.status).toBe(404);
    expect(JSON.parse(text.text()).error).toMatch(/no media/);
    expect((await download(route('3EB0NOSUCHMESSAGE'), device.apiKey)).res.status).toBe(404);

    const { id, directPath } = await contactSends('image', png(30, 30, 9), { mimetype: 'image/png' });
    sim.media.expire(directPath, { fromPhone: true });
    const gone = await download(route(id), device.apiKey);
    expect(gone.res.status).toBe(404);
    expect(JSON.parse(gone.text()).error).toMatch(/no longer on WhatsApp/);
  });

  it('refuses a link past its expiry, a tampered signature, and a link signed for another message', async () => {
    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = await download(`${route(imageId)}?expires=${past}&sig=${await signMedia(stack.hostSecret, device.id, imageId, past)}`);
    expect(expired.res.status).toBe(403);
    expect(JSON.parse(expired.text()).error).toMatch(/expired/);

    const future = Math.floor(Date.now() / 1000) + 600;
    const sig = await signMedia(stack.hostSecret, device.id, imageId, future);
    expect((await download(`${route(imageId)}?expires=${future}&sig=${sig}`)).res.status).toBe(200);
    const tampered = `${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`;
    const refused = await download(`${route(imageId)}?expires=${future}&sig=${tampered}`);
    expect(refused.res.status).toBe(403);
    expect(JSON.parse(refused.text()).error).toMatch(/not valid/);
    // A later expiry than signed, or another message under the same signature: refused alike.
    expect((await download(`${route(imageId)}?expires=${future + 1}&sig=${sig}`)).res.status).toBe(403);
    expect((await download(`${route(documentId)}?expires=${future}&sig=${sig}`)).res.status).toBe(403);
  });

  it('names the field of a malformed link or message id', async () => {
    const noExpiry = await download(`${route(imageId)}?sig=${'a'.repeat(64)}`);
    expect(noExpiry.res.status).toBe(400);
    expect(JSON.parse(noExpiry.text()).error).toBe('expires: required with sig');
    const shortSig = await download(`${route(imageId)}?expires=1&sig=abc`);
    expect(shortSig.res.status).toBe(400);
    expect(JSON.parse(shortSig.text()).error).toMatch(/^sig: /);
    const longId = await download(route('X'.repeat(129)), device.apiKey);
    expect(longId.res.status).toBe(400);
    expect(JSON.parse(longId.text()).error).toMatch(/^messageId: /);
  });
});
