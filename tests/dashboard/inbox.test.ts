// The Inbox as an admin uses it: real Chromium on the built dashboard, served by the real Worker
// under `wrangler dev`, a real session host with a device linked to the WhatsApp simulator. A
// contact writes; the message shows in the inbox; the admin replies to it from there, quoting it.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../bin/stack.ts';
import { launchChromium, openPage } from '../support/browser.ts';
import { createLinkedDevice, startSimStack } from '../support/e2e.ts';
import { png } from '../support/fixtures.ts';
import type { WaSim } from '../wa-sim/index.ts';

const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
const CONTACT = '6281277700021';

let sim: WaSim;
let stack: Stack;
let browser: Browser;
let page: Page;
let device: { id: string; phone: string };

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The simulator's media host listens on 127.0.0.1.
  [{ sim, stack }, browser] = await Promise.all([startSimStack('inbox', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }), launchChromium()]);
  device = await createLinkedDevice(stack, sim, { name: 'Toko Inbox' });
  page = await openPage(browser);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await sim?.stop();
});

// The inbox looks again every few seconds: wait for what it shows, never for a fixed time.
const eventually = <T>(value: () => Promise<T> | T) => expect.poll(value, { timeout: 30_000, interval: 250 });
const inbox = () => page.locator('wa-inbox');
const bubble = (id: string) => inbox().locator(`.bubble[data-id="${id}"]`);

describe('the inbox', () => {
  it('an incoming message appears in the inbox and a reply from there reaches the simulator quoting it', async () => {
    await page.goto(`${stack.edgeUrl}/#inbox`);
    await page.getByLabel('Admin key').fill(stack.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await inbox().getByRole('heading', { name: 'Inbox' }).waitFor();
    await eventually(() => inbox().locator('select[name=device] option').allTextContents()).toContainEqual(expect.stringContaining('Toko Inbox'));
    await inbox().locator('select[name=device]').selectOption(device.id);

    const { id: asked } = await sim.sendIncoming(device.phone, CONTACT, 'Halo, rak biru masih ada?');
    const chat = inbox().locator(`button.chat[data-chat="${CONTACT}"]`);
    await eventually(() => chat.textContent()).toContain('Halo, rak biru masih ada?');
    await chat.click();
    await eventually(() => bubble(asked).textContent()).toContain('Halo, rak biru masih ada?');

    await bubble(asked).getByRole('button', { name: 'Reply to this message' }).click();
    await eventually(() => inbox().getByLabel('Replying to').textContent()).toContain('Halo, rak biru masih ada?');
    await inbox().getByLabel('Message', { exact: true }).fill('Masih, kak. Mau berapa?');
    await inbox().getByRole('button', { name: 'Send', exact: true }).click();

    const out = await sim.waitForOutgoing((m) => m.message?.extendedTextMessage?.text === 'Masih, kak. Mau berapa?');
    const context = out.message?.extendedTextMessage?.contextInfo;
    expect(context).toMatchObject({ stanzaId: asked, participant: `${CONTACT}@s.whatsapp.net` });
    expect(context?.quotedMessage?.conversation ?? context?.quotedMessage?.extendedTextMessage?.text).toBe('Halo, rak biru masih ada?');
    // The reply joins the conversation as the device's own, with its tick, quoting nothing left over.
    await eventually(() => bubble(out.id).getAttribute('class')).toContain('out');
    await eventually(() => bubble(out.id).locator('.tick').getAttribute('aria-label')).toMatch(/^(Sent|Delivered|Read)$/);
    await expect(inbox().getByLabel('Replying to').count()).resolves.toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'inbox-reply.png') });
  });

  it('shows an image a contact sends inside the conversation', async () => {
    const image = png(120, 80, 11);
    const uploaded = sim.uploadMedia('image', image, { mimetype: 'image/png' });
    const { id } = await sim.sendIncoming(device.phone, CONTACT, { imageMessage: { ...uploaded, caption: 'yang ini' } });
    await eventually(() => bubble(id).textContent()).toContain('yang ini');
    // Fetched with the admin key from the media route and drawn: the picture's own size, not a broken image.
    const img = bubble(id).locator('img');
    await eventually(() =>
      img.evaluate((el) => {
        const drawn = el as unknown as { complete: boolean; naturalWidth: number };
        return drawn.complete && drawn.naturalWidth;
      }),
    ).toBe(120);
    expect(await img.getAttribute('src')).toMatch(/^blob:/);
    await page.screenshot({ path: join(ARTIFACTS, 'inbox-image.png') });

    // On a phone's width the inbox fits: no sideways scrolling.
    await page.setViewportSize({ width: 375, height: 800 });
    await eventually(() => page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await bubble(id).scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'inbox-375.png') });
  });
});
