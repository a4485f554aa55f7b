import { defineConfig } from 'drizzle-kit';

// Migrations land where wrangler.toml's migrations_dir points, so
// `wrangler d1 migrations apply DB` and the tests apply the same files.
export default defineConfig({
  dialect: 'sqlite',
  schema: './edge/db/schema.ts',
  out: './migrations',
});
