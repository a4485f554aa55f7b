// QR codes are capped: a device nobody scans stops and says a new scan is needed, instead of
// asking WhatsApp for codes forever.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Host } from '../../session-host/host.ts';
import { startTestHost, TEST_SECRET } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let host: Host;
let link: LinkClient;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
  host = await startTestHost(sim, { baileys: { qrTimeout: 150 }, sessionOptions: { maxQrCodes: 3 } });
  link = await LinkClient.connect(host.url, TEST_SECRET);
});
afterAll(async () => {
  link.close();
  await host.stop();
  await sim.stop();
});

it('stops after the QR cap and reports that a new scan is needed; connecting again starts over', async () => {
  await link.request('device.upsert', { id: 'lonely' });
  const first = await link.request('device.connect', { id: 'lonely' });
  expect(first.status).toBe('QR');
  const stopped = await link.nextEvent('device.status', (d) => d.id === 'lonely' && d.status === 'DISCONNECTED');
  expect(stopped.reason).toMatch(/QR code not scanned/);
  const qrs = link.events.filter((e) => e.event === 'device.status' && (e.data as { status: string }).status === 'QR').map((e) => (e.data as { qr: string }).qr);
  expect(new Set(qrs).size).toBe(3);
  // It stays stopped: no new codes arrive.
  const count = link.events.length;
  await new Promise((resolve) => setTimeout(resolve, 600));
  expect(link.events.length).toBe(count);

  const again = await link.request('device.connect', { id: 'lonely' });
  expect(again.status).toBe('QR');
  await sim.scanQr(again.qr!);
  await link.nextEvent('device.status', (d) => d.id === 'lonely' && d.status === 'CONNECTED');
});
