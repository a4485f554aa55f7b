// Exact outcomes at the edge, in the Workers runtime: a send cut by a dropped link is never a sure
// failure, and a retry under the same Idempotency-Key gets what really happened and never sends
// twice. The fake host keeps an outbox like the real one: an outbox id is sent once, and a repeat
// gets the first result (or joins the send still in flight).
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { devicesTable, messagesTable } from '../../edge/db/schema.ts';
import { CLAIM_TTL_MS } from '../../edge/link/claims.ts';
import { DEFAULT_HOST_ID, Projection } from '../../edge/link/projection.ts';
import type { DeviceState, SendParams, SendResult } from '../../session-host/link/protocol.ts';
import { call, newDevice, until } from './client.ts';
import { deviceState, fakeHost } from './fake-host.ts';

const db = drizzle(env.DB);
const link = () => env.HOST_LINK.getByName(DEFAULT_HOST_ID);
let device: Awaited<ReturnType<typeof newDevice>>;
beforeAll(async () => {
  device = await newDevice('Exactly once');
});

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
  vi.restoreAllMocks();
});

/** What WhatsApp got, and the host's outbox (outbox id → the send's result), across host restarts. */
const delivered: SendParams[] = [];
const outbox = new Map<string, Promise<SendResult>>();

/**
 * A host with the real one's outbox. `reply: 'never'` sends the message but never answers, as a
 * host whose reply is lost to a dropped link; a number answers after that many ms.
 */
function hostUp(reply: 'now' | 'never' | number = 'now') {
  const asked: SendParams[] = [];
  host = fakeHost({
    'webhook.status': () => ({ queued: true }),
    'message.send': (p) => {
      asked.push(p);
      let result = outbox.get(p.outboxId!);
      if (!result) {
        delivered.push(p);
        result = Promise.resolve({ id: `WA${p.outboxId}`, timestamp: 1779348348, to: p.to });
        outbox.set(p.outboxId!, result);
      }
      if (reply === 'never') return new Promise<never>(() => {});
      return typeof reply === 'number' ? new Promise((resolve) => setTimeout(() => resolve(result), reply)) : result;
    },
  });
  return asked;
}

const sentText = (text: string) => delivered.filter((p) => p.text === text);
const sendMessage = (json: unknown, key: string) => call('POST', '/api/send-message', { key: device.apiKey, json, headers: { 'idempotency-key': key } });
const fonnte = (json: unknown, key: string) => call('POST', '/send', { key: device.apiKey, json, headers: { 'idempotency-key': key } });
const logged = async (id: string) => (await call('GET', `/api/messages/${id}`, { key: device.apiKey })).body;

