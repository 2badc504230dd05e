import { defineConfig } from 'tsup';

const common = { sourcemap: true, target: 'node20', outDir: 'dist' } as const;

export default defineConfig([
  {
    ...common,
    entry: {
      index: 'src/index.ts',
      express: 'src/adapters/express.ts',
      fastify: 'src/adapters/fastify.ts',
      hono: 'src/adapters/hono.ts',
      metrics: 'src/observability/index.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    // The CLI's build (below) writes beside this one at the same time: its files are not this one's to clean.
    clean: ['!cli.js', '!cli.js.map', '!cli-chunks/**'],
    splitting: false,
  },
  {
    // The `sluice` command: ESM only, split so that `sluice serve` alone loads the service (Fastify,
    // gRPC) from its own chunk, and the other verbs work where those optional dependencies are absent.
    ...common,
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    dts: false,
    // Only its chunks (the other build's files are all at the top of dist/): stale hashes do not pile up.
    clean: ['!*.*'],
    splitting: true,
    esbuildOptions(options) {
      options.chunkNames = 'cli-chunks/[name]-[hash]';
    },
  },
]);
