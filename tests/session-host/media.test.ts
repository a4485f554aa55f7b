// Media and webhook URLs that point into private networks are refused unless allowed, and media
// over the size cap is refused, each with a reason the caller can act on.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../../session-host/host.ts';
import { png } from '../support/fixtures.ts';
import { startTestHost, TEST_SECRET } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let files: Server;
let filesUrl: string;
const big = Buffer.alloc(300_000, 1);
let sharedDownloads = 0;

beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  files = createServer((req, res) => {
    if (req.url === '/small.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(png());
    if (req.url === '/big.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(big);
    if (req.url === '/shared.png') {
      sharedDownloads++;
      // Slow enough that every send of the request asks while the first download is under way.
      return void setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(png()), 300);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
afterAll(async () => {
  files.close();
  await sim.stop();
});

async function connectedHost(env: Record<string, string>): Promise<{ host: Host; link: LinkClient; to: string }> {
  const host = await startTestHost(sim, { env });
  const link = await LinkClient.connect(host.url, TEST_SECRET);
  await link.request('device.upsert', { id: 'media' });
  await sim.scanQr((await link.request('device.connect', { id: 'media' })).qr!);
  await link.nextEvent('device.status', (d) => d.id === 'media' && d.status === 'CONNECTED');
  return { host, link, to: `${sim.addContact().phone}@s.whatsapp.net` };
}

describe('media safety', () => {
  it('refuses a media URL on 127.0.0.1 by default, saying why', async () => {
    const { host, link, to } = await connectedHost({ MEDIA_ALLOW_PRIVATE_NETWORKS: 'false' });
    const sent = sim.outbox.length;
    await expect(link.request('message.send', { deviceId: 'media', to, media: { type: 'image', url: `${filesUrl}/small.png` } })).rejects.toMatchObject({
      code: 'media_error',
      message: expect.stringMatching(/127\.0\.0\.1.*loopback.*MEDIA_ALLOW_PRIVATE_NETWORKS/),
    });
    expect(sim.outbox.length).toBe(sent);
    link.close();
    await host.stop();
  });

  it('refuses a media file over the size cap', async () => {
    const { host, link, to } = await connectedHost({ MEDIA_MAX_BYTES: '200000' });
    await expect(link.request('message.send', { deviceId: 'media', to, media: { type: 'image', url: `${filesUrl}/big.png` } })).rejects.toMatchObject({
      code: 'media_error',
      message: expect.stringMatching(/more than the limit of 195.3 KB/),
    });
    const ok = await link.request('message.send', { deviceId: 'media', to, media: { type: 'image', url: `${filesUrl}/small.png` } });
    expect((await sim.waitForOutgoing((m) => m.id === ok.id)).media?.bytes.equals(png())).toBe(true);
    link.close();
    await host.stop();
  });

  it('downloads a request’s media once for all its targets, and again for another request', async () => {
    const { host, link } = await connectedHost({ MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' });
    const targets = Array.from({ length: 5 }, () => `${sim.addContact().phone}@s.whatsapp.net`);
    const media = (shared: string) => ({ type: 'image' as const, url: `${filesUrl}/shared.png`, shared });
    const sent = await Promise.all(targets.map((to) => link.request('message.send', { deviceId: 'media', to, media: media('request-1') })));
    for (const { id } of sent) expect((await sim.waitForOutgoing((m) => m.id === id)).media?.bytes.equals(png())).toBe(true);
    expect(sharedDownloads).toBe(1);
    await link.request('message.send', { deviceId: 'media', to: targets[0]!, media: media('request-2') });
    expect(sharedDownloads).toBe(2);
    link.close();
    await host.stop();
  });
});