describe('a send cut by a dropped link', () => {
  it('is answered 504 (it may have gone out), logged as queued, and a retry with the key gets the real outcome without a second send', async () => {
    const asked = hostUp('never');
    const first = sendMessage({ to: '628700000001', message: 'cut once' }, 'cut-1');
    await until(() => sentText('cut once').length === 1, 'the host to send it');
    await host!.stop(); // the link drops after the message went out, before the reply
    host = undefined;
    expect(await first).toEqual({ status: 504, body: { error: 'Failed to send message: Session host did not answer in time (it may still carry the request out)' } });
    const outboxId = asked[0]!.outboxId!;
    expect(await logged(outboxId)).toMatchObject({ status: 'queued', error: expect.stringMatching(/^outcome unknown: the link to the session host dropped/), failedAt: null });

    const again = hostUp();
    const retry = await sendMessage({ to: '628700000001', message: 'cut once' }, 'cut-1');
    expect(retry).toEqual({ status: 200, body: { success: true, message: 'Message dispatched successfully', id: `WA${outboxId}`, to: '628700000001', timestamp: 1779348348 } });
    expect(again.map((p) => p.outboxId)).toEqual([outboxId]); // the same outbox id, so the host's first result
    expect(sentText('cut once')).toHaveLength(1);
    expect(await logged(outboxId)).toMatchObject({ status: 'sent', waMessageId: `WA${outboxId}`, error: null });
    // The success is kept: a third try is a replay and asks the host nothing.
    expect(await sendMessage({ to: '628700000001', message: 'cut once' }, 'cut-1')).toEqual(retry);
    expect(again).toHaveLength(1);
  });

  it('is queued under the same id when the retry finds the host offline, and then delivered once', async () => {
    hostUp('never');
    const first = fonnte({ target: '628700000002', message: 'cut, then queued' }, 'cut-2');
    await until(() => sentText('cut, then queued').length === 1, 'the host to send it');
    await host!.stop();
    host = undefined;
    const cut = await first;
    expect(cut).toMatchObject({ status: 504, body: { status: false, results: [{ target: '628700000002', status: false }] } });

    // The host is still away: the retry queues the message under the id it already had.
    const retry = await fonnte({ target: '628700000002', message: 'cut, then queued' }, 'cut-2');
    expect(retry).toMatchObject({ status: 200, body: { detail: 'success! message in queue', target: ['628700000002'] } });
    const [id] = retry.body.id as string[];
    expect(delivered.find((p) => p.text === 'cut, then queued')!.outboxId).toBe(id);
    expect(await link().queued(DEFAULT_HOST_ID)).toBe(1);
    expect(await fonnte({ target: '628700000002', message: 'cut, then queued' }, 'cut-2')).toEqual(retry);
    expect(await link().queued(DEFAULT_HOST_ID)).toBe(1);

    const asked = hostUp();
    await runDurableObjectAlarm(link()); // the re-dial delivers
    await until(async () => (await logged(id!)).status === 'sent', 'sent in the log');
    expect(asked.map((p) => p.outboxId)).toEqual([id]);
    expect(sentText('cut, then queued')).toHaveLength(1);
    expect(await logged(id!)).toMatchObject({ waMessageId: `WA${id}`, attempts: 1 });
    expect(await link().queued(DEFAULT_HOST_ID)).toBe(0);
  });

  it('stays queued in the outbox, with no attempt counted, and goes once when the link is back', async () => {
    const { body } = await call('POST', '/send', { key: device.apiKey, json: { target: '628700000003', message: 'outbox cut', schedule: Math.floor(Date.now() / 1000) + 1 } });
    const [id] = body.id as string[];
    hostUp('never');
    await runDurableObjectAlarm(link());
    await until(() => sentText('outbox cut').length === 1, 'the outbox to send it', 15_000);
    await host!.stop();
    host = undefined;
    expect(await link().queued(DEFAULT_HOST_ID)).toBe(1);
    expect(await logged(id!)).toMatchObject({ status: 'queued', attempts: 0, failedAt: null });

    const asked = hostUp();
    await runDurableObjectAlarm(link());
    await until(async () => (await logged(id!)).status === 'sent', 'sent in the log');
    expect(asked.map((p) => p.outboxId)).toEqual([id]);
    expect(sentText('outbox cut')).toHaveLength(1);
    expect(await logged(id!)).toMatchObject({ waMessageId: `WA${id}`, attempts: 1 });
  });
});

