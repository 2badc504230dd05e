import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Built into dist/console and served by `sluice serve` under /console: every asset from Sluice itself.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // No inline scripts or styles: the page's Content-Security-Policy allows only same-origin files.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
