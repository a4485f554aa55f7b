// Exact outcomes end to end: the real Worker under `wrangler dev`, the real session host process
// and the WhatsApp simulator, which records every message a client sent. Each side is cut while a
// send is under way (the host SIGKILLed, the edge SIGKILLed and restarted on its state, the link
// dropped after the message went out but before the reply); a retry with the same
// Idempotency-Key then gets the real outcome and WhatsApp has the message exactly once.
//
// The edge reaches the host through a small TCP relay the test controls, so it can hold the
// host's replies back and then drop the link: the one way to lose a reply for certain.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, createLinkedDevice, untilConnected, type EdgeCall, sleep, startSimStack, until } from '../support/e2e.ts';
import { freePort, type Stack } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

/** Forwards the link both ways; `hold()` stops the host→edge direction, `cut()` drops the link. */
class LinkRelay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private holding = false;
  port = 0;
  private readonly target: () => number;

  constructor(target: () => number) {
    this.target = target;
  }

  async start(): Promise<this> {
    this.port = await freePort();
    this.server = createServer((edge) => {
      const host = connect(this.target(), '127.0.0.1');
      for (const s of [edge, host]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => edge.destroy());
      }
      edge.pipe(host);
      host.on('data', (d) => this.holding || edge.write(d));
      host.on('close', () => edge.destroy());
      edge.on('close', () => host.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    return this;
  }

  hold(): void {
    this.holding = true;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.holding = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server?.close(r));
  }
}

let sim: WaSim;
let stack: Stack;
let relay: LinkRelay;
let hostPort: number;
let device: { id: string; apiKey: string };

beforeAll(async () => {
  hostPort = await freePort();
  relay = await new LinkRelay(() => hostPort).start();
  ({ sim, stack } = await startSimStack('exactly-once', { stack: { hostPort, edgeVars: { HOST_URL: `http://127.0.0.1:${relay.port}` } } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await relay?.stop();
  await sim?.stop();
});

const call = (method: string, path: string, options?: EdgeCall) => callEdge(stack.edgeUrl, method, path, options);

/** Distinct WhatsApp ids of what the simulator received with this text: a resend under the same id is one message. */
const copies = (text: string) => new Set(sim.outbox.filter((m) => m.text === text).map((m) => m.id));
const logged = async (waId: string) => {
  const { json } = await call('GET', '/api/messages?limit=50', { key: device.apiKey });
  return (json.messages as { waMessageId: string | null; status: string }[]).filter((m) => m.waMessageId === waId);
};

const connected = () => untilConnected(stack, device.id);

/** Resolves once the host shows "typing…" to someone after `since` presences: the send is under way. */
const typingAfter = (since: number) => until(() => sim.presences.slice(since).some((p) => p.attrs.state === 'composing'), 'typing…');

describe('exact outcomes, end to end', () => {
  it('links a device', async () => {
    device = await createLinkedDevice(stack, sim, { name: 'Exactly once' });
  });

  it('never answers 503 for a send whose reply the dropped link lost, and a retry returns the send that went out', async () => {
    const key = { 'idempotency-key': 'reply-lost-1' };
    const body = { to: '6281400000001', message: 'reply lost' };
    relay.hold();
    const first = call('POST', '/api/send-message', { key: device.apiKey, json: body, headers: key });
    const out = await sim.waitForOutgoing((m) => m.text === 'reply lost', 15_000);
    relay.cut();
    const cut = await first;
    expect(cut.status).not.toBe(503);
    expect(cut).toMatchObject({ status: 504, json: { error: expect.stringContaining('did not answer in time') } });

    const retry = await call('POST', '/api/send-message', { key: device.apiKey, json: body, headers: key });
    expect(retry).toMatchObject({ status: 200, json: { success: true, id: out.id } });
    await sleep(500);
    expect([...copies('reply lost')]).toEqual([out.id]);
    expect(await logged(out.id)).toEqual([expect.objectContaining({ status: expect.stringMatching(/^(sent|delivered|read)$/) })]);
  });

  it('a send that timed out is logged as sent once the host’s event arrives, and a retry returns it without sending again', async () => {
    const key = { 'idempotency-key': 'timed-out-1' };
    const body = { to: '6281400000009', message: 'answer timed out' };
    relay.hold();
    const first = call('POST', '/api/send-message', { key: device.apiKey, json: body, headers: key });
    const out = await sim.waitForOutgoing((m) => m.text === 'answer timed out', 15_000);
    // The host's answer never gets through: the edge gives up at its deadline, outcome unknown.
    expect(await first).toMatchObject({ status: 504, json: { error: expect.stringContaining('did not answer in time') } });
    relay.cut();
    // The host's 'sent' event (journaled while its link was held) mends the log row on the next link.
    expect(await until(async () => (await logged(out.id)).find((m) => m.status === 'sent'), 'the log row to say sent')).toBeTruthy();

    const retry = await call('POST', '/api/send-message', { key: device.apiKey, json: body, headers: key });
    expect(retry).toMatchObject({ status: 200, json: { success: true, id: out.id } });
    await sleep(500);
    expect([...copies('answer timed out')]).toEqual([out.id]);
  }, 60_000);

  it('a retry after the host was SIGKILLed mid-send gets the real outcome and WhatsApp gets the message once', async () => {
    const key = { 'idempotency-key': 'host-killed-1' };
    const body = { target: '6281400000002', message: 'host killed mid-send', typing: true };
    const since = sim.presences.length;
    const first = call('POST', '/send', { key: device.apiKey, json: body, headers: key });
    await typingAfter(since);
    stack.host.kill('SIGKILL');
    const cut = await first;
    expect(cut.status).not.toBe(503);
    expect(cut).toMatchObject({ status: 504, json: { status: false } });

    await stack.restartHost();
    await connected();
    const retry = await call('POST', '/send', { key: device.apiKey, json: body, headers: key });
    expect(retry).toMatchObject({ status: 200, json: { status: true, target: ['6281400000002'] } });
    const [id] = retry.json.id as string[];
    await sleep(500);
    expect([...copies('host killed mid-send')]).toEqual([id]);
    expect(await call('POST', '/send', { key: device.apiKey, json: body, headers: key })).toEqual(retry);
    expect(await logged(id!)).toHaveLength(1);
  });

  it('a retry after the edge was SIGKILLed mid-send, and restarted on its state, gets the send that went out', async () => {
    const key = { 'idempotency-key': 'edge-killed-1' };
    const body = { target: '6281400000003', message: 'edge killed mid-send', typing: true };
    const since = sim.presences.length;
    const first = call('POST', '/send', { key: device.apiKey, json: body, headers: key }).catch((error: Error) => error);
    await typingAfter(since);
    await stack.killEdge();
    expect(await first).toBeInstanceOf(Error); // the connection died with the edge
    // The host carries on: the message goes out while the edge is down.
    const out = await sim.waitForOutgoing((m) => m.text === 'edge killed mid-send', 15_000);

    await stack.restartEdge();
    const retry = await call('POST', '/send', { key: device.apiKey, json: body, headers: key });
    expect(retry).toMatchObject({ status: 200, json: { status: true, id: [out.id], target: ['6281400000003'] } });
    await sleep(500);
    expect([...copies('edge killed mid-send')]).toEqual([out.id]);
    expect(await logged(out.id)).toEqual([expect.objectContaining({ status: expect.stringMatching(/^(sent|delivered|read)$/) })]);
  });
});
