import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Keep wrangler and Miniflare fully offline: no metrics, no request.cf lookup.
process.env.WRANGLER_SEND_METRICS ??= 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';

export default defineConfig({
  test: {
    // libsignal prints every session it opens or closes straight to the console.
    onConsoleLog: (log) => !/^(Closing|Opening|Removing) (open )?session/.test(log),
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations('./migrations'),
                ADMIN_KEY: 'test-admin-key',
                // A closed port: the session host is offline, and dialling it fails at once.
                HOST_URL: 'http://127.0.0.1:9',
                HOST_SECRET: 'test-host-secret-0123456789',
              },
            },
          }),
        ],
        test: {
          name: 'edge',
          include: ['tests/edge/**/*.test.ts'],
          setupFiles: ['tests/edge/apply-migrations.ts'],
        },
      },
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/edge/**'],
          pool: 'forks',
          // These tests drive real WhatsApp-protocol sessions against the simulator.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
