// The browser the dashboard tests drive: Debian's Chromium, headless, with nothing of its own
// running in the background (updates, sync, first-run pages) to slow it or reach the network.
import { type Browser, chromium } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
