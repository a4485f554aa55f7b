// Linking a real Baileys client to the simulator: QR, pairing code, and login with saved credentials.
import { Curve, DisconnectReason, proto } from '@whiskeysockets/baileys';
import { verify } from 'curve25519-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairedClient, TestClient } from '../support/baileys-client.ts';
import { WaSim } from './index.ts';

let sim: WaSim;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
});
afterAll(() => sim.stop());

describe('pairing', () => {
  it('links a client that shows a QR code once the phone scans it, then opens', async () => {
    const client = new TestClient(sim);
    const qr = await client.next<string>('qr');
    expect(qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#[^,]+,[^,]+,[^,]+,[^,]+,1$/);
    const opened = client.next('open');
    const linked = await sim.scanQr(qr, { phone: '15551230001', name: 'Alice Shop' });
    await opened;

    expect(linked.deviceJid).toBe('15551230001:1@s.whatsapp.net');
    expect(client.me).toMatchObject({ id: linked.deviceJid, lid: linked.lid, name: 'Alice Shop' });
    // The 515 "restart required" after pairing is part of the flow, then the new socket logs in.
    expect(client.closes.map((c) => c.statusCode)).toEqual([DisconnectReason.restartRequired]);
    // At first login the client uploads its one-time prekeys, so contacts can start sessions with it.
    expect(sim.prekeyCount(linked.deviceJid)).toBeGreaterThan(100);
    expect(sim.unhandled).toEqual([]);
    await client.close();
  });

  it('links a client by pairing code typed on the phone', async () => {
    const client = new TestClient(sim, { pairingPhone: '15551230002' });
    const code = await client.next<string>('pairing-code');
    expect(code).toMatch(/^[1-9A-HJ-NP-TV-Z]{8}$/);
    expect(await sim.waitForPairingCodeRequest('15551230002')).toBe('15551230002');
    const opened = client.next('open');
    const linked = await sim.enterPairingCode(code, '15551230002', 'Bob Store');
    await opened;
    expect(client.me?.id).toBe(linked.deviceJid);
    expect(linked.deviceJid).toMatch(/^15551230002:\d+@s\.whatsapp\.net$/);
    expect(sim.devices.find((d) => d.jid === linked.deviceJid)?.online).toBe(true);
    await client.close();
  });

  it('refuses a wrong pairing code', async () => {
    const client = new TestClient(sim, { pairingPhone: '15551230003' });
    await client.next<string>('pairing-code');
    await expect(sim.enterPairingCode('AAAAAAAA', '15551230003')).rejects.toThrow();
    expect(sim.devices.some((d) => d.phone === '15551230003')).toBe(false);
    await client.close();
  });

  it('logs in again with saved credentials and no QR code', async () => {
    const first = await pairedClient(sim);
    const jid = first.me!.id;
    await first.close();

    const again = new TestClient(sim, { auth: first.auth });
    await again.next('open');
    expect(again.qrs).toEqual([]);
    expect(again.me?.id).toBe(jid);
    expect(sim.devices.find((d) => d.jid === jid)?.online).toBe(true);
    await again.close();
  });

  it('refuses a login for a device the phone has unlinked, with 401', async () => {
    const client = await pairedClient(sim);
    const jid = client.me!.id;
    sim.disconnect(jid, 'loggedOut');
    await client.next('close', (c: { statusCode?: number }) => c.statusCode === DisconnectReason.loggedOut);

    const again = new TestClient(sim, { auth: client.auth });
    const closed = await again.next<{ statusCode?: number }>('close');
    expect(closed.statusCode).toBe(DisconnectReason.loggedOut);
  });

  it('signs its certificate chain for real, under its own root key', () => {
    const chain = proto.CertChain.decode(sim.identity.certChain);
    const intermediate = proto.CertChain.NoiseCertificate.Details.decode(chain.intermediate!.details!);
    const leaf = proto.CertChain.NoiseCertificate.Details.decode(chain.leaf!.details!);
    // A genuine verifier, since Baileys' own check accepts any well-formed signature in rc14.
    expect(verify(sim.identity.rootPublicKey, chain.intermediate!.details!, chain.intermediate!.signature!)).toBe(true);
    expect(verify(intermediate.key!, chain.leaf!.details!, chain.leaf!.signature!)).toBe(true);
    expect(Buffer.from(leaf.key!).equals(Buffer.from(sim.identity.staticKey.public))).toBe(true);
    const stranger = Curve.generateKeyPair();
    expect(verify(stranger.public, chain.intermediate!.details!, chain.intermediate!.signature!)).toBe(false);
    expect(intermediate.issuerSerial).toBe(0);
  });
});
