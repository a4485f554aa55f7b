// Server-Timing: every response says how many D1 calls it made and how long they took, and how
// long the session host's Durable Object and the host itself took.
import { exports } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, newDevice } from './client.ts';
import { fakeHost } from './fake-host.ts';

let device: Awaited<ReturnType<typeof newDevice>>;
beforeAll(async () => {
  device = await newDevice('Timed');
});

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

async function timing(path: string, init: RequestInit = {}) {
  const res = await exports.default.fetch(`http://gateway.test${path}`, init);
  await res.arrayBuffer();
  const header = res.headers.get('server-timing') ?? '';
  const metric = (name: string) => new RegExp(`(?:^|, )${name};(?:desc="(\\d+) calls";)?dur=([\\d.]+)`).exec(header);
  const d1 = metric('d1');
  return { status: res.status, header, d1Calls: Number(d1?.[1]), d1Ms: Number(d1?.[2]), doMs: Number(metric('do')?.[2]), hostMs: Number(metric('host')?.[2]) };
}

describe('Server-Timing', () => {
  it('counts D1 calls: none for /healthz, some for a read of the contacts, and errors carry it too', async () => {
    expect(await timing('/healthz')).toMatchObject({ status: 200, d1Calls: 0, doMs: 0, hostMs: 0 });
    const contacts = await timing('/api/contacts', { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(contacts.status).toBe(200);
    expect(contacts.d1Calls).toBeGreaterThanOrEqual(1);
    expect(await timing('/no/such/route')).toMatchObject({ status: 404, d1Calls: 0 });
    expect((await timing('/api/contacts')).status).toBe(401);
  });

  it('times the Durable Object and the host on a send', async () => {
    host = fakeHost({ 'message.send': async (p) => ({ id: '3EB0TIMED', timestamp: 1779348348, to: p.to }) });
    const sent = await timing('/api/send-message', {
      method: 'POST',
      headers: { authorization: `Bearer ${device.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: '628123000111', message: 'timed' }),
    });
    expect(sent.status).toBe(200);
    expect(sent.header).toMatch(/^d1;desc="\d+ calls";dur=[\d.]+, do;desc="1 calls";dur=[\d.]+, host;dur=[\d.]+$/);
    expect(sent.doMs).toBeGreaterThanOrEqual(sent.hostMs);
  });
});
