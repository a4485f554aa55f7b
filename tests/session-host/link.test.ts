// The link's handshake: only an edge that proves the host secret over a challenge the host issued
// gets a socket, each challenge opens one link at most, and the host proves the secret back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Host } from '../../session-host/host.ts';
import { Challenges, LINK_HEADERS } from '../../session-host/link/protocol.ts';
import { freePort } from '../../bin/stack.ts';
import { startTestHost, TEST_SECRET, tempDir } from '../support/host.ts';
import { fetchChallenge, handshake, LinkClient } from '../support/link-client.ts';
import { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let host: Host;
let port: number;
const dataDir = tempDir();
const start = () => startTestHost(sim, { dataDir, env: { PORT: String(port) } });

beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  port = await freePort();
  host = await start();
});
afterAll(async () => {
  await host.stop();
  await sim.stop();
});

/** Tries an upgrade with these headers; resolves with the HTTP status (101 when accepted). */
function upgradeStatus(headers: Record<string, string>, url = host.url): Promise<number> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/link`, { headers });
  return new Promise((resolve) => {
    ws.once('upgrade', () => (resolve(101), ws.close()));
    ws.once('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), ws.terminate()));
    ws.once('error', () => resolve(0));
  });
}

const hex = (n: number) => 'ab'.repeat(n);

describe('link handshake', () => {
  it('hands out a fresh challenge each time, never cached', async () => {
    const res = await fetch(`${host.url}/link/challenge`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { challenge: string };
    expect(body).toEqual({ challenge: expect.stringMatching(/^[0-9a-f]{64}$/), expiresInMs: 10_000 });
    expect(await fetchChallenge(host.url)).not.toBe(body.challenge);
  });

  it('accepts the right secret over an issued challenge, and the host proves it holds the secret too', async () => {
    const link = await LinkClient.connect(host.url, TEST_SECRET);
    expect(await link.request('host.status', {})).toMatchObject({ devices: [] });
    link.close();
  });

  it('refuses a wrong secret, and that attempt uses the challenge up', async () => {
    const challenge = await fetchChallenge(host.url);
    await expect(LinkClient.connect(host.url, 'not-the-host-secret-at-all', await handshake(host.url, 'not-the-host-secret-at-all', challenge))).rejects.toMatchObject({ status: 401 });
    expect(await upgradeStatus((await handshake(host.url, TEST_SECRET, challenge)).headers)).toBe(401);
  });

  it('refuses a proof over a challenge the host never issued', async () => {
    expect(await upgradeStatus((await handshake(host.url, TEST_SECRET, hex(32))).headers)).toBe(401);
  });

  it('refuses a captured handshake replayed in the same process', async () => {
    const captured = await handshake(host.url, TEST_SECRET);
    expect(await upgradeStatus(captured.headers)).toBe(101);
    expect(await upgradeStatus(captured.headers)).toBe(401);
  });

  it('refuses a captured handshake replayed after the host restarts, on the same store and port', async () => {
    const captured = await handshake(host.url, TEST_SECRET);
    const unused = await handshake(host.url, TEST_SECRET);
    expect(await upgradeStatus(captured.headers)).toBe(101);
    await host.stop();
    host = await start();
    expect(host.url).toBe(`http://127.0.0.1:${port}`);
    // Neither the used nor the never-used proof opens a link on the new process.
    expect(await upgradeStatus(captured.headers)).toBe(401);
    expect(await upgradeStatus(unused.headers)).toBe(401);
    const link = await LinkClient.connect(host.url, TEST_SECRET);
    expect(await link.request('host.status', {})).toBeTruthy();
    link.close();
  });

  it('refuses an expired challenge', async () => {
    const shortLived = await startTestHost(sim, { linkChallenges: { ttlMs: 300 } });
    try {
      const proof = await handshake(shortLived.url, TEST_SECRET);
      await new Promise((resolve) => setTimeout(resolve, 400)); // the challenge's lifetime, passing
      expect(await upgradeStatus(proof.headers, shortLived.url)).toBe(401);
      expect(await upgradeStatus((await handshake(shortLived.url, TEST_SECRET)).headers, shortLived.url)).toBe(101);
    } finally {
      await shortLived.stop();
    }
  });

  it('refuses missing or malformed proofs', async () => {
    expect(await upgradeStatus({})).toBe(401);
    const { headers } = await handshake(host.url, TEST_SECRET);
    expect(await upgradeStatus({ ...headers, [LINK_HEADERS.signature]: 'zz' })).toBe(401);
    expect(await upgradeStatus({ ...headers, [LINK_HEADERS.challenge]: 'not-hex' })).toBe(401);
  });

  it('answers an unknown method with a clear error and keeps the link up', async () => {
    const link = await LinkClient.connect(host.url, TEST_SECRET);
    await expect(link.request('no.such' as never, {} as never)).rejects.toMatchObject({ code: 'bad_request', message: 'unknown method no.such' });
    expect(await link.request('host.status', {})).toBeTruthy();
    link.close();
  });
});

describe('outstanding challenges', () => {
  it('expire, are single-use, and stay under the cap by forgetting the oldest', () => {
    let now = 1_000;
    const book = new Challenges({ ttlMs: 100, max: 3, now: () => now });
    const [a, b, c] = [book.issue(), book.issue(), book.issue()].map((r) => r.challenge);
    expect(book.take(a!)).toBe('ok');
    expect(book.take(a!)).toBe('unknown');
    const d = book.issue().challenge;
    const e = book.issue().challenge; // full (b, c, d): b goes
    expect(book.size).toBe(3);
    expect(book.take(b!)).toBe('unknown');
    expect(book.take(c!)).toBe('ok');
    now += 100;
    expect(book.take(d)).toBe('expired');
    book.issue(); // sweeps the expired ones
    expect(book.size).toBe(1);
    expect(book.take(e)).toBe('unknown');
  });
});
