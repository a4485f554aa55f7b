// The outbox's delivery loop under pressure, in the Workers runtime (the real HostLink, its SQLite
// storage and D1, a fake session host on the link): a cancel or reschedule racing a delivery, and
// many queued sends to several recipients going out in order per recipient. The outbox's cost at
// volume (time per delivery with 10,000 queued) is measured by `npm run bench` (outbox.ts there).
import { runDurableObjectAlarm } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_HOST_ID } from '../../edge/link/host-link.ts';
import type { SendParams } from '../../session-host/link/protocol.ts';
import { call, newDevice, until } from './client.ts';
import { fakeHost, HostFailure } from './fake-host.ts';

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
  vi.restoreAllMocks();
});

const link = () => env.HOST_LINK.getByName(DEFAULT_HOST_ID);
const queuedCount = () => link().queued(DEFAULT_HOST_ID);

/** A host that sends every message at once and keeps what it was asked to send, in order. */
function hostUp(fail?: (p: SendParams) => HostFailure | undefined) {
  const sent: SendParams[] = [];
  host = fakeHost({
    'webhook.status': () => ({ queued: true }),
    'message.send': (p) => {
      const failure = fail?.(p);
      if (failure) throw failure;
      sent.push(p);
      return { id: `WA${p.outboxId}`, timestamp: 1779348348, to: p.to };
    },
  });
  return sent;
}

/**
 * Holds every D1 read of a device's send pacing (the first D1 call a delivery makes) until
 * `release`; `reached` settles once one is being held. The Durable Object runs in this isolate,
 * so patching D1's prepared statements reaches its queries too.
 */
function holdPacingReads() {
  const proto = Object.getPrototypeOf(env.DB.prepare('SELECT 1')) as Record<string, (...args: unknown[]) => Promise<unknown>>;
  let reached!: () => void;
  let release!: () => void;
  const held = { reached: new Promise<void>((r) => (reached = r)), released: new Promise<void>((r) => (release = r)) };
  for (const method of ['first', 'run', 'all', 'raw']) {
    const original = proto[method]!;
    vi.spyOn(proto, method).mockImplementation(async function (this: { statement: string }, ...args: unknown[]) {
      if (/^select "send_interval_ms", "send_jitter_ms" from "devices"/i.test(this.statement)) {
        reached();
        await held.released;
      }
      return original.apply(this, args);
    });
  }
  return { reached: held.reached, release };
}

const reachedWithin = (reached: Promise<void>) => Promise.race([reached, new Promise((_, reject) => setTimeout(() => reject(new Error('no delivery reached its D1 read')), 10_000))]);

