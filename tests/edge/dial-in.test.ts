// Where hosts dial in, in the Workers runtime: which hosts may, what a refusal says, and what an
// accepted link costs the edge: no heartbeat alarm, and the host's keep-alive answered by the
// runtime without waking the HostLink. The whole handshake with a real host process is
// tests/e2e/dial-out.test.ts.
import { runInDurableObject } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { hostsTable } from '../../edge/db/schema.ts';
import { challengeReply, checkWelcome, dialHeaders, edgeLinkPaths, PING, PONG, requestFrame } from '../../session-host/link/protocol.ts';
import { until } from '../support/until.ts';
import { call } from './client.ts';

const SECRET = 'dial-in-test-secret-0123456789';

/** A host without a URL, as POST /api/hosts registers one for dial-in. */
async function dialInHost(): Promise<string> {
  const id = `host_dialin${Math.random().toString(16).slice(2, 8)}`;
  await drizzle(env.DB).insert(hostsTable).values({ id, name: 'Laptop', url: null, secret: SECRET });
  return id;
}

const upgrade = (id: string, headers: Record<string, string>) => exports.default.fetch(`http://gateway.test${edgeLinkPaths(id).socket}`, { headers: { upgrade: 'websocket', ...headers } });
const challengeOf = async (id: string) => challengeReply.parse(await (await exports.default.fetch(`http://gateway.test${edgeLinkPaths(id).challenge}`)).json()).challenge;

describe('GET /link/<host id>', () => {
  it('is a 404 for a host nobody registered, without waking a Durable Object for it', async () => {
    const res = await call('GET', '/link/host_nobody/challenge');
    expect(res.status).toBe(404);
    expect(res.body.error).toContain('No session host with id host_nobody');
  });

  it('refuses a dial-in for a host the edge dials through its URL (here the default host, HOST_URL)', async () => {
    const res = await call('GET', '/link/default/challenge');
    expect(res.status).toBe(409);
    expect(res.body.error).toContain('registered with a URL, so the edge dials it');
  });

  it('accepts a host that proves the secret, proves it back, and then sleeps: no heartbeat alarm, pings answered for it', async () => {
    const id = await dialInHost();
    const challenge = await challengeOf(id);
    const { headers, nonce } = await dialHeaders(SECRET, 'host', challenge);
    const res = await upgrade(id, headers);
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const frames: string[] = [];
    ws.addEventListener('message', (event) => {
      const text = String(event.data);
      frames.push(text);
      // Play the host: answer the sync the HostLink starts on every link.
      const request = text.startsWith('{') ? requestFrame.safeParse(JSON.parse(text)) : undefined;
      if (request?.success && request.data.method === 'host.status') ws.send(JSON.stringify({ id: request.data.id, ok: true, result: { publicUrl: null, devices: [], version: '9.9.9' } }));
    });
    ws.accept();
    const welcome = await until(() => frames[0], 'the welcome');
    expect(await checkWelcome(SECRET, 'edge', challenge, nonce, JSON.parse(welcome))).toBeTruthy();

    const stub = env.HOST_LINK.getByName(id);
    await until(async () => (await stub.linkState(id)).version === '9.9.9', 'the host status synced');
    expect(await stub.linkState(id)).toMatchObject({ online: true, via: 'host', version: '9.9.9', lastError: null, lastSeenAt: expect.any(Number) });
    await runInDurableObject(stub, async (_instance, state) => {
      expect(await state.storage.getAlarm()).toBeNull();
      const pair = state.getWebSocketAutoResponse();
      expect([pair?.request, pair?.response]).toEqual([PING, PONG]);
    });
    ws.send(PING);
    await until(() => frames.includes(PONG), 'the pong');

    // The same proof again is a replay: its challenge is spent.
    const replayed = await upgrade(id, headers);
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { error: string }).error).toContain('unknown challenge');
    ws.close(1000, 'done');
    await until(async () => !(await stub.linkState(id)).online, 'the link down');
    expect((await stub.linkState(id)).lastSeenAt).toEqual(expect.any(Number));
  });
});
