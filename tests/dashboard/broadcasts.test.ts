// The Broadcasts view as an admin uses it: real Chromium on the built dashboard, the real Worker
// under `wrangler dev`, the real session host and the WhatsApp simulator answering with delivery
// receipts. Compose for a contact group, see the preview, send, watch the progress, cancel.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../bin/stack.ts';
import { launchChromium, openPage } from '../support/browser.ts';
import { callEdge, createLinkedDevice, startSimStack } from '../support/e2e.ts';
import type { WaSim } from '../wa-sim/index.ts';

const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
const people = ['Ani', 'Budi', 'Citra', 'Dewi', 'Eko'];

let sim: WaSim;
let stack: Stack;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [{ sim, stack }, browser] = await Promise.all([startSimStack('broadcasts-ui', { sim: { autoReceipts: 'delivery' } }), launchChromium()]);
  page = await openPage(browser);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await sim?.stop();
});

const asAdmin = (method: string, path: string, json?: unknown) => callEdge(stack.edgeUrl, method, path, { key: `Bearer ${stack.adminKey}`, json });
const eventually = <T>(value: () => Promise<T> | T) => expect.poll(value, { timeout: 30_000, interval: 250 });
const section = () => page.locator('wa-broadcasts section.card');

describe('the Broadcasts view', () => {
  it('sends to a contact group with a preview, shows the progress reach 5 delivered, and cancels one', async () => {
    const device = await createLinkedDevice(stack, sim, { name: 'Toko Broadcast' });
    await asAdmin('PATCH', `/api/devices/${device.id}`, { sendIntervalMs: 200 });
    const group = (await asAdmin('POST', '/api/groups', { name: 'Pelanggan Setia' })).json;
    for (const [i, name] of people.entries()) await asAdmin('POST', '/api/contacts', { name, number: `62813200000${i + 1}`, groupId: group.id });

    await page.goto(`${stack.edgeUrl}/#broadcasts`);
    await page.getByLabel('Admin key').fill(stack.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Broadcasts' }).waitFor();

    const form = section();
    await form.getByLabel(/^Device/).selectOption({ label: 'Toko Broadcast' });
    await form.getByLabel(/^Contact group/).selectOption({ label: 'Pelanggan Setia' });
    await form.getByLabel(/^Message/).fill('Halo {name}, diskon 20%!');
    // The first contact of the group, by name, as the gateway sends them.
    await eventually(() => form.locator('[data-preview]').textContent()).toBe('Halo Ani, diskon 20%!');
    await form.getByRole('button', { name: 'Send broadcast' }).click();
    await eventually(() => form.getByRole('status').textContent()).toContain('Broadcast queued for 5 recipients.');
    const first = form.locator('tbody tr').first();
    await eventually(() => first.locator('[data-progress]').textContent()).toContain('5 delivered');
    await eventually(() => first.locator('.badge').textContent()).toBe('done');
    expect(
      sim.outbox
        .filter((m) => m.text?.endsWith('diskon 20%!'))
        .map((m) => m.text)
        .sort(),
    ).toEqual(people.map((name) => `Halo ${name}, diskon 20%!`));
    await page.screenshot({ path: join(ARTIFACTS, 'broadcasts-done.png') });

    // A slow one, cancelled after its first message.
    await form.getByLabel(/^Message/).fill('Besok {name}');
    await form.getByLabel(/^Delay/).fill('60');
    await form.getByRole('button', { name: 'Send broadcast' }).click();
    const slow = form.locator('tbody tr').first();
    await eventually(() => slow.locator('[data-progress]').textContent()).toContain('1 sent');
    await slow.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('dialog', { name: 'Cancel this broadcast?' }).getByRole('button', { name: 'Cancel broadcast' }).click();
    await eventually(() => slow.locator('[data-progress]').textContent()).toContain('4 cancelled');
    await eventually(() => slow.locator('.badge').textContent()).toBe('cancelled');
    await expect(slow.getByRole('button', { name: 'Cancel' }).count()).resolves.toBe(0);
    expect(sim.outbox.filter((m) => m.text?.startsWith('Besok '))).toHaveLength(1);
    await page.screenshot({ path: join(ARTIFACTS, 'broadcasts-cancelled.png') });
  });
});