describe('Idempotency-Key', () => {
  it('gives twins running at once the one outcome and sends once', async () => {
    const asked = hostUp(300);
    const [a, b] = await Promise.all([
      fonnte({ target: '628700000011,628700000012', message: 'twins' }, 'twins-1'),
      new Promise((r) => setTimeout(r, 50)).then(() => fonnte({ target: '628700000011,628700000012', message: 'twins' }, 'twins-1')),
    ]);
    expect(a).toMatchObject({ status: 200, body: { status: true, detail: 'sent to 2 of 2 targets' } });
    expect(b).toEqual(a);
    expect(sentText('twins')).toHaveLength(2);
    expect(new Set(asked.map((p) => p.outboxId)).size).toBe(2);
  });

  it('refuses a key reused for a different request, and frees a key whose request was refused before sending', async () => {
    hostUp();
    expect((await fonnte({ target: '628700000021', message: 'first body' }, 'reuse-1')).status).toBe(200);
    expect(await fonnte({ target: '628700000021', message: 'another body' }, 'reuse-1')).toEqual({
      status: 422,
      body: { status: false, reason: 'Idempotency-Key: already used for a different request (the body differs)', requestid: expect.any(Number) },
    });
    expect(await fonnte({ target: 'not a number', message: 'fixed later' }, 'reuse-2')).toMatchObject({ status: 200, body: { status: false, reason: 'target invalid' } });
    expect(await fonnte({ target: '628700000022', message: 'fixed later' }, 'reuse-2')).toMatchObject({ status: 200, body: { status: true } });
    expect(sentText('first body')).toHaveLength(1);
    expect(sentText('another body')).toHaveLength(0);
  });

  it('keeps claims in the HostLink, sweeps expired ones a bounded batch at a time, and lets an expired key start afresh', async () => {
    const claims = <T>(work: (sql: SqlStorage) => T) => runInDurableObject(link(), (_instance, state) => work(state.storage.sql));
    const old = Date.now() - CLAIM_TTL_MS - 60_000;
    await claims((sql) => {
      for (let i = 0; i < 60; i++) sql.exec("INSERT INTO idempotency (key, fingerprint, since, status, body) VALUES (?, 'x', ?, 200, '{}')", `old ${i}`, old - i);
    });
    const expired = () => claims((sql) => sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM idempotency WHERE since < ?', Date.now() - CLAIM_TTL_MS).one().n);
    hostUp();
    await fonnte({ target: '628700000031', message: 'sweeper' }, 'sweep-1');
    expect(await expired()).toBe(10);
    // An expired answer is not replayed: the key is a new request.
    await claims((sql) => sql.exec('UPDATE idempotency SET since = ? WHERE key = ?', old, `${device.id} POST /send sweep-1`));
    expect((await fonnte({ target: '628700000031', message: 'sweeper' }, 'sweep-1')).status).toBe(200);
    expect(sentText('sweeper')).toHaveLength(2);
  });

  it('makes no D1 call for a keyed send, and replays its answer from the HostLink', async () => {
    hostUp();
    const keyed = async () => {
      const res = await exports.default.fetch('http://gateway.test/api/send-message', {
        method: 'POST',
        headers: { authorization: device.apiKey, 'content-type': 'application/json', 'idempotency-key': 'one-hop-1' },
        body: JSON.stringify({ to: '628700000051', message: 'keyed one hop' }),
      });
      return { status: res.status, replayed: res.headers.get('idempotent-replayed'), timing: res.headers.get('server-timing'), body: await res.json() };
    };
    const first = await keyed();
    expect(first).toMatchObject({ status: 200, replayed: null, body: { success: true } });
    expect(first.timing).toMatch(/^d1;desc="0 calls"/);
    const again = await until(async () => {
      const replay = await keyed();
      return replay.replayed === 'true' && replay;
    }, 'the answer kept');
    expect(again).toMatchObject({ status: 200, body: first.body });
    expect(again.timing).toMatch(/^d1;desc="0 calls";dur=[\d.]+, do;desc="1 calls"/);
    expect(sentText('keyed one hop')).toHaveLength(1);
  });

  it('logs one row per message however often it is retried', async () => {
    const asked = hostUp('never');
    const first = sendMessage({ to: '628700000041', message: 'one row' }, 'rows-1');
    await until(() => asked.length === 1, 'the send');
    await host!.stop();
    host = undefined;
    expect((await first).status).toBe(504);
    hostUp();
    for (let i = 0; i < 3; i++) expect((await sendMessage({ to: '628700000041', message: 'one row' }, 'rows-1')).status).toBe(200);
    const rows = await db.select().from(messagesTable).where(eq(messagesTable.preview, 'one row'));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: asked[0]!.outboxId, status: 'sent' });
  });
});

describe('the host sync', () => {
  it('applies a report of only devices deleted meanwhile without a D1 error', async () => {
    // The heartbeat and the device.status event apply what the host reports, unfiltered.
    const apply = (states: DeviceState[]) => new Projection(env.DB, DEFAULT_HOST_ID).applyStates(states);
    await expect(apply([deviceState('device_deleted_meanwhile')])).resolves.toBeUndefined();
    await apply([deviceState('device_deleted_meanwhile'), deviceState(device.id, { status: 'QR', qr: 'qr-code' })]);
    expect((await db.select().from(devicesTable).where(eq(devicesTable.id, device.id)))[0]).toMatchObject({ status: 'QR', qr: 'qr-code' });
  });
});
