import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    cli: 'src/cli.ts',
    express: 'src/adapters/express.ts',
    fastify: 'src/adapters/fastify.ts',
    hono: 'src/adapters/hono.ts',
    metrics: 'src/observability/index.ts',
    server: 'src/server/index.ts',
    envoy: 'src/server/envoy/index.ts',
    llm: 'src/llm/index.ts',
  },
  define: { __SLUICE_VERSION__: JSON.stringify(version) },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  // import.meta.url in the CommonJS build (the Envoy protos are found relative to the built file).
  shims: true,
  // The Envoy service's gRPC libraries are the user's to install (like the adapters' frameworks), never bundled.
  external: ['@grpc/grpc-js', '@grpc/proto-loader'],
  // src/server/envoy/protos.ts reads import.meta.url only in ESM (CommonJS has __dirname): not a problem.
  esbuildOptions(options) {
    options.logOverride = { 'empty-import-meta': 'silent' };
  },
});
