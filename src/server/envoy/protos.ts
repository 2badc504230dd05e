import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The service's proto file, relative to the package's `proto/` directory. */
export const RLS_PROTO = 'envoy/service/ratelimit/v3/rls.proto';

/**
 * The package's `proto/` directory: the first `proto/` above this file that holds the service's
 * definitions (from `src/server/envoy/` in the repository, from `dist/` once built, ESM or CommonJS).
 */
export function protoDir(): string {
  let dir = hereDir();
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, RLS_PROTO))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(
    `sluice: cannot find proto/${RLS_PROTO} above ${hereDir()} (is the package's proto/ directory shipped?)`,
  );
}

function hereDir(): string {
  // CommonJS has __dirname; ESM has import.meta.url (left empty by the CommonJS build, never read there).
  if (typeof __dirname === 'string') return __dirname;
  return dirname(fileURLToPath(import.meta.url));
}

/** Options proto-loader decodes requests with: proto names, enums by name, 64-bit numbers as strings. */
const LOAD_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

/** The RateLimitService definition, loaded from Sluice's protos (`dir`: another copy of them). */
export function rateLimitServiceDefinition(dir = protoDir()): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(RLS_PROTO, { ...LOAD_OPTIONS, includeDirs: [dir] });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { ratelimit: { v3: { RateLimitService: grpc.ServiceClientConstructor } } } };
  };
  return loaded.envoy.service.ratelimit.v3.RateLimitService.service;
}
