import type { D1Migration } from 'cloudflare:test';

// Bindings the test config adds on top of wrangler.toml's.
declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}
