// Faults on command reach Baileys as the status codes WhatsApp itself would cause.
import { DisconnectReason } from '@whiskeysockets/baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairedClient, TestClient } from '../support/baileys-client.ts';
import { WaSim } from './index.ts';

let sim: WaSim;
const logged: string[] = [];
beforeAll(async () => {
  sim = await WaSim.start({ log: (line) => logged.push(line) });
});
afterAll(() => sim.stop());

type Close = { statusCode?: number; message: string };

async function faultCloses(kind: Parameters<WaSim['disconnect']>[1], options = {}): Promise<Close> {
  const client = await pairedClient(sim, {}, options);
  const closed = client.next<Close>('close', undefined, 20_000);
  sim.disconnect(client.me!.id, kind);
  const close = await closed;
  await client.close();
  return close;
}

describe('faults', () => {
  it('conflict (another session replaced this one) reaches Baileys as 440', async () => {
    expect((await faultCloses('replaced')).statusCode).toBe(DisconnectReason.connectionReplaced);
  });

  it('a second login with the same credentials replaces the first with 440', async () => {
    const first = await pairedClient(sim);
    const replaced = first.next<Close>('close');
    const second = new TestClient(sim, { auth: first.auth });
    await second.next('open');
    expect((await replaced).statusCode).toBe(DisconnectReason.connectionReplaced);
    await second.close();
    await first.close();
  });

  it('device removed from the phone reaches Baileys as 401 and the device is gone', async () => {
    const client = await pairedClient(sim);
    const jid = client.me!.id;
    const closed = client.next<Close>('close');
    sim.disconnect(jid, 'loggedOut');
    expect((await closed).statusCode).toBe(DisconnectReason.loggedOut);
    expect(sim.devices.some((d) => d.jid === jid)).toBe(false);
  });

  it('a logout by the client unlinks it, so its credentials no longer log in', async () => {
    const client = await pairedClient(sim);
    const jid = client.me!.id;
    await client.sock.logout();
    await expect.poll(() => sim.devices.some((d) => d.jid === jid)).toBe(false);
    const again = new TestClient(sim, { auth: client.auth });
    expect((await again.next<Close>('close')).statusCode).toBe(DisconnectReason.loggedOut);
  });

  it('stream end and a plain close reach Baileys as 428', async () => {
    expect((await faultCloses('streamEnd')).statusCode).toBe(DisconnectReason.connectionClosed);
    expect((await faultCloses('close')).statusCode).toBe(DisconnectReason.connectionClosed);
  });

  it('a login failure carries its code', async () => {
    expect((await faultCloses('failure:403')).statusCode).toBe(DisconnectReason.forbidden);
  });

  it('restart required (515) makes the client reconnect and open again', async () => {
    const client = await pairedClient(sim);
    const reopened = client.next('open');
    sim.disconnect(client.me!.id, 'restart');
    await reopened;
    expect(client.closes.at(-1)?.statusCode).toBe(DisconnectReason.restartRequired);
    await client.close();
  });

  it('silence (no answer to pings) reaches Baileys as 408 connection lost', async () => {
    const close = await faultCloses('silence', { keepAliveIntervalMs: 500 });
    expect(close.statusCode).toBe(DisconnectReason.connectionLost);
  });

  it('answers an IQ it does not know with an error and logs it loudly', async () => {
    const client = await pairedClient(sim);
    await expect(client.sock.query({ tag: 'iq', attrs: { to: '@s.whatsapp.net', type: 'get', xmlns: 'sim:unknown' }, content: [{ tag: 'mystery', attrs: {} }] })).rejects.toThrow(/feature-not-implemented/);
    expect(sim.unhandled.some((n) => n.attrs.xmlns === 'sim:unknown')).toBe(true);
    expect(logged.some((line) => line.startsWith('UNHANDLED') && line.includes('sim:unknown'))).toBe(true);
    sim.unhandled.length = 0;
    await client.close();
  });

  it('fails the next IQ of a namespace on command', async () => {
    const client = await pairedClient(sim);
    sim.failNext('w:g2', 500, 'internal-server-error');
    await expect(client.sock.groupFetchAllParticipating()).rejects.toThrow(/internal-server-error/);
    await expect(client.sock.groupFetchAllParticipating()).resolves.toEqual({});
    await client.close();
  });
});
