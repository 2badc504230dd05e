import { describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { freshPrefix, useBackends } from './support.js';

// When a tenant-wide limit (the tier's bucket) rejected a request, the requesting user was charged a
// violation: with `block: { after: 1 }` an innocent user was blocked for 15 minutes because others had
// drained the tenant's bucket. Only limits that count an identity (their key is that user, that IP,
// or that identity on an endpoint) make violations of it.

describe('reputation charges only the identity a rejecting limit counts', () => {
  const backends = useBackends();

  for (const name of ['memory', 'redis'] as const) {
    it(`a rejection by the tenant's tier bucket charges nobody; a per-user one charges that user (${name})`, async () => {
      const backend = name === 'memory' ? backends.memory() : backends.redis();
      const limiter = await PolicyLimiter.create({
        config: {
          prefix: freshPrefix(),
          tiers: { free: { rps: 1, burst: 3 } },
          reputation: { decay: '24h', cacheTtl: '1ms', block: { after: 1, duration: '15m' } },
          policies: [
            { name: 'per-user', scope: 'user', additive: true, limits: [{ limit: 2, window: '1h' }] },
          ],
        },
        store: backend.store,
        ...(backend.clock ? { clock: backend.clock.now } : {}),
      });
      try {
        // Two users drain the tenant's bucket of 3.
        expect((await limiter.check({ tenant: 'acme', user: 'mallory' })).allowed).toBe(true);
        expect((await limiter.check({ tenant: 'acme', user: 'mallory' })).allowed).toBe(true);
        expect((await limiter.check({ tenant: 'acme', user: 'carol' })).allowed).toBe(true);
        const bob = await limiter.check({ tenant: 'acme', user: 'bob' });
        expect([bob.allowed, bob.reason, bob.bindingPolicy, bob.violations]).toEqual([
          false,
          'rate_limited',
          'tier',
          0,
        ]);
        // Bob is not blocked: rejected again by the same bucket, not by a block.
        const again = await limiter.check({ tenant: 'acme', user: 'bob' });
        expect([again.reason, again.violations]).toEqual(['rate_limited', 0]);

        // Mallory's third request is over her own limit (and the bucket): that is her violation.
        const mallory = await limiter.check({ tenant: 'acme', user: 'mallory' });
        expect([mallory.allowed, mallory.reason, mallory.violations]).toEqual([false, 'rate_limited', 1]);
        expect((await limiter.check({ tenant: 'acme', user: 'mallory' })).reason).toBe('blocked');
      } finally {
        await limiter.close();
      }
    });
  }
});
