import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/limiter.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 10: when the reset marker's retention ended, state written before it counted again, and the
 * default retention (31 days) ignored windows used through decide() (up to 10 years). The marker now
 * lives longer than any state can: twice the longest window (a sliding window's state lives two).
 */
describe('regression: a tenant reset stays a reset', () => {
  const backends = useBackends();
  const TEN_YEARS = 3650 * 86_400_000;

  it('Redis: the marker outlives every state written before it, whatever window decide() used', async () => {
    const { store, admin } = backends.redis();
    const prefix = freshPrefix();
    const l = createLimiter({ store, guard: false, prefix });
    const algorithms = [
      'sliding-log',
      'sliding-window',
      'fixed-window',
      'token-bucket',
      'concurrency',
    ] as const;
    const d = await l.decide({
      tenant: 't',
      key: 'k',
      checks: algorithms.map((algorithm) => ({
        key: 'k',
        limit: { name: algorithm, algorithm, limit: 5, window: TEN_YEARS },
      })),
    });
    expect(d.allowed).toBe(true);
    await l.resetTenant('t');
    const keys = await admin!.keys(`${prefix}:*`);
    const ttls = await Promise.all(keys.map(async (k) => [k, await admin!.pttl(k)] as const));
    const meta = ttls.find(([k]) => k.endsWith(':m'))?.[1] as number;
    const longestState = Math.max(...ttls.filter(([k]) => !k.endsWith(':m')).map(([, t]) => t));
    expect(longestState).toBeGreaterThan(TEN_YEARS); // the sliding window's two windows
    expect(meta).toBeGreaterThanOrEqual(2 * TEN_YEARS - 60_000);
    expect(meta).toBeGreaterThan(longestState);
    // Nothing written before the reset counts.
    const again = await l.decide({
      tenant: 't',
      key: 'k',
      cost: 5,
      checks: algorithms.map((algorithm) => ({
        key: 'k',
        limit: { name: algorithm, algorithm, limit: 5, window: TEN_YEARS },
      })),
    });
    expect(again.limits.map((r) => r.remaining)).toEqual([0, 0, 0, 0, 0]);
    expect(again.allowed).toBe(true);
  });

  it('memory and Redis: a refund of a decision made before a reset gives nothing back', async () => {
    for (const { name, store } of backends.each()) {
      const l = createLimiter({
        store,
        guard: false,
        prefix: freshPrefix(),
        limits: [{ algorithm: 'fixed-window', limit: 3, window: '1h' }],
      });
      const before = await l.limit({ tenant: 't', key: 'k', cost: 2 });
      await l.resetTenant('t');
      await l.limit({ tenant: 't', key: 'k', cost: 3 });
      await l.refund(before);
      expect([name, (await l.peek({ tenant: 't', key: 'k' })).remaining]).toEqual([name, 0]);
    }
  });
});
