import { describe, expect, it } from 'vitest';
import type { StoreError } from '../../src/core/errors.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { startRedis } from '../support/redis-servers.js';

// Issue 12 (3): with Redis unreachable, PolicyLimiter.create() resolved after its operator timeout and
// every request was then denied. It still starts (failure modes answer until the store comes back),
// but says so: onConfigError, the logger, and health `down` with the default failure mode `closed`.
// `requireStore: true` fails startup instead: create() rejects with a StoreError naming the cause.

async function deadUrl(): Promise<string> {
  const server = await startRedis();
  await server.stop(); // killed: nothing listens on its port any more
  return server.url;
}

describe('regression: a store unreachable at startup is reported, or fails startup when required', () => {
  it('by default create() resolves, reports it, health is down and requests are denied', async () => {
    const url = await deadUrl();
    const errors: Error[] = [];
    const warnings: Array<Record<string, unknown>> = [];
    const limiter = await PolicyLimiter.create({
      config: { prefix: 'dead', store: { type: 'redis', url }, tiers: { free: { rps: 5 } } },
      operatorTimeout: 300,
      onConfigError: (e) => errors.push(e),
      logger: { info: () => {}, warn: (o) => warnings.push(o) },
    });
    try {
      expect(errors.length).toBe(1);
      expect((errors[0] as StoreError).code).toBe('ERR_SLUICE_STORE_TIMEOUT');
      expect(errors[0]?.message).toContain('create (connecting)');
      expect(errors[0]?.message).toContain('started without the runtime overrides');
      expect(warnings.map((w) => w.event)).toEqual(['sluice.config_error']);
      const health = await limiter.health();
      expect([health.status, health.store.reachable, health.configError]).toEqual([
        'down',
        false,
        errors[0]?.message,
      ]);
      const d = await limiter.check({ tenant: 'acme' });
      expect([d.allowed, d.reason, d.path]).toEqual([false, 'store_unavailable', 'fail-closed']);
    } finally {
      await limiter.close();
    }
  });

  it('requireStore: create() rejects with a StoreError naming the cause', async () => {
    const url = await deadUrl();
    const errors: Error[] = [];
    let failure: StoreError | undefined;
    try {
      await PolicyLimiter.create({
        config: { prefix: 'dead', store: { type: 'redis', url } },
        operatorTimeout: 300,
        requireStore: true,
        onConfigError: (e) => errors.push(e),
      });
    } catch (error) {
      failure = error as StoreError;
    }
    expect([failure?.name, failure?.code, failure?.backend]).toEqual([
      'StoreError',
      'ERR_SLUICE_STORE_TIMEOUT',
      'redis',
    ]);
    expect(failure?.message).toBe(
      'redis store: create: the store could not be reached within the operator timeout (300 ms), and requireStore is set: redis store: create (connecting): no answer within the operator timeout (300 ms)',
    );
    expect((failure as StoreError).cause).toMatchObject({ code: 'ERR_SLUICE_STORE_TIMEOUT' });
    expect(errors).toEqual([]); // rejected, not reported as a running limiter's problem
  });

  it('requireStore with a reachable store starts as usual', async () => {
    const server = await startRedis();
    const limiter = await PolicyLimiter.create({
      config: { prefix: 'alive', store: { type: 'redis', url: server.url }, tiers: { free: { rps: 5 } } },
      requireStore: true,
    });
    try {
      const d = await limiter.check({ tenant: 'acme' });
      expect([d.allowed, d.reason, d.remaining]).toEqual([true, 'allowed', 9]);
    } finally {
      await limiter.close();
      await server.stop();
    }
  });
});
