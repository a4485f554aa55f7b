// The link to incoming media in a `message` webhook is signed when each attempt is posted, not
// when the event is queued: a webhook retried long after the message still carries a live link.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkMediaLink } from '../../session-host/link/media-link.ts';
import { mediaLinker } from '../../session-host/media-download.ts';
import { openStore } from '../../session-host/store/index.ts';
import type { Store } from '../../session-host/store/store.ts';
import { WebhookQueue } from '../../session-host/webhooks/queue.ts';
import { until } from '../support/until.ts';

const HOST_SECRET = 'host-secret-for-media-links';
let dataDir: string;
let store: Store;
let server: Server;
/** Bodies as posted, the first attempt of each refused with a 500. */
const attempts: Record<string, any>[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'wa-media-links-'));
  store = await openStore({ dataDir });
  server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    attempts.push(JSON.parse(raw));
    res.writeHead(attempts.length === 1 ? 500 : 200).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server?.close();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

it('signs a fresh 30-minute link on every attempt, and leaves other payloads as they are', async () => {
  const edgeUrls: Record<string, string | undefined> = { shop: 'https://gateway.example/', other: undefined };
  const queue = new WebhookQueue({
    store,
    logger: pino({ level: 'silent' }),
    target: () => ({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, secret: 'whsec-0123456789abcdef' }),
    allowPrivateNetworks: true,
    // Over a second even with the backoff's jitter (±20%): the two links' expiries differ.
    retry: { initialDelayMs: 1_300, maxDelayMs: 1_300 },
    prepare: mediaLinker(HOST_SECRET, (deviceId) => edgeUrls[deviceId]),
  });
  const media = { mimetype: 'image/jpeg', fileName: null, size: 10, sha256: null, url: null };
  await queue.enqueue('shop', { type: 'message', payload: { event: 'message', id: '3EB0AA', media, url: null } });
  // Stored as queued: no link yet.
  const [stored] = await store.getMany(await store.keys('webhook:'));
  expect(JSON.parse(stored!).payload).toMatchObject({ media: { url: null }, url: null });
  await queue.start();
  await until(() => attempts.length === 2, 'the retry', 10_000);

  const links = attempts.map((body) => new URL(body.media.url));
  for (const [i, link] of links.entries()) {
    expect(attempts[i]!.url).toBe(attempts[i]!.media.url);
    expect(`${link.origin}${link.pathname}`).toBe('https://gateway.example/api/media/shop/3EB0AA');
    const expires = Number(link.searchParams.get('expires'));
    expect(expires - Date.now() / 1000).toBeGreaterThan(29 * 60);
    expect(await checkMediaLink(HOST_SECRET, 'shop', '3EB0AA', expires, link.searchParams.get('sig')!)).toEqual({ ok: true });
  }
  expect(Number(links[1]!.searchParams.get('expires'))).toBeGreaterThan(Number(links[0]!.searchParams.get('expires')));

  // No edge URL known for the device: no link. A text: nothing added.
  await queue.enqueue('other', { type: 'message', payload: { event: 'message', id: '3EB0BB', media, url: null } });
  await queue.enqueue('shop', { type: 'message', payload: { event: 'message', id: '3EB0CC', media: null, url: null } });
  await until(() => attempts.length === 4, 'both delivered', 10_000);
  expect(attempts[2]).toMatchObject({ id: '3EB0BB', url: '', media: { url: null } });
  expect(attempts[3]).toEqual({ event: 'message', id: '3EB0CC', media: null, url: null });
  await queue.stop();
});
