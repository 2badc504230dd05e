import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { createLimiter } from '../../src/limiter.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 10: a TAT far in the future (1 per 10 years and a large cost) made every later decision on
 * that key fail with Redis' "invalid expire time", while memory admitted. A bucket must now refill
 * within 10 years, so its state (and its key's TTL) never reaches further than any other state's.
 */
describe('regression: token bucket TTL cannot overflow', () => {
  const backends = useBackends();

  it('a bucket that would take longer than 10 years to refill is refused, naming the field', () => {
    const error = (() => {
      try {
        createLimiter({ limits: [{ algorithm: 'token-bucket', limit: 1, window: '3650d', burst: 1000 }] });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('limits[0].burst');
    expect((error as ValidationError).message).toMatch(/1000\.? years|at most 10 years/);
  });

  it('the longest bucket allowed, drained at once, decides on both stores with a valid TTL', async () => {
    for (const { name, store, admin } of backends.each()) {
      const prefix = freshPrefix();
      // 10 years to refill 1000 tokens: 1000 per 10 years.
      const l = createLimiter({
        store,
        guard: false,
        prefix,
        limits: [{ name: 'b', algorithm: 'token-bucket', limit: 1000, window: '3650d' }],
      });
      const first = await l.limit({ tenant: 't', key: 'k', cost: 1000 });
      expect([name, first.allowed, first.remaining]).toEqual([name, true, 0]);
      const next = await l.limit({ tenant: 't', key: 'k' });
      expect([name, next.allowed, next.path]).toEqual([name, false, 'store']);
      // One token's interval (Redis: less the ms that passed between the two decisions).
      const interval = (3650 * 86_400_000) / 1000;
      if (name === 'memory') expect(next.retryAfterMs).toBe(interval);
      else expect(interval - next.retryAfterMs).toBeLessThan(1000);
      if (admin) {
        const ttl = await admin.pttl(`${prefix}:{t}:s:k:b:tb${3650 * 86_400_000}`);
        expect(ttl).toBeGreaterThan(3650 * 86_400_000 - 60_000);
        expect(ttl).toBeLessThanOrEqual(3650 * 86_400_000);
      }
    }
  });
});
