// Live events: GET /api/events as an API client opens it, with the real Worker (its EventHub
// holding the sockets), the real host and the simulator. A device key's socket gets its device's
// incoming messages, message statuses and device states as they happen, and nothing of another
// device; the admin key's gets them all; a browser's ticket opens one socket, once.
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, createLinkedDevice, startSimStack, until } from '../support/e2e.ts';
import type { Stack } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let shop: { id: string; apiKey: string; phone: string };
let other: { id: string; apiKey: string; phone: string };
const sockets: WebSocket[] = [];

beforeAll(async () => {
  ({ sim, stack } = await startSimStack('events', { sim: { autoReceipts: 'read' } }));
  shop = await createLinkedDevice(stack, sim, { name: 'Events shop' });
  other = await createLinkedDevice(stack, sim, { name: 'Events other' });
}, 180_000);

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await stack?.stop();
  await sim?.stop();
});

interface Frame {
  event: string;
  deviceId: string;
  data: Record<string, any>;
}

/** A client's event socket, with every frame it got; resolves once the hub said it is ready. */
async function listen(query: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; frames: Frame[]; next: (match: (f: Frame) => boolean, what: string) => Promise<Frame> }> {
  const ws = new WebSocket(`${stack.edgeUrl.replace(/^http/, 'ws')}/api/events${query}`, { headers });
  sockets.push(ws);
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  await until(() => frames.find((f) => f.event === 'ready'), 'the ready frame');
  return { ws, frames, next: (match, what) => until(() => frames.find(match), what, 30_000) };
}

/** What a refused upgrade answers. */
function refusal(query: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(`${stack.edgeUrl.replace(/^http/, 'ws')}/api/events${query}`, { headers });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('open', () => reject(new Error('the socket opened')));
  });
}

describe('GET /api/events', () => {
  it("streams a device key's own events as they happen, and nothing of another device", async () => {
    const mine = await listen('', { authorization: shop.apiKey });
    expect(mine.frames[0]).toMatchObject({ event: 'ready', audience: shop.id });

    // An incoming message, with the body its webhook gets.
    await sim.sendIncoming(other.phone, '6281234567901', 'for the other device');
    await sim.sendIncoming(shop.phone, '6281234567901', 'halo, live');
    const incoming = await mine.next((f) => f.event === 'message' && f.data.message === 'halo, live', 'the incoming message');
    expect(incoming).toMatchObject({ deviceId: shop.id, data: { event: 'message', sender: '6281234567901', device: shop.phone } });

    // A send's status changes: sent, then the delivery receipt (and the read).
    const sent = await callEdge(stack.edgeUrl, 'POST', '/api/send-message', { key: shop.apiKey, json: { to: '6281234567902', message: 'watch me' } });
    expect(sent.status).toBe(200);
    const id = sent.json.id as string;
    await mine.next((f) => f.event === 'status' && f.data.id === id && f.data.state === 'sent', 'the sent status');
    await mine.next((f) => f.event === 'status' && f.data.id === id && f.data.state === 'delivered', 'the delivery receipt');
    await mine.next((f) => f.event === 'status' && f.data.id === id && f.data.state === 'read', 'the read receipt');

    // The device's own state: disconnected, then connecting again (its QR-less reconnect).
    await callEdge(stack.edgeUrl, 'POST', `/api/devices/${shop.id}/disconnect`, { key: `Bearer ${stack.adminKey}` });
    await mine.next((f) => f.event === 'device' && f.data.status === 'DISCONNECTED', 'the device disconnected');
    await callEdge(stack.edgeUrl, 'POST', `/api/devices/${shop.id}/connect`, { key: `Bearer ${stack.adminKey}` });
    await mine.next((f) => f.event === 'device' && f.data.status === 'CONNECTED' && mine.frames.indexOf(f) > 0, 'the device connected again');

    // Of the other device: nothing, though its message came first.
    expect(mine.frames.filter((f) => f.event !== 'ready' && f.deviceId !== shop.id)).toEqual([]);
    expect(mine.frames.some((f) => f.data?.message === 'for the other device')).toBe(false);
  });

  it("gives the admin key every device's events", async () => {
    const admin = await listen('', { authorization: `Bearer ${stack.adminKey}` });
    await sim.sendIncoming(shop.phone, '6281234567903', 'to the shop');
    await sim.sendIncoming(other.phone, '6281234567903', 'to the other');
    await admin.next((f) => f.deviceId === shop.id && f.data.message === 'to the shop', "the shop's message");
    await admin.next((f) => f.deviceId === other.id && f.data.message === 'to the other', "the other device's message");
  });

  it('opens from a browser with a one-time ticket instead of a key in the URL', async () => {
    const asked = await callEdge(stack.edgeUrl, 'POST', '/api/events/ticket', { key: `Bearer ${other.apiKey}` });
    expect(asked.status).toBe(200);
    const { ticket } = asked.json as { ticket: string };
    const byTicket = await listen(`?ticket=${encodeURIComponent(ticket)}`);
    expect(byTicket.frames[0]).toMatchObject({ event: 'ready', audience: other.id });
    await sim.sendIncoming(other.phone, '6281234567904', 'over a ticket');
    await byTicket.next((f) => f.data?.message === 'over a ticket', 'the message over a ticket');

    expect(await refusal(`?ticket=${encodeURIComponent(ticket)}`)).toMatchObject({ status: 401, body: expect.stringContaining('already used') });
    expect(await refusal('?ticket=forged.0000')).toMatchObject({ status: 401 });
    expect(await refusal('')).toMatchObject({ status: 401 });
    expect(await refusal('', { authorization: 'wa_00000000000000000000000000000000' })).toMatchObject({ status: 401 });
    // Not an upgrade: said so, with the key right.
    const plain = await fetch(`${stack.edgeUrl}/api/events`, { headers: { authorization: shop.apiKey } });
    expect(plain.status).toBe(426);
  });
});
