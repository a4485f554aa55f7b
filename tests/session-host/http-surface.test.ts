// What the host's port shows to whoever reaches it (through a tunnel, the internet): the link's
// endpoints and /healthz without credentials, /metrics only with the host secret or
// METRICS_TOKEN, nothing else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../session-host/config.ts';
import type { Host } from '../../session-host/host.ts';
import { startTestHost, TEST_SECRET } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WaSim } from '../wa-sim/index.ts';

const METRICS_TOKEN = 'scraper-token-0123456789abcdef';

let sim: WaSim;
let host: Host;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  host = await startTestHost(sim, { env: { METRICS_TOKEN } });
});
afterAll(async () => {
  await host?.stop();
  await sim?.stop();
});

const get = (path: string, authorization?: string) => fetch(`${host.url}${path}`, { headers: authorization ? { authorization } : {} });

describe('/metrics', () => {
  it.each([
    ['no Authorization header', undefined, /Authorization: Bearer/],
    ['a wrong token', 'Bearer not-the-secret-0123456789', /not valid/],
    ['the secret with a different scheme', `Basic ${TEST_SECRET}`, /Bearer <token>/],
    ['a prefix of the secret', `Bearer ${TEST_SECRET.slice(0, -1)}`, /not valid/],
  ])('refuses %s with a 401 that says why', async (_, authorization, reason) => {
    const res = await get('/metrics', authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    const body = await res.text();
    expect(JSON.parse(body).error).toMatch(reason);
    expect(body).not.toContain('wa_');
  });

  it('answers the host secret and METRICS_TOKEN as Bearer tokens', async () => {
    const link = await LinkClient.connect(host.url, TEST_SECRET);
    try {
      for (const token of [TEST_SECRET, METRICS_TOKEN]) {
        const res = await get('/metrics', `Bearer ${token}`);
        expect(res.status).toBe(200);
        expect(await res.text()).toMatch(/^wa_link_connected 1$/m);
      }
    } finally {
      link.close();
    }
  });
});

it('answers /healthz and /link/challenge without credentials', async () => {
  expect((await get('/healthz')).status).toBe(200);
  const challenge = await get('/link/challenge');
  expect(challenge.status).toBe(200);
  expect(await challenge.json()).toHaveProperty('challenge');
});

it.each(['/', '/metrics/', '/admin', '/link', '/healthz/x', '/api/status'])('answers %s with a 404', async (path) => {
  const res = await get(path, `Bearer ${TEST_SECRET}`);
  expect(res.status).toBe(404);
});

it('refuses a METRICS_TOKEN shorter than 16 characters at start, naming the variable', () => {
  expect(() => loadConfig({ HOST_SECRET: TEST_SECRET, METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN: must be at least 16 characters/);
});
