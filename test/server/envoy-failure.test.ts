import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Limiter, RedisStore } from '../../src/index.js';
import { createRateLimitService, handleEnvoyJson, loadEnvoyConfig } from '../../src/server/envoy/index.js';
import { FIXTURES } from './envoy-support.js';

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('a store that cannot decide: the failure mode answers', () => {
  it.each([
    ['closed', 429, 'OVER_LIMIT'],
    ['open', 200, 'OK'],
  ] as const)('failureMode %s: /json %i, %s', async (failureMode, statusCode, overallCode) => {
    const store = new RedisStore({ url: `redis://127.0.0.1:${await closedPort()}` });
    const limiter = new Limiter({ store, failureMode });
    try {
      const service = createRateLimitService({ limiter, envoyConfig: loadEnvoyConfig(FIXTURES) });
      const reply = await handleEnvoyJson(service, {
        domain: 'hourly',
        descriptors: [{ entries: [{ key: 'tenant', value: 'acme' }] }],
      });
      expect(reply.statusCode).toBe(statusCode);
      expect(reply.body.overallCode).toBe(overallCode);
      const headers = (reply.body.responseHeadersToAdd ?? []) as Array<{ key: string }>;
      // Nothing was counted: no quota headers, only Retry-After when refused.
      expect(headers.map((h) => h.key)).toEqual(failureMode === 'closed' ? ['retry-after'] : []);
    } finally {
      await limiter.close();
    }
  });
});
