/**
 * A Sluice RLS server for the gRPC load loop, as its own process: `tsx bench/lib/grpc-serve.ts
 * [--redis URL]` prints `{"port":N}` once listening, and stops on SIGTERM. Domain `bench`: per tenant
 * and per tenant+user limits of 10^9 per second (every call admitted: the admitting path is measured).
 */
import { parseArgs } from 'node:util';
import { createRateLimitService, parseEnvoyConfig, startGrpcServer } from '../../dist/envoy.js';
import { Limiter, MemoryStore, RedisStore } from '../../dist/index.js';

const { values } = parseArgs({
  options: { redis: { type: 'string' }, port: { type: 'string', default: '0' } },
});
const limit = { unit: 'second', requests_per_unit: 1_000_000_000 };
const rules = parseEnvoyConfig([
  {
    source: 'bench',
    document: {
      domain: 'bench',
      descriptors: [{ key: 'tenant', rate_limit: limit, descriptors: [{ key: 'user', rate_limit: limit }] }],
    },
  },
]);
const store = values.redis ? new RedisStore({ url: values.redis }) : new MemoryStore({ maxKeys: 10_000_000 });
if (store instanceof RedisStore) await store.ready();
const limiter = new Limiter({ store, prefix: 'sluice-bench-grpc' });
const server = await startGrpcServer({
  port: Number(values.port),
  service: createRateLimitService({ limiter, envoyConfig: rules }),
});
console.log(JSON.stringify({ port: server.port }));
process.on('SIGTERM', () => {
  void server
    .close(2000)
    .then(() => limiter.close())
    .then(() => process.exit(0));
});
