// What a preview card is made of: a page's Open Graph tags or its plain <title> and description,
// the URL as written in a text, and the guard that keeps previews off private networks.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkPreviews, pageMeta, urlInText } from '../../session-host/link-preview.ts';

let server: Server;
let base: string;
let pageHits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    pageHits++;
    if (req.url === '/no-title') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<p>nothing to show</p>');
    if (req.url === '/gone') return void res.writeHead(404, { 'content-type': 'text/html' }).end('<title>Not found</title>');
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<title>Page ${req.url}</title>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => server?.close());

describe('pageMeta', () => {
  it('prefers Open Graph tags, in either attribute order and quoting, with entities decoded', () => {
    const html = `<title>Plain</title>
      <META content='Toko &quot;Maju&quot;' property='og:title'>
      <meta name="description" content="plain description">
      <meta property="og:description" content="Buka   setiap&#32;hari &#x2014; 08:00">
      <meta property=og:image content=/img/cover.jpg>
      <meta property="og:url" content="https://toko.example/promo">`;
    expect(pageMeta(html)).toEqual({ title: 'Toko "Maju"', description: 'Buka setiap hari — 08:00', image: '/img/cover.jpg', url: 'https://toko.example/promo' });
  });

  it('falls back to <title> and the meta description', () => {
    expect(pageMeta('<head><title>\n  Katalog  </title><meta name="Description" content="Semua produk"></head>')).toEqual({
      title: 'Katalog',
      description: 'Semua produk',
      image: undefined,
      url: undefined,
    });
  });
});

describe('urlInText', () => {
  it('finds the first http(s) URL, without the punctuation after it', () => {
    expect(urlInText('Lihat https://toko.example/promo?id=1, ya!')).toBe('https://toko.example/promo?id=1');
    expect(urlInText('(http://toko.example/a) dan https://b.example')).toBe('http://toko.example/a');
    expect(urlInText('tanpa tautan, toko.example saja')).toBeUndefined();
  });
});

describe('LinkPreviews', () => {
  it('makes no card for a page without a title or one that is not found', async () => {
    const previews = new LinkPreviews({ timeoutMs: 2_000, allowPrivateNetworks: true });
    expect(await previews.forText(`${base}/no-title`)).toBeUndefined();
    expect(await previews.forText(`${base}/gone`)).toBeUndefined();
    expect(await previews.forText(`see ${base}/ok`)).toMatchObject({ title: 'Page /ok', 'matched-text': `${base}/ok`, 'canonical-url': `${base}/ok` });
  });

  it('refuses private networks unless allowed: no card, and the page is never asked', async () => {
    const before = pageHits;
    expect(await new LinkPreviews({ timeoutMs: 2_000, allowPrivateNetworks: false }).forText(`${base}/private`)).toBeUndefined();
    expect(pageHits).toBe(before);
  });

  it('keeps at most maxEntries previews, fetching a URL again once it was dropped', async () => {
    const previews = new LinkPreviews({ timeoutMs: 2_000, allowPrivateNetworks: true, maxEntries: 2 });
    const before = pageHits;
    for (const path of ['/1', '/2', '/1', '/2']) await previews.forText(`${base}${path}`);
    expect(pageHits - before).toBe(2);
    await previews.forText(`${base}/3`); // drops /1, the oldest
    await previews.forText(`${base}/1`);
    expect(pageHits - before).toBe(4);
  });
});
