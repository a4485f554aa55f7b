// Outbound fetches of user-supplied URLs, against real HTTP servers on 127.0.0.1. Every local
// server is a private address, so the refusals are tested on the first hop (literal, mapped and
// named forms), and the redirect, size, timeout and content checks with private networks allowed.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchMedia, type FetchMediaOptions } from '../../session-host/media.ts';
import { RequestError, safeRequest, unsafeAddressKind } from '../../session-host/net/safe-request.ts';
import { mp4, pdf, png, wav } from '../support/fixtures.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const routes = new Map<string, Handler>();
const hits = new Map<string, number>();
let server: Server;
let port: number;
let base: string;

function route(path: string, handler: Handler): string {
  routes.set(path, handler);
  return `${base}${path}`;
}
const serve =
  (body: Buffer | string, headers: Record<string, string | number> = {}, status = 200): Handler =>
  (_req, res) =>
    res.writeHead(status, headers).end(body);

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const handler = routes.get(path);
    if (handler) handler(req, res);
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('no such file');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const open: Omit<FetchMediaOptions, 'type'> = { maxBytes: 1024 * 1024, timeoutMs: 5_000, allowPrivateNetworks: true };
const guarded = { ...open, allowPrivateNetworks: false };

/** Runs `fn`, expecting a RequestError; returns it for closer looks. */
async function refusal(fn: () => Promise<unknown>): Promise<RequestError> {
  const err = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

describe('private network guard', () => {
  it('refuses a media URL on 127.0.0.1 by default, naming the address, its kind and the switch', async () => {
    const url = route('/guard/cat.png', serve(png(), { 'content-type': 'image/png' }));
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...guarded }));
    expect(err.code).toBe('unsafe_url');
    expect(err.message).toBe(`media URL ${url} is a loopback address; set MEDIA_ALLOW_PRIVATE_NETWORKS=true to allow private networks`);
    expect(hits.get('/guard/cat.png')).toBeUndefined(); // refused before connecting
  });

  it('refuses a name that resolves to loopback (localhost) at connect time', async () => {
    route('/guard/named.png', serve(png(), { 'content-type': 'image/png' }));
    const err = await refusal(() => fetchMedia(`http://localhost:${port}/guard/named.png`, { type: 'image', ...guarded }));
    expect(err.code).toBe('unsafe_url');
    expect(err.message).toMatch(new RegExp(`^media URL http://localhost:${port}/guard/named.png resolves to (127\\.0\\.0\\.1|::1), a loopback address; set MEDIA_ALLOW_PRIVATE_NETWORKS=true`));
    expect(hits.get('/guard/named.png')).toBeUndefined();
  });

  it('never lends a kept-alive socket from an allowed fetch to a guarded one', async () => {
    const url = route('/guard/pooled.png', serve(png(), { 'content-type': 'image/png' }));
    const named = url.replace('127.0.0.1', 'localhost');
    await fetchMedia(named, { type: 'image', ...open }); // leaves an idle socket to localhost
    const err = await refusal(() => fetchMedia(named, { type: 'image', ...guarded }));
    expect(err.code).toBe('unsafe_url');
    expect(hits.get('/guard/pooled.png')).toBe(1);
  });

  it.each([
    ['IPv6 loopback', `http://[::1]:1/x`, 'a loopback address'],
    ['IPv4-mapped IPv6', `http://[::ffff:127.0.0.1]:1/x`, 'a loopback address (127.0.0.1)'],
    ['decimal IPv4', `http://2130706433:1/x`, 'a loopback address'],
    ['unspecified', `http://0.0.0.0:1/x`, 'an unspecified address'],
    ['cloud metadata', `http://169.254.169.254/latest/meta-data/`, 'a link-local address'],
    ['private', `https://10.0.0.8/x`, 'a private address'],
  ])('refuses %s literals before connecting', async (_name, url, kind) => {
    const err = await refusal(() => safeRequest(url, { timeoutMs: 1_000, maxBytes: 10, allowPrivateNetworks: false }));
    expect(err.code).toBe('unsafe_url');
    expect(err.message).toContain(kind);
  });

  it('classifies addresses', () => {
    const cases: Record<string, string | undefined> = {
      '10.1.2.3': 'a private address',
      '172.31.255.255': 'a private address',
      '192.168.1.1': 'a private address',
      '100.64.0.1': 'a carrier-grade NAT address',
      '127.1.2.3': 'a loopback address',
      '224.0.0.251': 'a multicast address',
      '255.255.255.255': 'a reserved address',
      '::': 'an unspecified address',
      'fe80::1': 'a link-local address',
      'fd12:3456::1': 'a private address',
      'ff02::1': 'a multicast address',
      '::ffff:10.0.0.1': 'a private address (10.0.0.1)',
      '::ffff:a9fe:a9fe': 'a link-local address (169.254.169.254)',
      '64:ff9b::7f00:1': 'a loopback address (127.0.0.1)',
      '8.8.8.8': undefined,
      '172.32.0.1': undefined,
      '2606:4700:4700::1111': undefined,
      '::ffff:8.8.8.8': undefined,
    };
    for (const [address, kind] of Object.entries(cases)) expect([address, unsafeAddressKind(address)]).toEqual([address, kind]);
  });

  it('fetches from private networks when they are allowed', async () => {
    const image = png(8, 8, 1);
    const url = route('/open/cat.png', serve(image, { 'content-type': 'image/png' }));
    const media = await fetchMedia(url, { type: 'image', ...open });
    expect(media).toEqual({ bytes: image, mimetype: 'image/png', fileName: 'cat.png' });
  });
});

