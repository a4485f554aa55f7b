// The dashboard on live events: real Chromium, the real Worker, host and simulator. With the event
// socket up, a device's status changes on the page without one more GET /api/status; with the
// socket refused, the page falls back to polling and still follows the device.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../bin/stack.ts';
import { launchChromium } from '../support/browser.ts';
import { callEdge, startSimStack, until } from '../support/e2e.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;
let browser: Browser;
let device: { id: string };

beforeAll(async () => {
  [{ sim, stack }, browser] = await Promise.all([startSimStack('live-dashboard'), launchChromium()]);
  device = (await callEdge(stack.edgeUrl, 'POST', '/api/devices', { key: `Bearer ${stack.adminKey}`, json: { name: 'Toko Live' } })).json as { id: string };
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await sim?.stop();
});

const eventually = <T>(value: () => Promise<T> | T) => expect.poll(value, { timeout: 30_000, interval: 100 });
const admin = () => `Bearer ${stack.adminKey}`;

/** A signed-in page, counting its GET /api/status calls; `before` runs before the page loads. */
async function signedInPage(before?: (page: Page) => Promise<unknown>): Promise<{ page: Page; statusCalls: () => number }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  let calls = 0;
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/api/status') calls++;
  });
  await before?.(page);
  await page.goto(stack.edgeUrl);
  await page.getByLabel('Admin key').fill(stack.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return { page, statusCalls: () => calls };
}

const rowStatus = (page: Page) => page.locator('wa-devices tbody tr', { hasText: 'Toko Live' }).textContent();

describe('the dashboard on live events', () => {
  it("updates a device's status as it changes, without polling", async () => {
    let ready!: Promise<unknown>;
    const { page, statusCalls } = await signedInPage(async (page) => {
      ready = page.waitForEvent('websocket', (socket) => socket.url().includes('/api/events?ticket=')).then((ws) => ws.waitForEvent('framereceived', (frame) => String(frame.payload).includes('"ready"')));
    });
    await ready;
    await eventually(() => rowStatus(page)).toContain('Disconnected');
    await page.waitForLoadState('networkidle');
    const before = statusCalls();

    const connected = await callEdge(stack.edgeUrl, 'POST', `/api/devices/${device.id}/connect`, { key: admin() });
    await eventually(() => rowStatus(page)).toContain('Waiting for scan');
    await sim.scanQr(connected.json.qr ?? (await until(async () => (await callEdge(stack.edgeUrl, 'GET', '/api/status', { key: admin() })).json.devices[0].qr, 'a QR code')), { name: 'Toko Live WA' });
    await eventually(() => rowStatus(page)).toContain('Connected');
    // Every change came over the socket: not one more status request.
    expect(statusCalls()).toBe(before);
    await page.close();
  });

  it('falls back to polling when the event socket cannot open', async () => {
    const { page, statusCalls } = await signedInPage((page) => page.route('**/api/events/ticket', (route) => route.abort()));
    await eventually(() => rowStatus(page)).toContain('Connected');
    const before = statusCalls();

    await callEdge(stack.edgeUrl, 'POST', `/api/devices/${device.id}/disconnect`, { key: admin() });
    await eventually(() => rowStatus(page)).toContain('Disconnected');
    expect(statusCalls()).toBeGreaterThan(before);
    await page.close();
  });
});
