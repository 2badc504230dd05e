import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/limiter.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 10: a rejected decision in penalty mode took concurrency slots that nobody could release (it
 * has no lease): everyone was rejected for the lease TTL with nothing in flight. Penalties now never
 * charge lease-based limits.
 */
describe('regression: penalty mode never charges concurrency slots', () => {
  const backends = useBackends();

  it('a rejected request leaves the slots free, on both stores', async () => {
    for (const { name, store } of backends.each()) {
      const l = createLimiter({
        store,
        guard: false,
        penalty: true,
        prefix: freshPrefix(),
        limits: [
          { name: 'rate', algorithm: 'fixed-window', limit: 1, window: '1h' },
          { name: 'inflight', algorithm: 'concurrency', limit: 2, window: '1h' },
          { name: 'minute', algorithm: 'sliding-log', limit: 100, window: '1m' },
        ],
      });
      const first = await l.limit({ tenant: 't', key: 'k' });
      await l.release(first.lease!);
      for (let i = 0; i < 5; i++) expect((await l.limit({ tenant: 't', key: 'k' })).allowed).toBe(false);
      const peek = await l.peek({ tenant: 't', key: 'k' });
      const byName = Object.fromEntries(peek.limits.map((r) => [r.name, r.remaining]));
      // The penalty still charged the limit with room that counts requests, not the slots.
      expect([name, byName]).toEqual([name, { rate: 0, inflight: 2, minute: 94 }]);
    }
  });
});
