import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/limiter.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 10: with a fractional emission interval (6/s: 166.67 ms) the float slack of the old TAT was
 * below one step of an epoch-ms double, so a full bucket rejected a request that exactly fit: a cost
 * equal to the burst forever, and `burst` unit requests at one instant admitted burst - 1 (71 of 180
 * common rates; on Redis a 6/s bucket admitted 5 of 6 simultaneous requests on 20 of 20 tries).
 */
describe('regression: token bucket with a fractional interval admits exactly its burst', () => {
  const backends = useBackends();
  // 180 common rates: 1..60 per second, per 1.5 s and per minute.
  const rates = [1000, 1500, 60_000].flatMap((window) =>
    Array.from({ length: 60 }, (_, i) => ({ limit: i + 1, window })),
  );

  it('memory, at epoch instants: burst unit requests fit at one instant, one more does not', async () => {
    for (const { limit, window } of rates) {
      for (const burst of [limit, 2 * limit + 1]) {
        const { store, clock } = backends.memory(1_800_000_000_000 + limit * 7919 + window);
        const l = createLimiter({ store, limits: [{ algorithm: 'token-bucket', limit, window, burst }] });
        let admitted = 0;
        for (let i = 0; i < burst + 1; i++)
          if ((await l.limit({ tenant: 't', key: 'k' })).allowed) admitted++;
        expect(admitted, `${limit} per ${window} ms, burst ${burst}`).toBe(burst);
        // A whole bucket in one request fits a full bucket, at any instant.
        clock?.advance(window * 100);
        const whole = await l.limit({ tenant: 't', key: 'k', cost: burst });
        expect(whole.allowed, `cost ${burst} of ${limit} per ${window} ms`).toBe(true);
      }
    }
  });

  it('Redis, server clock: a 6/s bucket admits 6 of 6 simultaneous requests, every try', async () => {
    const { store } = backends.redis();
    for (let attempt = 0; attempt < 20; attempt++) {
      const l = createLimiter({
        store,
        guard: false,
        prefix: freshPrefix(),
        limits: [{ algorithm: 'token-bucket', limit: 6, window: '1s' }],
      });
      const decisions = await Promise.all(
        Array.from({ length: 7 }, () => l.limit({ tenant: 't', key: 'k' })),
      );
      expect(decisions.filter((d) => d.allowed).length, `try ${attempt}`).toBe(6);
      expect(decisions.map((d) => d.remaining)).toEqual([5, 4, 3, 2, 1, 0, 0]);
    }
  });

  it('Redis: a tier of rps 7 / burst 14 admits 14, and a cost of 14 fits a full bucket', async () => {
    const { store } = backends.redis();
    const l = createLimiter({
      store,
      guard: false,
      prefix: freshPrefix(),
      limits: [{ algorithm: 'token-bucket', limit: 7, window: '1s', burst: 14 }],
    });
    const decisions = await Promise.all(Array.from({ length: 15 }, () => l.limit({ tenant: 't', key: 'k' })));
    expect(decisions.filter((d) => d.allowed).length).toBe(14);
    const whole = await l.limit({ tenant: 't', key: 'other', cost: 14 });
    expect([whole.allowed, whole.remaining]).toEqual([true, 0]);
  });

  it('waits exactly: at retryAfterMs the request fits, one ms earlier it does not (11 per 1500 ms)', async () => {
    const { store, clock } = backends.memory(1_800_000_000_007);
    const l = createLimiter({
      store,
      limits: [{ algorithm: 'token-bucket', limit: 11, window: 1500, burst: 3 }],
    });
    for (let i = 0; i < 3; i++) await l.limit({ tenant: 't', key: 'k' });
    for (let round = 0; round < 40; round++) {
      const rejected = await l.limit({ tenant: 't', key: 'k', cost: 1 + (round % 3) });
      expect(rejected.allowed).toBe(false);
      clock?.advance(rejected.retryAfterMs - 1);
      expect((await l.peek({ tenant: 't', key: 'k' })).remaining, `round ${round}`).toBeLessThan(
        rejected.cost,
      );
      clock?.advance(1);
      expect((await l.limit({ tenant: 't', key: 'k', cost: rejected.cost })).allowed, `round ${round}`).toBe(
        true,
      );
    }
  });
});