describe('bad URLs', () => {
  it.each([
    ['not a url', 'media URL not a url is not a valid URL'],
    ['file:///etc/passwd', 'media URL file:///etc/passwd is not an http or https URL'],
    ['ftp://example.com/a.png', 'media URL ftp://example.com/a.png is not an http or https URL'],
  ])('refuses %s', async (url, message) => {
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...open }));
    expect(err.code).toBe('bad_url');
    expect(err.message).toBe(message);
  });

  it('keeps credentials and query values out of messages', async () => {
    const err = await refusal(() => fetchMedia('http://user:hunter2@127.0.0.1:1/x.png?token=s3cr3t', { type: 'image', ...guarded }));
    expect(err.message).toContain('http://127.0.0.1:1/x.png?…');
    expect(err.message).not.toMatch(/hunter2|s3cr3t|user/);
  });

  it('reports a refused connection as a network error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await refusal(() => fetchMedia(`http://127.0.0.1:${deadPort}/a.png`, { type: 'image', ...open }));
    expect(err.code).toBe('network');
    expect(err.message).toBe(`media URL http://127.0.0.1:${deadPort}/a.png could not be reached: connection refused (ECONNREFUSED)`);
  });

  it('reports a non-2xx answer', async () => {
    const err = await refusal(() => fetchMedia(`${base}/missing.png`, { type: 'image', ...open }));
    expect(err.code).toBe('bad_status');
    expect(err.message).toBe(`media URL ${base}/missing.png answered HTTP 404, not the file`);
  });
});

