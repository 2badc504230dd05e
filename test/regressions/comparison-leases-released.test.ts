import { describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { freshPrefix, useBackends } from './support.js';

// The migration aid (`compareWith`) decided every request on a second store too, and dropped the
// concurrency leases it took there: after `maxConcurrent` requests, released one by one, the second
// store reported every request rejected and every decision a disagreement. Its lease is now released
// with the enforced decision's (PolicyLimiter.release), and at once when it has no enforced lease.

describe('the comparison store releases its concurrency leases', () => {
  const backends = useBackends();

  it('released requests agree on both stores, request after request (redis, compared with memory)', async () => {
    const legacy = new MemoryStore();
    const events: Array<{ primary: boolean; secondary: boolean }> = [];
    const limiter = await PolicyLimiter.create({
      config: {
        prefix: freshPrefix(),
        tiers: { free: { rps: 1000, burst: 1000, maxConcurrent: 2 } },
        tierPolicy: { concurrency: true },
      },
      store: backends.redis().store,
      compareWith: legacy,
      onDisagreement: (e) => events.push({ primary: e.primary, secondary: e.secondary }),
    });
    try {
      for (let i = 0; i < 5; i++) {
        const d = await limiter.check({ tenant: 'acme' });
        expect([d.allowed, d.comparison]).toEqual([true, { allowed: true, agreed: true }]);
        await limiter.release(d.lease!);
      }
      const held = [await limiter.check({ tenant: 'acme' }), await limiter.check({ tenant: 'acme' })];
      const third = await limiter.check({ tenant: 'acme' });
      expect([third.allowed, third.comparison]).toEqual([false, { allowed: false, agreed: true }]);
      for (const d of held) await limiter.release(d.lease!);
      const next = await limiter.check({ tenant: 'acme' });
      expect([next.allowed, next.comparison]).toEqual([true, { allowed: true, agreed: true }]);
      await limiter.release(next.lease!);
      expect([limiter.disagreements, events]).toEqual([0, []]);
    } finally {
      await limiter.close();
    }
  });
});
