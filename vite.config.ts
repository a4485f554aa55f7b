import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The dashboard is built straight into the Worker's static assets folder (wrangler.toml).
export default defineConfig({
  root: fileURLToPath(new URL('./dashboard', import.meta.url)),
  build: {
    outDir: fileURLToPath(new URL('./edge/public', import.meta.url)),
    emptyOutDir: true,
  },
});
