// No lost webhook, none twice: events queued while the receiver is down survive a SIGKILL of the
// host and reach the receiver exactly once when both are back; a SIGTERM (a service stop) lets a
// delivery in flight finish instead of cutting it, and a send in flight get WhatsApp's ack.
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { hostMetrics, spawnHost, TEST_SECRET, tempDir } from '../support/host.ts';
import { LinkClient } from '../support/link-client.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
beforeAll(async () => {
  sim = await WaSim.start({ log: () => {} });
});
afterAll(() => sim.stop());

const queueDepth = async (url: string) => Number((await hostMetrics(url)).match(/^wa_webhook_queue_depth (\d+)$/m)?.[1]);

it('delivers each event exactly once after the receiver was down and the host was killed', async () => {
  const receiver = await new WebhookReceiver().start();
  const dataDir = tempDir();
  let proc = await spawnHost(sim, { DATA_DIR: dataDir });
  const link = await LinkClient.connect(proc.url, TEST_SECRET);
  await link.request('device.upsert', { id: 'crashy', webhookUrl: receiver.url, webhookSecret: 'crash-test-secret-000001' });
  const { phone } = await sim.scanQr((await link.request('device.connect', { id: 'crashy' })).qr!);
  await link.nextEvent('device.status', (d) => d.id === 'crashy' && d.status === 'CONNECTED');
  await receiver.waitFor((r) => r.json.event === 'connection');

  await receiver.stop(); // down: connections refused from now on
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await sim.sendIncoming(phone, '6281300000001', `pesan ${i}`)).id);
  await expect.poll(() => queueDepth(proc.url), { timeout: 10_000 }).toBeGreaterThanOrEqual(5);

  link.close();
  proc.child.kill('SIGKILL');
  await new Promise((resolve) => proc.child.once('exit', resolve));

  await receiver.start(); // back, on the same port
  proc = await spawnHost(sim, { DATA_DIR: dataDir });
  for (const id of ids) await receiver.waitFor((r) => r.json.id === id, 30_000);
  await expect.poll(() => queueDepth(proc.url), { timeout: 10_000 }).toBe(0);
  const delivered = receiver.received.filter((r) => r.json.event === 'message').map((r) => r.json.id);
  expect(delivered).toEqual(ids); // each once, in order
  proc.child.kill('SIGTERM');
  await new Promise((resolve) => proc.child.once('exit', resolve));
  await receiver.stop();
});

it('lets a delivery in flight finish on SIGTERM, and does not send it again after the restart', async () => {
  const receiver = await new WebhookReceiver().start();
  const dataDir = tempDir();
  let proc = await spawnHost(sim, { DATA_DIR: dataDir });
  // A failed assertion must not leave a host running.
  onTestFinished(() => {
    if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    return receiver.stop();
  });
  let link = await LinkClient.connect(proc.url, TEST_SECRET);
  await link.request('device.upsert', { id: 'stopping', webhookUrl: receiver.url, webhookSecret: 'stop-test-secret-0000001' });
  const { phone } = await sim.scanQr((await link.request('device.connect', { id: 'stopping' })).qr!);
  await link.nextEvent('device.status', (d) => d.id === 'stopping' && d.status === 'CONNECTED');
  await receiver.waitFor((r) => r.json.event === 'connection');
  link.close();

  let answer!: () => void;
  receiver.hold = new Promise((resolve) => (answer = resolve));
  const { id } = await sim.sendIncoming(phone, '6281300000002', 'in flight at the stop');
  await receiver.waitFor((r) => r.json.id === id); // arrived, not answered yet
  const exited = new Promise((resolve) => proc.child.once('exit', (code) => resolve(code)));
  proc.child.kill('SIGTERM');
  await expect.poll(() => proc.output()).toMatch(/stopping/);
  expect(proc.child.exitCode).toBe(null); // still waiting for the receiver's answer
  answer();
  receiver.hold = undefined;
  expect(await exited).toBe(0);

  // Webhooks of one device go out in order: had the delivery been cut, it would come again before
  // the status of the reconnected device.
  const before = receiver.received.length;
  proc = await spawnHost(sim, { DATA_DIR: dataDir });
  link = await LinkClient.connect(proc.url, TEST_SECRET);
  await receiver.waitFor((r) => receiver.received.indexOf(r) >= before && r.json.event === 'connection', 30_000);
  expect(receiver.received.filter((r) => r.json.id === id)).toHaveLength(1);
  link.close();
  proc.child.kill('SIGTERM');
  await new Promise((resolve) => proc.child.once('exit', resolve));
  await receiver.stop();
});

it("lets a send in flight get WhatsApp's ack on SIGTERM, and refuses new requests meanwhile", async () => {
  const proc = await spawnHost(sim, { DATA_DIR: tempDir() });
  onTestFinished(() => {
    sim.holdAcks = undefined;
    if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
  });
  const link = await LinkClient.connect(proc.url, TEST_SECRET);
  await link.request('device.upsert', { id: 'sending' });
  await sim.scanQr((await link.request('device.connect', { id: 'sending' })).qr!);
  await link.nextEvent('device.status', (d) => d.id === 'sending' && d.status === 'CONNECTED');
  const customer = sim.addContact({ phone: '6281300000003' });

  let ack!: () => void;
  sim.holdAcks = new Promise((resolve) => (ack = resolve));
  const sending = link.request('message.send', { deviceId: 'sending', to: customer.jid, text: 'in flight at the stop' });
  await expect.poll(() => sim.outbox.some((m) => m.text === 'in flight at the stop')).toBe(true); // at WhatsApp, not acknowledged yet
  const exited = new Promise((resolve) => proc.child.once('exit', (code) => resolve(code)));
  proc.child.kill('SIGTERM');
  await expect.poll(() => proc.output()).toMatch(/waiting for requests in flight/);
  // Nothing new is started: refused for sure, so the edge sends it later, elsewhere or again.
  await expect(link.request('host.status', {})).rejects.toMatchObject({ code: 'host_offline', message: 'the session host is stopping' });
  expect(proc.child.exitCode).toBe(null);

  ack();
  const sent = await sending;
  expect(sent.id).toMatch(/^[0-9A-F]+$/);
  expect(await exited).toBe(0);
});