describe('a cancel racing a delivery', () => {
  it('never sends a message it answered cancelled: one already taken for delivery is 409, and goes out', async () => {
    // A new device: its pacing is not cached yet, so its first delivery reads it from D1.
    const device = await newDevice('Cancel race');
    const sent = hostUp();
    const gate = holdPacingReads();
    const schedule = Math.ceil(Date.now() / 1000) + 1;
    const queued = await call('POST', '/send', { key: device.apiKey, json: { target: '628330000001', message: 'raced', schedule } });
    const behind = await call('POST', '/send', { key: device.apiKey, json: { target: '628330000001', message: 'behind it', schedule } });
    const later = await call('POST', '/send', { key: device.apiKey, json: { target: '628330000001', message: 'moved', schedule } });
    const [id] = queued.body.id as string[];
    const [behindId] = behind.body.id as string[];
    const [laterId] = later.body.id as string[];

    // The delivery of "raced" has chosen it and awaits D1: now the cancel and the reschedule come in.
    await reachedWithin(gate.reached);
    const cancel = await call('DELETE', `/api/messages/${id}`, { key: device.apiKey });
    const reschedule = await call('PATCH', `/api/messages/${id}`, { key: device.apiKey, json: { schedule: schedule + 3600 } });
    // Messages waiting behind it are not taken: they can still be cancelled or moved.
    const cancelBehind = await call('DELETE', `/api/messages/${behindId}`, { key: device.apiKey });
    const moveLater = await call('PATCH', `/api/messages/${laterId}`, { key: device.apiKey, json: { schedule: schedule + 3600 } });
    gate.release();

    expect(cancel).toEqual({ status: 409, body: { error: 'Only a queued message can be cancelled; this one is being sent' } });
    expect(reschedule).toEqual({ status: 409, body: { error: 'Only a queued message can be rescheduled; this one is being sent' } });
    expect(cancelBehind).toMatchObject({ status: 200, body: { status: 'failed', error: 'cancelled' } });
    expect(moveLater).toMatchObject({ status: 200, body: { status: 'queued', scheduledAt: new Date((schedule + 3600) * 1000).toISOString() } });
    const row = await until(async () => {
      const { body } = await call('GET', `/api/messages/${id}`, { key: device.apiKey });
      return body.status === 'sent' && body;
    }, 'the raced message to be sent');
    expect(row).toMatchObject({ waMessageId: `WA${id}`, attempts: 1 });
    expect(sent.map((p) => p.text)).toEqual(['raced']);
    expect(await queuedCount()).toBe(1); // "moved", an hour out
    expect(await call('DELETE', `/api/messages/${laterId}`, { key: device.apiKey })).toMatchObject({ status: 200 });
  });

  it('cancels a message whose delivery has not chosen it yet, and the host never gets it', async () => {
    const device = await newDevice('Cancel first');
    const sent = hostUp();
    const gate = holdPacingReads();
    const schedule = Math.ceil(Date.now() / 1000) + 1;
    const first = await call('POST', '/send', { key: device.apiKey, json: { target: '628330000011', message: 'first', schedule } });
    const second = await call('POST', '/send', { key: device.apiKey, json: { target: '628330000011,628330000012', message: 'second', schedule } });
    await reachedWithin(gate.reached); // "first" is being delivered; both "second"s wait
    const [toSame, toOther] = second.body.id as string[];
    const cancels = await Promise.all([toSame, toOther].map((id) => call('DELETE', `/api/messages/${id}`, { key: device.apiKey })));
    gate.release();
    for (const cancelled of cancels) expect(cancelled).toMatchObject({ status: 200, body: { status: 'failed', error: 'cancelled' } });
    await until(async () => (await call('GET', `/api/messages/${first.body.id[0]}`, { key: device.apiKey })).body.status === 'sent', 'the first to be sent');
    // A third message to each recipient goes after the first: by then the cancelled ones would have gone.
    const third = await call('POST', '/send', { key: device.apiKey, json: { target: '628330000011,628330000012', message: 'third', schedule: Math.ceil(Date.now() / 1000) + 1 } });
    await until(() => sent.filter((p) => p.text === 'third').length === 2, 'the third messages');
    expect(sent.map((p) => p.text)).toEqual(['first', 'third', 'third']);
    expect(third.body.id).toHaveLength(2);
  });
});

describe('many queued sends', () => {
  it('go out in order per recipient, across devices, a retried head holding back only its own recipient', async () => {
    const devices = [await newDevice('Volume A'), await newDevice('Volume B')];
    const recipients = Array.from({ length: 5 }, (_, i) => `6284400000${String(i).padStart(2, '0')}`);
    const rounds = 12;
    const before = await queuedCount();
    // Host offline (the test config's HOST_URL is a closed port): everything is queued.
    for (let round = 0; round < rounds; round++) {
      for (const device of devices) {
        const queued = await call('POST', '/send', { key: device.apiKey, json: { target: recipients.join(','), message: `round ${round}` } });
        expect(queued).toMatchObject({ status: 200, body: { detail: 'success! message in queue' } });
      }
    }
    const total = rounds * recipients.length * devices.length;
    expect(await queuedCount()).toBe(before + total);

    // Device A's third message to the first recipient fails once, worth a retry: the recipient's
    // later messages wait for it, everyone else's go on.
    let failedAt = -1;
    const jidOf = (number: string) => `${number}@s.whatsapp.net`;
    const held = (p: SendParams) => p.deviceId === devices[0]!.id && p.to === jidOf(recipients[0]!);
    const sent: SendParams[] = hostUp((p) => {
      if (failedAt >= 0 || !held(p) || p.text !== 'round 2') return undefined;
      failedAt = sent.length;
      return new HostFailure('not_connected', 'Device is not connected');
    });
    await runDurableObjectAlarm(link()); // the re-dial delivers
    await until(() => sent.length === total, `all ${total} sends`, 20_000);

    for (const device of devices) {
      for (const recipient of recipients) {
        const texts = sent.filter((p) => p.deviceId === device.id && p.to === jidOf(recipient)).map((p) => p.text);
        expect(texts).toEqual(Array.from({ length: rounds }, (_, round) => `round ${round}`));
      }
    }
    // While the failed head waited for its retry, only its own recipient waited.
    const retried = sent.findIndex((p) => held(p) && p.text === 'round 2');
    expect(failedAt).toBeGreaterThanOrEqual(0);
    expect(sent.slice(failedAt, retried).some(held)).toBe(false);
    expect(sent.slice(failedAt, retried).length).toBeGreaterThan(0);
    expect(await queuedCount()).toBe(before);
  }, 30_000);
});
