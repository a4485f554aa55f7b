// Webhook deliveries in the dashboard, as issue #14 asks: a failing webhook receiver shows up with
// its status code, and a retry from the dashboard delivers once it is back. Real Chromium on the
// built dashboard, the real Worker under `wrangler dev`, a real session host with Baileys against
// the WhatsApp simulator, and a real receiver. The host's first retry is an hour away
// (WEBHOOK_RETRY_INITIAL_MS), so a delivery after the failure can only come from "Retry now".
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../bin/stack.ts';
import { launchChromium, openPage } from '../support/browser.ts';
import { callEdge, createLinkedDevice, startSimStack } from '../support/e2e.ts';
import { WebhookReceiver } from '../support/receiver.ts';
import type { WaSim } from '../wa-sim/index.ts';

const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');

let sim: WaSim;
let stack: Stack;
let browser: Browser;
let page: Page;
let receiver: WebhookReceiver;
let device: { id: string; apiKey: string; phone: string };
let other: { id: string; apiKey: string };

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  receiver = await new WebhookReceiver().start();
  [{ sim, stack }, browser] = await Promise.all([startSimStack('webhooks-view', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_RETRY_INITIAL_MS: '3600000' } } }), launchChromium()]);
  // Only incoming messages go to the receiver: a connection webhook failing first would hold them back.
  device = await createLinkedDevice(stack, sim, { name: 'Toko Webhook', webhookUrl: receiver.url, statusWebhookUrl: '', connectionWebhookUrl: '' });
  const created = await callEdge(stack.edgeUrl, 'POST', '/api/devices', { key: `Bearer ${stack.adminKey}`, json: { name: 'Another shop' } });
  other = { id: created.json.id, apiKey: created.json.apiKey };
  page = await openPage(browser);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await sim?.stop();
  await receiver?.stop();
});

const eventually = <T>(value: () => Promise<T> | T) => expect.poll(value, { timeout: 30_000, interval: 250 });
const view = () => page.locator('wa-webhook-deliveries section.card');
const row = (id: string) => view().locator(`tbody tr[data-delivery="${id}"]`);

describe('webhook deliveries', () => {
  let deliveryId = '';

  it('a failing webhook receiver shows up with its status code and a retry from the dashboard delivers once it is back', { timeout: 120_000 }, async () => {
    receiver.status = 500;
    const { id: messageId } = await sim.sendIncoming(device.phone, '6281234567802', 'Halo, masih buka?');

    // The host tried once and got the 500.
    await eventually(async () => {
      const { json } = await callEdge(stack.edgeUrl, 'GET', `/api/devices/${device.id}/webhooks?status=failed`, { key: `Bearer ${device.apiKey}` });
      return json.deliveries?.[0];
    }).toMatchObject({ event: 'message', status: 'failed', statusCode: 500, messageId });
    const { json } = await callEdge(stack.edgeUrl, 'GET', `/api/devices/${device.id}/webhooks`, { key: `Bearer ${stack.adminKey}` });
    deliveryId = json.deliveries[0].id;
    expect(json.deliveries[0].attempts).toBeGreaterThanOrEqual(1);
    expect(Date.parse(json.deliveries[0].nextAttemptAt)).toBeGreaterThan(Date.now() + 30 * 60_000);

    await page.goto(`${stack.edgeUrl}/#webhooks`);
    await page.getByLabel('Admin key').fill(stack.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await view().getByRole('heading', { name: 'Webhook Deliveries' }).waitFor();
    await view().getByLabel('Device').selectOption(device.id);

    const failing = row(deliveryId);
    await eventually(() => failing.getAttribute('data-status')).toBe('failed');
    expect(await failing.getByTestId('code').textContent()).toBe('500');
    expect(Number(await failing.getByTestId('attempts').textContent())).toBeGreaterThanOrEqual(1);
    expect(await failing.textContent()).toContain('answered HTTP 500');
    expect(await failing.textContent()).toMatch(/in (\d+ min|1 h)/);
    // Failures are red.
    expect(await failing.locator('td[data-label="Status"]').evaluate((td) => (globalThis as unknown as { getComputedStyle(element: unknown): { color: string } }).getComputedStyle(td).color)).toBe(
      'rgb(180, 35, 24)',
    );
    await view().screenshot({ path: join(ARTIFACTS, 'webhooks-failing.png') });
    expect(receiver.received).toHaveLength(0);

    // The receiver is back; one click delivers, without the hour's wait.
    receiver.status = 200;
    await failing.getByRole('button', { name: /Retry the message webhook/ }).click();
    const got = await receiver.waitFor((r) => r.headers['x-webhook-id'] === deliveryId);
    expect(got.json).toMatchObject({ id: messageId, message: 'Halo, masih buka?' });
    await eventually(() => failing.getAttribute('data-status')).toBe('delivered');
    expect(await failing.getByTestId('code').textContent()).toBe('200');
    expect(await failing.getByRole('button', { name: /Retry/ }).count()).toBe(0);
    await view().screenshot({ path: join(ARTIFACTS, 'webhooks-delivered.png') });
    expect(receiver.received).toHaveLength(1);
  });

  it('answers API clients with clear errors: another device, a bad filter, an unknown or delivered delivery', async () => {
    const path = `/api/devices/${device.id}/webhooks`;
    expect((await callEdge(stack.edgeUrl, 'GET', path, { key: `Bearer ${other.apiKey}` })).status).toBe(403);
    const badLimit = await callEdge(stack.edgeUrl, 'GET', `${path}?limit=5000`, { key: `Bearer ${stack.adminKey}` });
    expect(badLimit).toMatchObject({ status: 400, json: { error: expect.stringContaining('limit') } });
    const badStatus = await callEdge(stack.edgeUrl, 'GET', `${path}?status=lost`, { key: `Bearer ${stack.adminKey}` });
    expect(badStatus).toMatchObject({ status: 400, json: { error: expect.stringContaining('status') } });
    const unknown = await callEdge(stack.edgeUrl, 'POST', `${path}/no-such-delivery/retry`, { key: `Bearer ${device.apiKey}` });
    expect(unknown.status).toBe(404);
    const again = await callEdge(stack.edgeUrl, 'POST', `${path}/${deliveryId}/retry`, { key: `Bearer ${device.apiKey}` });
    expect(again).toMatchObject({ status: 400, json: { error: expect.stringContaining('delivered') } });
    expect((await callEdge(stack.edgeUrl, 'GET', '/api/devices/nope/webhooks', { key: `Bearer ${stack.adminKey}` })).status).toBe(404);
  });
});