describe('redirects', () => {
  it('follows them and names the file after the final URL', async () => {
    const file = pdf('redirected');
    route('/r/final/Annual%20Report.pdf', serve(file, { 'content-type': 'application/pdf' }));
    route('/r/two', serve('', { location: '/r/final/Annual%20Report.pdf' }, 307));
    const url = route('/r/one', serve('', { location: `${base}/r/two` }, 302));
    const media = await fetchMedia(url, { type: 'document', ...open });
    expect(media).toEqual({ bytes: file, mimetype: 'application/pdf', fileName: 'Annual Report.pdf' });
  });

  it('stops after maxRedirects', async () => {
    const url = route('/r/loop', serve('', { location: '/r/loop' }, 301));
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...open }));
    expect(err.code).toBe('redirect');
    expect(err.message).toBe(`media URL ${url} redirected more than 3 times`);
    expect(hits.get('/r/loop')).toBe(4);
  });

  it('refuses a redirect to a non-http scheme', async () => {
    const url = route('/r/file', serve('', { location: 'file:///etc/passwd' }, 302));
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...open }));
    expect(err.code).toBe('bad_url');
    expect(err.message).toBe(`media URL ${url} redirected to file:///etc/passwd, which is not an http or https URL`);
  });

  it('turns a POST into a GET on 303 and keeps it on 307', async () => {
    const seen: string[] = [];
    route('/r/echo', (req, res) => {
      let body = '';
      req
        .on('data', (c) => (body += c))
        .on('end', () => {
          seen.push(`${req.method} ${body}`);
          res.end('ok');
        });
    });
    route('/r/see-other', serve('', { location: '/r/echo' }, 303));
    route('/r/temporary', serve('', { location: '/r/echo' }, 307));
    for (const path of ['/r/see-other', '/r/temporary']) {
      const res = await safeRequest(`${base}${path}`, { method: 'POST', body: 'hello', timeoutMs: 2_000, maxBytes: 100, allowPrivateNetworks: true });
      expect(res.status).toBe(200);
      expect(res.url).toBe(`${base}/r/echo`);
    }
    expect(seen).toEqual(['GET ', 'POST hello']);
  });

  it('returns the redirect itself when maxRedirects is 0', async () => {
    const url = route('/r/manual', serve('', { location: '/elsewhere' }, 302));
    const res = await safeRequest(url, { method: 'POST', body: '{}', maxRedirects: 0, timeoutMs: 2_000, maxBytes: 100, allowPrivateNetworks: true });
    expect([res.status, res.headers.location, res.url]).toEqual([302, '/elsewhere', url]);
  });
});

describe('size cap', () => {
  it('refuses a declared Content-Length above the cap without reading the body', async () => {
    // Declares 100 MB, sends a little and then stalls: reading on would end in a timeout instead.
    const url = route('/big/declared.png', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 100 * 1024 * 1024 });
      res.write(png());
    });
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...open, timeoutMs: 3_000 }));
    expect(err.code).toBe('too_large');
    expect(err.message).toBe(`media URL ${url} serves 100 MB, more than the limit of 1 MB`);
  });

  it('aborts a chunked body as soon as it passes the cap', async () => {
    // An endless chunked stream: without the abort this would end in a timeout, not too_large.
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    const url = route('/big/endless.mp4', (_req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4' });
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 1)), 1);
      res.on('close', () => {
        clearInterval(timer);
        closed();
      });
    });
    const err = await refusal(() => fetchMedia(url, { type: 'video', ...open, maxBytes: 256 * 1024, timeoutMs: 4_000 }));
    expect(err.code).toBe('too_large');
    expect(err.message).toBe(`media URL ${url} serves more than the limit of 256 KB`);
    await connectionClosed; // the download was dropped, not drained in the background
  });

  it('accepts a file exactly at the cap', async () => {
    const video = mp4(4096);
    const url = route('/big/exact.mp4', (_req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4' });
      res.end(video); // chunked: no Content-Length
    });
    const media = await fetchMedia(url, { type: 'video', ...open, maxBytes: 4096 });
    expect(media.bytes.length).toBe(4096);
  });

  it('truncates instead when asked (webhook replies)', async () => {
    const url = route('/big/reply', serve('x'.repeat(5000), { 'content-type': 'text/plain' }, 500));
    const res = await safeRequest(url, { timeoutMs: 2_000, maxBytes: 100, truncateBody: true, allowPrivateNetworks: true });
    expect([res.status, res.body.toString()]).toEqual([500, 'x'.repeat(100)]);
  });
});

