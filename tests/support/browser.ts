// The browser the dashboard tests drive: Debian's Chromium, headless, with nothing of its own
// running in the background (updates, sync, first-run pages) to slow it or reach the network.
import { type Browser, chromium, type Page } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** A page as the dashboard tests use it: a 1280×900 desktop, and 15 s for any one step. */
export async function openPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15_000);
  return page;
}
