import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

// Checks the output of `npm run build`, which `npm test` runs first.
const publicDir = new URL('../edge/public/', import.meta.url);

describe('dashboard build', () => {
  it('emits an index.html that loads the bundled app, ready for phones and screen readers', () => {
    const html = readFileSync(new URL('index.html', publicDir), 'utf8');
    expect(html).toMatch(/<script type="module"[^>]* src="\/assets\/[^"]+\.js"/);
    expect(html).toContain('<wa-app></wa-app>');
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1" />');
  });

  it('keeps the dashboard JS within its budget of 60 KB gzipped', () => {
    const assets = new URL('assets/', publicDir);
    const js = readdirSync(assets).filter((name) => name.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    const gzipped = js.reduce((sum, name) => sum + gzipSync(readFileSync(new URL(name, assets))).length, 0);
    expect(gzipped).toBeLessThanOrEqual(60 * 1024);
  });
});
