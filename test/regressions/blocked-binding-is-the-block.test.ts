import { describe, expect, it } from 'vitest';
import { rateLimitHeaders } from '../../src/http/headers.js';
import { createLimiter } from '../../src/limiter.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { EPOCH, freshPrefix, useBackends } from './support.js';

// Issue 12 (7): a blocked decision's binding was the limit with the least room, a limit that said
// yes (`per-second` with 5 of 5 remaining), so the headers said "5 remaining" on a 429. The binding of
// a blocked decision is now the block itself: `blocked`, remaining 0, reset at the block's end.

describe('regression: a blocked decision is bound by the block', () => {
  const backends = useBackends();

  it('engine (memory): binding `blocked`, remaining 0, resetAt = blockedUntil, retry = the block left', async () => {
    const { store, clock } = backends.memory();
    const l = createLimiter({
      store,
      limits: [{ name: 'per-second', limit: 5, window: '1s', scope: 'key' }],
    });
    await l.block({ tenant: 't', key: 'k' }, '10s');
    clock?.advance(4000);
    const d = await l.limit({ tenant: 't', key: 'k' });
    expect([d.allowed, d.reason, d.blockedUntil]).toEqual([false, 'blocked', EPOCH + 10_000]);
    expect(d.binding).toEqual({
      name: 'blocked',
      id: 'blocked',
      algorithm: 'fixed-window',
      key: 'k',
      limit: 0,
      windowMs: 6000,
      allowed: false,
      remaining: 0,
      resetAt: EPOCH + 10_000,
      retryAfterMs: 6000,
    });
    expect([d.remaining, d.resetAt, d.retryAfterMs]).toEqual([0, EPOCH + 10_000, 6000]);
    // The limits themselves keep their own state: nothing was counted.
    expect(d.limits.map((x) => [x.name, x.remaining])).toEqual([['per-second', 5]]);
  });

  for (const name of ['memory', 'redis'] as const) {
    it(`policies (${name}): the block binds, bindingPolicy is absent, the headers say 0 until the block ends`, async () => {
      const backend = name === 'memory' ? backends.memory() : backends.redis();
      const limiter = await PolicyLimiter.create({
        config: {
          prefix: freshPrefix(),
          tiers: { free: { rps: 5, burst: 5 } },
        },
        store: backend.store,
        ...(backend.clock ? { clock: backend.clock.now } : {}),
      });
      try {
        await limiter.block({ tenant: 'acme', user: 'bob' }, '1m');
        const d = await limiter.check({ tenant: 'acme', user: 'bob' });
        expect([d.allowed, d.reason, d.binding.name, d.remaining, d.resetAt]).toEqual([
          false,
          'blocked',
          'blocked',
          0,
          d.blockedUntil,
        ]);
        expect(d.bindingPolicy).toBeUndefined();
        expect(d.retryAfterMs).toBe((d.blockedUntil as number) - d.at);
        const headers = rateLimitHeaders(d, d.at);
        expect(headers['x-ratelimit-remaining']).toBe('0');
        expect(headers['x-ratelimit-limit']).toBe('0');
        expect(headers['x-ratelimit-type']).toBe('blocked');
        expect(headers['x-ratelimit-reset']).toBe(String(Math.ceil((d.blockedUntil as number) / 1000)));
        expect(headers['retry-after']).toBe(String(Math.ceil(d.retryAfterMs / 1000)));
        // Another user of the tenant is not blocked: bound by the tier's bucket as before.
        const carol = await limiter.check({ tenant: 'acme', user: 'carol' });
        expect([carol.allowed, carol.binding.name, carol.bindingPolicy]).toEqual([true, 'tier.rps', 'tier']);
      } finally {
        await limiter.close();
      }
    });
  }
});
