// The host's events in the HostLink, in the Workers runtime: events the host kept while the link
// was down arrive right behind its welcome; they are applied in order and acknowledged only once
// applied. End to end with the real host: tests/e2e/link-events.test.ts.
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_HOST_ID } from '../../edge/link/host-link.ts';
import { call, newDevice, until } from './client.ts';
import { fakeHost } from './fake-host.ts';

let host: ReturnType<typeof fakeHost> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const link = () => env.HOST_LINK.getByName(DEFAULT_HOST_ID);
const sendOk = { 'message.send': (p: { outboxId?: string; to: string }) => ({ id: `WA${p.outboxId}`, timestamp: 1779348348, to: p.to }) };

describe('events from the host', () => {
  it('applies the backlog sent behind the welcome in order, skips a malformed one, and acknowledges only after applying', async () => {
    const device = await newDevice('Receipts');
    host = fakeHost(sendOk);
    const sent = await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '628111000201', message: 'hello' } });
    expect(sent.status).toBe(200);
    const [logged] = (await call('GET', '/api/messages?limit=1', { key: device.apiKey })).body.messages;
    expect(logged).toMatchObject({ status: 'sent' });
    await host.stop();

    const status = (seq: number, s: string, timestamp: number) => ({
      seq,
      event: 'message.status',
      data: { deviceId: device.id, id: logged.waMessageId, outboxId: logged.id, to: '628111000201@s.whatsapp.net', status: s, timestamp },
    });
    host = fakeHost(sendOk, undefined, {
      backlog: [status(101, 'delivered', 1779348400), { seq: 102, event: 'message.status', data: { deviceId: device.id } }, status(103, 'read', 1779348500)],
    });
    expect(await link().linkState(DEFAULT_HOST_ID, true)).toMatchObject({ online: true });
    const acks = host.acks;
    await until(() => acks.includes(103), 'the ack of the last event');
    // Acknowledged means applied: the message log already shows both receipts.
    const { body } = await call('GET', `/api/messages/${logged.id}`, { key: device.apiKey });
    expect(body).toMatchObject({ status: 'read', deliveredAt: new Date(1779348400_000).toISOString(), readAt: new Date(1779348500_000).toISOString() });
    // Cumulative and in order: never an ack below one already sent.
    expect(acks).toEqual([...acks].sort((a, b) => a - b));
    expect(acks.every((seq) => [101, 102, 103].includes(seq))).toBe(true);
  });
});
