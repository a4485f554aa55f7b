// The link's handshake: only an edge that proves the host secret gets a socket, and the host
// proves the secret back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Host } from '../../session-host/host.ts';
import { startTestHost, TEST_SECRET } from '../support/host.ts';
import { LinkClient, linkHeaders } from '../support/link-client.ts';
import { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let host: Host;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  host = await startTestHost(sim);
});
afterAll(async () => {
  await host.stop();
  await sim.stop();
});

/** Tries an upgrade with these headers; resolves with the HTTP status (101 when accepted). */
function upgradeStatus(headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(`${host.url.replace('http', 'ws')}/link`, { headers });
  return new Promise((resolve) => {
    ws.once('upgrade', () => (resolve(101), ws.close()));
    ws.once('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), ws.terminate()));
    ws.once('error', () => resolve(0));
  });
}

describe('link handshake', () => {
  it('accepts the right secret, and the host proves it holds the secret too', async () => {
    const link = await LinkClient.connect(host.url, TEST_SECRET);
    expect(await link.request('host.status', {})).toMatchObject({ devices: [] });
    link.close();
  });

  it('refuses a wrong secret', async () => {
    await expect(LinkClient.connect(host.url, 'not-the-host-secret-at-all')).rejects.toMatchObject({ status: 401 });
  });

  it('refuses a stale timestamp', async () => {
    expect(await upgradeStatus(linkHeaders(TEST_SECRET, { ts: String(Date.now() - 5 * 60_000) }))).toBe(401);
    expect(await upgradeStatus(linkHeaders(TEST_SECRET, { ts: String(Date.now() + 5 * 60_000) }))).toBe(401);
  });

  it('refuses a replayed nonce', async () => {
    const headers = linkHeaders(TEST_SECRET);
    expect(await upgradeStatus(headers)).toBe(101);
    expect(await upgradeStatus(headers)).toBe(401);
  });

  it('refuses missing or malformed proofs', async () => {
    expect(await upgradeStatus({})).toBe(401);
    expect(await upgradeStatus({ ...linkHeaders(TEST_SECRET), 'x-link-sig': 'zz' })).toBe(401);
  });

  it('answers an unknown method with a clear error and keeps the link up', async () => {
    const link = await LinkClient.connect(host.url, TEST_SECRET);
    await expect(link.request('no.such' as never, {} as never)).rejects.toMatchObject({ code: 'bad_request', message: 'unknown method no.such' });
    expect(await link.request('host.status', {})).toBeTruthy();
    link.close();
  });
});
