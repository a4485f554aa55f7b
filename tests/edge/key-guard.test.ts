// Key guessing is slowed: wrong keys from one client address are counted (a KeyGuard Durable
// Object per address), and past the allowance answered 429 with Retry-After. A right key is
// never counted and never held back.
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { KEY_GUESS_BURST, KEY_GUESS_REFILL_MS } from '../../edge/key-guard.ts';
import { ADMIN_KEY, newDevice } from './client.ts';

async function from(ip: string, key: string | undefined, path = '/api/status', json?: unknown) {
  const headers: Record<string, string> = { 'cf-connecting-ip': ip, 'content-type': 'application/json' };
  if (key !== undefined) headers.authorization = key;
  const res = await exports.default.fetch(`http://gateway.test${path}`, { method: json ? 'POST' : 'GET', headers, body: json === undefined ? undefined : JSON.stringify(json) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
}

const wrongKey = (i: number) => `wa_${i.toString(16).padStart(32, '0')}`;

describe('wrong API keys', () => {
  it('are answered 429 with Retry-After once a client has got too many wrong, and a right key still goes straight through', async () => {
    const device = await newDevice('Guarded');
    const ip = '203.0.113.7';
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await from(ip, wrongKey(i))).status);
    const elapsed = Date.now() - started;
    const refused = statuses.filter((s) => s === 401).length;
    console.log(`200 wrong keys from one client: ${refused} answered 401, ${200 - refused} answered 429, in ${elapsed} ms`);
    expect(new Set(statuses)).toEqual(new Set([401, 429]));
    expect(statuses.slice(0, KEY_GUESS_BURST)).toEqual(Array(KEY_GUESS_BURST).fill(401));
    // Past the allowance, only what refilled while the loop ran (one per KEY_GUESS_REFILL_MS).
    expect(refused).toBeLessThanOrEqual(KEY_GUESS_BURST + Math.ceil(elapsed / KEY_GUESS_REFILL_MS));

    const limited = await from(ip, wrongKey(999));
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: expect.stringMatching(/^Too many wrong API keys: try again in \d+ s$/) });
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(Math.ceil(KEY_GUESS_REFILL_MS / 1000));
    // Fonnte's route answers in its own shape.
    expect(await from(ip, wrongKey(1000), '/send', { target: '628123456789', message: 'hi' })).toMatchObject({
      status: 429,
      body: { status: false, reason: expect.stringMatching(/^Too many wrong API keys/) },
    });

    // The right key, from the very client that is being held back: answered at once, every time.
    for (let i = 0; i < 5; i++) expect((await from(ip, device.apiKey)).status).toBe(200);
    expect((await from(ip, `Bearer ${ADMIN_KEY}`)).status).toBe(200);

    // Another client is not held back by this one.
    expect((await from('198.51.100.20', wrongKey(1))).status).toBe(401);

    // Waiting as told lets one more try through.
    await new Promise((r) => setTimeout(r, Number(limited.retryAfter) * 1000));
    expect((await from(ip, wrongKey(1001))).status).toBe(401);
    expect((await from(ip, wrongKey(1002))).status).toBe(429);
  }, 30_000);

  it('count against the admin key as well, and a missing key is no guess', async () => {
    const ip = '203.0.113.8';
    for (let i = 0; i < KEY_GUESS_BURST + 5; i++) expect((await from(ip, undefined, '/api/devices')).status).toBe(401);
    for (let i = 0; i < KEY_GUESS_BURST; i++) expect((await from(ip, `Bearer admin-guess-${i}`, '/api/devices')).status).toBe(401);
    expect(await from(ip, 'Bearer admin-guess-last', '/api/devices')).toMatchObject({ status: 429, retryAfter: expect.stringMatching(/^\d+$/) });
    expect((await from(ip, `Bearer ${ADMIN_KEY}`, '/api/devices')).status).toBe(200);
  });

  it('are counted per /64 for IPv6 clients', async () => {
    for (let i = 0; i < KEY_GUESS_BURST; i++) expect((await from(`2001:db8:1:2::${(i + 1).toString(16)}`, wrongKey(i))).status).toBe(401);
    expect((await from('2001:0db8:0001:0002:ffff::1', wrongKey(99))).status).toBe(429);
    expect((await from('2001:db8:1:3::1', wrongKey(99))).status).toBe(401);
  });
});
