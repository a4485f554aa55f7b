// The Messages view as an admin uses it: real Chromium on the built dashboard, served by the real
// Worker under `wrangler dev`, the real session host linked to the WhatsApp simulator, whose
// recipients' phones send delivery and read receipts. The tests run in order and share one stack.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../bin/stack.ts';
import { launchChromium, openPage } from '../support/browser.ts';
import { callEdge, createLinkedDevice, startSimStack } from '../support/e2e.ts';
import type { WaSim } from '../wa-sim/index.ts';

const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
const BUDI = '6281234567001';
const SARI = '6281234567002';

let sim: WaSim;
let stack: Stack;
let browser: Browser;
let page: Page;
let shop: { id: string; apiKey: string; phone: string };

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [{ sim, stack }, browser] = await Promise.all([startSimStack('messages-page', { sim: { autoReceipts: 'read' } }), launchChromium()]);
  shop = await createLinkedDevice(stack, sim, { name: 'Toko Utama' });
  page = await openPage(browser);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await sim?.stop();
});

// The page refreshes the log every 3 s.
const eventually = <T>(value: () => Promise<T> | T) => expect.poll(value, { timeout: 15_000 });
const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

const asShop = (method: string, path: string, json?: unknown) => callEdge(stack.edgeUrl, method, path, { key: shop.apiKey, json });
const asAdmin = (method: string, path: string) => callEdge(stack.edgeUrl, method, path, { key: `Bearer ${stack.adminKey}` });
/** The log's row of a message, by its WhatsApp id or log id. */
const logged = async (id: string) => (await asAdmin('GET', `/api/messages/${id}`)).json;

const log = () => page.locator('wa-messages section.card');
const row = (logId: string) => log().locator(`tbody tr[data-message-id="${logId}"]`);
const statusOf = (logId: string) => row(logId).getByTestId('message-status').textContent();
const shownIds = () =>
  log()
    .locator('tbody tr[data-message-id]')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-message-id')));

/** Plants a marker a reload would wipe, so a test can prove the page never reloaded. */
const markPage = () => page.evaluate("window.marker = 'still here'");
const pageMarker = () => page.evaluate<string | undefined>('window.marker');

/** A message to send later, through the outbox; its log id. */
async function scheduled(target: string, message: string): Promise<string> {
  const tomorrow = Math.floor(Date.now() / 1000) + 86_400;
  const { status, json } = await asShop('POST', '/send', { target, message, schedule: tomorrow });
  expect(status).toBe(200);
  return (json.id as string[])[0]!;
}