describe('timeout', () => {
  it('gives up on a server that never answers', async () => {
    const url = route('/slow/silent.png', () => {});
    const started = Date.now();
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...open, timeoutMs: 300 }));
    expect(err.code).toBe('timeout');
    expect(err.message).toBe(`media URL ${url} did not answer within 300 ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('covers the body too: a trickle that never ends times out', async () => {
    const url = route('/slow/trickle.png', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      const timer = setInterval(() => res.write('x'), 50);
      res.on('close', () => clearInterval(timer));
    });
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...open, timeoutMs: 400 }));
    expect(err.code).toBe('timeout');
  });

  it('covers every redirect hop together', async () => {
    route('/slow/hop2', (_req, res) => setTimeout(() => res.writeHead(302, { location: '/slow/hop3' }).end(), 200));
    route('/slow/hop3', (_req, res) => setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(png()), 200));
    const url = route('/slow/hop1', (_req, res) => setTimeout(() => res.writeHead(302, { location: '/slow/hop2' }).end(), 200));
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...open, timeoutMs: 450 }));
    expect(err.code).toBe('timeout');
  });
});

describe('content checks', () => {
  it('refuses an HTML page where an image was expected', async () => {
    const url = route('/type/login.png', serve('<!doctype html><p>Please log in', { 'content-type': 'text/html; charset=utf-8' }));
    const err = await refusal(() => fetchMedia(url, { type: 'image', ...open }));
    expect(err.code).toBe('bad_media');
    expect(err.message).toBe(`media at ${url} is a web page (text/html), not an image; link the file itself`);
  });

  it('refuses an HTML page as a document, even one labelled octet-stream', async () => {
    const url = route('/type/share', serve('<html><body>Sign in to view</body></html>', { 'content-type': 'application/octet-stream' }));
    const err = await refusal(() => fetchMedia(url, { type: 'document', ...open }));
    expect(err.message).toBe(`media at ${url} is a web page (text/html), not a document; link the file itself`);
  });

  it('refuses an image sent as a video, and bytes of unknown type sent as an image', async () => {
    const imageUrl = route('/type/still.png', serve(png(), { 'content-type': 'image/png' }));
    expect((await refusal(() => fetchMedia(imageUrl, { type: 'video', ...open }))).message).toBe(`media at ${imageUrl} is image/png, not a video`);
    const blobUrl = route('/type/blob', serve(Buffer.from('just some bytes'), { 'content-type': 'application/octet-stream' }));
    expect((await refusal(() => fetchMedia(blobUrl, { type: 'image', ...open }))).message).toBe(`media at ${blobUrl} is of unknown type, not an image`);
  });

  it('refuses a picture as a voice note, and an SVG as a sticker', async () => {
    const imageUrl = route('/type/voice.png', serve(png(), { 'content-type': 'image/png' }));
    expect((await refusal(() => fetchMedia(imageUrl, { type: 'voice', ...open }))).message).toBe(`media at ${imageUrl} is image/png, not audio`);
    const svgUrl = route('/type/logo.svg', serve('<svg xmlns="http://www.w3.org/2000/svg"/>', { 'content-type': 'image/svg+xml' }));
    expect((await refusal(() => fetchMedia(svgUrl, { type: 'sticker', ...open }))).message).toBe(`media at ${svgUrl} is image/svg+xml, not a png, jpeg, gif or webp image`);
  });

  it('refuses an empty file', async () => {
    const url = route('/type/empty.png', serve('', { 'content-type': 'image/png' }));
    expect((await refusal(() => fetchMedia(url, { type: 'image', ...open }))).message).toBe(`media at ${url} is empty`);
  });

  it('accepts any document type but HTML', async () => {
    const url = route('/type/notes.txt', serve('shopping list', { 'content-type': 'text/plain; charset=utf-8' }));
    const media = await fetchMedia(url, { type: 'document', ...open });
    expect([media.mimetype, media.fileName, media.bytes.toString()]).toEqual(['text/plain', 'notes.txt', 'shopping list']);
  });
});

describe('file names and types', () => {
  const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 7)]);
  const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
  const webp = Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1'), Buffer.alloc(32)]);
  const zip = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(64)]);

  it.each<[string, string, Buffer, Record<string, string>, FetchMediaOptions['type'], string, string]>([
    ['sniffs JPEG, keeps the decoded path name', '/n/My%20Photo.JPG', jpeg, { 'content-type': 'application/octet-stream' }, 'image', 'image/jpeg', 'My Photo.JPG'],
    ['sniffs GIF without a Content-Type', '/n/anim', gif, {}, 'image', 'image/gif', 'anim.gif'],
    ['sniffs WebP', '/n/sticker.webp', webp, { 'content-type': 'binary/octet-stream' }, 'image', 'image/webp', 'sticker.webp'],
    ['sniffs MP4', '/n/clip', mp4(512), { 'content-type': 'application/octet-stream' }, 'video', 'video/mp4', 'clip.mp4'],
    ['sniffs PDF, defaults the name', '/n/', pdf(), { 'content-type': 'application/octet-stream' }, 'document', 'application/pdf', 'document.pdf'],
    ['types a zip by its extension', '/n/plan.docx', zip, { 'content-type': 'application/octet-stream' }, 'document', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'plan.docx'],
    ['drops Content-Type parameters', '/n/p.png', png(), { 'content-type': 'IMAGE/PNG; charset=binary' }, 'image', 'image/png', 'p.png'],
    [
      'prefers Content-Disposition filename*',
      '/n/download',
      pdf(),
      { 'content-type': 'application/pdf', 'content-disposition': `attachment; filename="fallback.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20final.pdf` },
      'document',
      'application/pdf',
      'Résumé final.pdf',
    ],
    ['reads a quoted filename', '/n/download2', pdf(), { 'content-type': 'application/pdf', 'content-disposition': 'attachment; filename="Q3 \\"final\\".pdf"' }, 'document', 'application/pdf', 'Q3 final.pdf'],
    [
      'strips paths and hidden-file dots',
      '/n/download3',
      pdf(),
      { 'content-type': 'application/pdf', 'content-disposition': 'attachment; filename="../../etc/.passwd"' },
      'document',
      'application/pdf',
      'passwd.pdf',
    ],
    ['falls back on a badly encoded path', '/n/%E0%A4%A', pdf(), { 'content-type': 'application/pdf' }, 'document', 'application/pdf', 'document.pdf'],
    ['sniffs MP3 by its ID3 tag', '/n/song', Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), { 'content-type': 'application/octet-stream' }, 'audio', 'audio/mpeg', 'song.mp3'],
    ['sniffs MP3 by its first frame', '/n/bare', Buffer.from([0xff, 0xfb, 0x90, 0x64, 0, 0]), {}, 'voice', 'audio/mpeg', 'bare.mp3'],
    ['sniffs AAC frames apart from MP3', '/n/raw', Buffer.from([0xff, 0xf1, 0x50, 0x80, 0, 0]), {}, 'audio', 'audio/aac', 'raw.aac'],
    ['sniffs WAV', '/n/memo', wav(0.01), { 'content-type': 'application/octet-stream' }, 'voice', 'audio/wav', 'memo.wav'],
    ['sniffs Ogg', '/n/note', Buffer.from('OggS\x00\x02', 'latin1'), {}, 'voice', 'audio/ogg', 'note.ogg'],
    ['types Ogg labelled application/ogg as audio', '/n/x', Buffer.from('OggS\x00\x02', 'latin1'), { 'content-type': 'application/ogg' }, 'audio', 'audio/ogg', 'x.ogg'],
    ['types MP3 labelled audio/mp3 as WhatsApp names it', '/n/y', Buffer.from('ID3\x04', 'latin1'), { 'content-type': 'audio/mp3' }, 'audio', 'audio/mpeg', 'y.mp3'],
    ['takes a WebP for a sticker', '/n/s', webp, {}, 'sticker', 'image/webp', 's.webp'],
  ])('%s', async (_name, path, body, headers, type, mimetype, fileName) => {
    const url = route(path, serve(body, headers));
    const media = await fetchMedia(url, { type, ...open });
    expect([media.mimetype, media.fileName]).toEqual([mimetype, fileName]);
    expect(media.bytes).toEqual(body);
  });
});
