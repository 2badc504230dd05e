import { afterEach, describe, expect, it, vi } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { PolicySet } from '../../src/policy/resolve.js';
import { MAX_SHAPES, ShapeCache } from '../../src/policy/shapes.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

/**
 * Issue 13: on spread traffic (a new tenant, user or IP nearly every request) every policy decision
 * missed the 4096-entry shape cache, resolved its policies anew (per tenant: a cache of 10,000 that was
 * cleared when full) and replaced the oldest cached shape, which the garbage collector then paid for:
 * a policy decision cost 4 to 5 times one limit's client CPU. What a class of request shares is now a
 * template resolved once, and a full cache keeps its shapes unless a request comes again soon.
 */
describe('regression: spread requests reuse what their class of request shares', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const config = {
    tiers: { free: { rps: 1000, burst: 1000 } },
    tenants: { special: { burst: 5 } },
    policies: [
      { name: 'search', scope: 'endpoint', match: ['/search'], limits: [{ limit: 100, window: '1s' }] },
      { name: 'per-ip', scope: 'ip', additive: true, limits: [{ limit: 100, window: '3s' }] },
    ],
  };

  it('a thousand tenants, users and IPs resolve their policies once; a tenant of its own gets its own', async () => {
    const choose = vi.spyOn(PolicySet.prototype, 'choose');
    const limiter = new PolicyLimiter({ config, store: new MemoryStore() });
    for (let i = 0; i < 1000; i++) {
      const d = await limiter.check({
        tenant: `t${i}`,
        user: `u${i}`,
        ip: `10.0.${i >> 8}.${i & 255}`,
        endpoint: '/search',
      });
      expect(d.limits.map((l) => l.key ?? '*')).toEqual([
        `e=/search|u=u${i}`,
        '*',
        `ip=10.0.${i >> 8}.${i & 255}`,
      ]);
    }
    expect(choose).toHaveBeenCalledTimes(1);
    const special = await limiter.check({
      tenant: 'special',
      user: 'u1',
      ip: '10.0.0.1',
      endpoint: '/search',
    });
    expect([choose.mock.calls.length, special.limits[1]?.limit]).toEqual([2, 5]);
  });

  it('a full shape cache keeps its shapes through spread traffic, and takes a key seen again', () => {
    const cache = new ShapeCache();
    const set = { classOf: () => '' } as never;
    const lookup = (i: number) => cache.get(set, { tenant: 't', user: `u${i}` }, 'free');
    const shape = {} as never;
    for (let i = 0; i < MAX_SHAPES; i++) if (!lookup(i)) cache.add(shape);
    for (let i = MAX_SHAPES; i < 3 * MAX_SHAPES; i++) if (!lookup(i)) cache.add(shape);
    let kept = 0;
    for (let i = 0; i < MAX_SHAPES; i++) if (lookup(i)) kept++;
    expect(kept).toBe(MAX_SHAPES);
    // Missed twice within the last misses: kept in place of the oldest.
    expect(lookup(3 * MAX_SHAPES)).toBeUndefined();
    cache.add(shape);
    expect(lookup(3 * MAX_SHAPES)).toBeUndefined();
    cache.add(shape);
    expect([lookup(3 * MAX_SHAPES), lookup(0), cache.size]).toEqual([shape, undefined, MAX_SHAPES]);
  });
});