describe('the Messages view', () => {
  let budi: { waId: string; logId: string };

  it('shows a sent message moving to delivered and read, without reloading', async () => {
    await page.goto(stack.edgeUrl);
    await page.getByLabel('Admin key').fill(stack.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Messages' }).click();
    await eventually(() => log().textContent()).toContain('No messages yet');
    await markPage();

    // This recipient's phone answers when the test says so, so each step can be seen.
    sim.autoReceipts = 'none';
    const sent = await asShop('POST', '/api/send-message', { to: BUDI, message: 'Pesanan Anda sudah dikirim' });
    expect(sent.status).toBe(200);
    sim.autoReceipts = 'read';
    budi = { waId: sent.json.id, logId: (await logged(sent.json.id)).id };

    await eventually(() => statusOf(budi.logId)).toBe('sent');
    const text = (await row(budi.logId).textContent()) ?? '';
    for (const part of [BUDI, 'Toko Utama', 'text', 'Pesanan Anda sudah dikirim', 'Created', 'Sent']) expect(text).toContain(part);
    expect(await row(budi.logId).locator('td[data-label="Attempts"]').textContent()).toMatch(/\d/);
    await shot('messages-sent');

    sim.sendReceipt(budi.waId, 'delivery');
    await eventually(() => statusOf(budi.logId)).toBe('delivered');
    expect(await row(budi.logId).locator('[data-time="delivered"]').count()).toBe(1);
    sim.sendReceipt(budi.waId, 'read');
    await eventually(() => statusOf(budi.logId)).toBe('read');
    expect(await row(budi.logId).locator('[data-time="read"]').count()).toBe(1);
    expect(await logged(budi.logId)).toMatchObject({ status: 'read', deliveredAt: expect.any(String), readAt: expect.any(String) });

    // Another, whose recipient's phone receipts on its own, gets to read by itself.
    const other = await asShop('POST', '/api/send-message', { to: SARI, message: 'Promo minggu ini' });
    const sari = (await logged(other.json.id)).id;
    await eventually(() => statusOf(sari)).toBe('read');
    expect(await pageMarker()).toBe('still here');
    await shot('messages-read');
  });

  it('filters by recipient, written as a person writes it', async () => {
    const recipient = log().getByLabel('Recipient');
    await recipient.fill('0812-3456-7001');
    await eventually(shownIds).toEqual([budi.logId]);
    await recipient.fill('12');
    await eventually(() => log().getByRole('alert').textContent()).toContain('to: must be a phone number');
    await recipient.fill('');
    await eventually(async () => (await shownIds()).length).toBe(2);
  });

  it('cancels a scheduled message from its row, after asking', async () => {
    const logId = await scheduled('6281234567003', 'Pengingat pembayaran');
    await eventually(() => statusOf(logId)).toBe('queued');
    expect(await row(logId).locator('[data-time="scheduled"]').count()).toBe(1);

    await row(logId).getByRole('button', { name: 'Cancel the message to 6281234567003' }).click();
    const confirm = page.getByRole('dialog', { name: 'Cancel the message to 6281234567003?' });
    await confirm.getByRole('button', { name: 'Cancel', exact: true }).click(); // changed their mind
    expect(await logged(logId)).toMatchObject({ status: 'queued' });

    await row(logId).getByRole('button', { name: 'Cancel the message to 6281234567003' }).click();
    await confirm.getByRole('button', { name: 'Cancel message' }).click();
    await eventually(() => statusOf(logId)).toBe('cancelled');
    expect(await logged(logId)).toMatchObject({ status: 'failed', error: 'cancelled' });
    expect(await row(logId).getByRole('button').count()).toBe(0); // nothing left to do to it
    expect(sim.outbox.some((m) => m.text === 'Pengingat pembayaran')).toBe(false);
    await shot('messages-cancelled');

    // The status filter knows a cancel from a failure.
    await log().getByLabel('Status').selectOption('cancelled');
    await eventually(shownIds).toEqual([logId]);
    await log().getByLabel('Status').selectOption('');
  });

  it('reschedules a scheduled message from its row', async () => {
    const logId = await scheduled('6281234567004', 'Selamat ulang tahun');
    await eventually(() => statusOf(logId)).toBe('queued');
    const before = (await logged(logId)).scheduledAt as string;

    await row(logId).getByRole('button', { name: 'Reschedule the message to 6281234567004' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reschedule the message to 6281234567004?' });
    // Two days from now, to the minute, as the browser's clock and time zone read it.
    const value = await page.evaluate(() => {
      const at = new Date(Date.now() + 2 * 86_400_000);
      return new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    });
    const expected = await page.evaluate((v) => new Date(v).toISOString(), value);
    await dialog.getByLabel('Send at').fill(value);
    await dialog.getByRole('button', { name: 'Reschedule' }).click();

    await eventually(async () => (await logged(logId)).scheduledAt).toBe(expected);
    expect(expected).not.toBe(before);
    expect(await statusOf(logId)).toBe('queued');
    const shownAt = await page.evaluate((iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }), expected);
    await eventually(() => row(logId).locator('[data-time="scheduled"]').textContent()).toBe(shownAt);
    await shot('messages-rescheduled');
  });

  it('filters by date, and pages through the log', async () => {
    await log().getByLabel('From').fill('2000-01-01');
    await log().getByLabel('Until').fill('2000-01-31');
    await eventually(() => log().textContent()).toContain('No message matches these filters.');
    const today = await page.evaluate(() => new Date(Date.now() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 10));
    await log().getByLabel('Until').fill(today);
    await eventually(async () => (await shownIds()).length).toBe(4);
    expect(await log().getByRole('button', { name: 'Older' }).isDisabled()).toBe(true);

    // 26 more make 30: a page of 25, newest first, then the 5 oldest.
    const targets = Array.from({ length: 26 }, (_, i) => `62812345671${String(i).padStart(2, '0')}`);
    expect((await asShop('POST', '/send', { target: targets.join(','), message: 'Katalog baru', schedule: Math.floor(Date.now() / 1000) + 86_400 })).status).toBe(200);
    const all = ((await asAdmin('GET', '/api/messages?limit=200')).json.messages as { id: string }[]).map((m) => m.id);
    expect(all).toHaveLength(30);
    await eventually(shownIds).toEqual(all.slice(0, 25));
    await log().getByRole('button', { name: 'Older' }).click();
    await eventually(shownIds).toEqual(all.slice(25));
    expect(await log().getByRole('button', { name: 'Older' }).isDisabled()).toBe(true);
    await log().getByRole('button', { name: 'Newer' }).click();
    await eventually(shownIds).toEqual(all.slice(0, 25));
  });

  it("charts today's sent and received messages in the overview, per device", async () => {
    await sim.sendIncoming(shop.phone, BUDI, 'Terima kasih!');
    const sent = ((await asAdmin('GET', '/api/messages?limit=200')).json.messages as { sentAt: string | null }[]).filter((m) => m.sentAt).length;
    await page.goto(`${stack.edgeUrl}/#overview`);
    const chart = page.locator('wa-activity section.card');
    await eventually(() => chart.getByTestId('activity-totals').textContent()).toContain(`${sent} sent`);
    await eventually(() => chart.getByTestId('activity-totals').textContent()).toContain('1 received');
    const today = await page.evaluate(() => new Date(Date.now() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 10));
    expect(await chart.locator(`g[data-date="${today}"] title`).textContent()).toBe(`${today}: ${sent} sent, 1 received`);
    expect(await chart.locator('g[data-date]').count()).toBe(30);
    await chart.getByLabel('Device').selectOption({ label: 'Toko Utama' });
    await eventually(() => chart.getByTestId('activity-totals').textContent()).toContain(`${sent} sent`);
    await shot('activity-chart');
  });
});
