import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { createLimiter } from '../../src/limiter.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { MAX_SHAPES, ShapeCache } from '../../src/policy/shapes.js';
import type { PolicyDefinition } from '../../src/policy/types.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

// The hot path caches what depends only on a request's shape (policies, laid-out keys): these tests pin
// down that the cache never hands one request another's shape.

function limiterWith(policies: PolicyDefinition[]) {
  const clock = new ManualClock();
  return new PolicyLimiter({
    config: { tierPolicy: { enabled: false }, policies },
    store: new MemoryStore({ clock: clock.now }),
  });
}

describe('request shapes', () => {
  it('roles ["a,b"] and ["a", "b"] are different requests (a comma-joined cache key made them one)', async () => {
    const limiter = limiterWith([
      { name: 'role-b', scope: 'role', match: ['b'], limits: [{ limit: 1, window: '1h' }] },
      { name: 'tenant', scope: 'tenant', limits: [{ limit: 100, window: '1h' }] },
    ]);
    const joined = await limiter.check({ tenant: 't', roles: ['a,b'] });
    const split = await limiter.check({ tenant: 't', roles: ['a', 'b'] });
    expect(joined.policies.map((p) => p.name)).toEqual(['tenant']);
    expect(split.policies.map((p) => p.name)).toEqual(['role-b']);
    expect((await limiter.check({ tenant: 't', roles: ['a', 'b'] })).allowed).toBe(false);
    expect((await limiter.check({ tenant: 't', roles: ['a,b'] })).remaining).toBe(98);
  });

  it('field boundaries cannot be forged: tenant "a" on "bc" and tenant "ab" on "c" count apart', async () => {
    const limiter = limiterWith([
      { name: 'per-endpoint', scope: 'endpoint', countBy: 'endpoint', limits: [{ limit: 2, window: '1h' }] },
    ]);
    await limiter.check({ tenant: 'a', endpoint: 'bc' });
    const other = await limiter.check({ tenant: 'ab', endpoint: 'c' });
    expect([other.tenant, other.remaining, other.limits[0]?.key]).toEqual(['ab', 1, 'e=c']);
  });

  it('an identity gets its own shape: one IP blocked does not block another', async () => {
    const limiter = limiterWith([
      { name: 'tenant', scope: 'tenant', limits: [{ limit: 100, window: '1h' }] },
    ]);
    await limiter.check({ tenant: 't', ip: '10.0.0.1' });
    await limiter.check({ tenant: 't', ip: '10.0.0.2' });
    await (limiter as unknown as { engine: ReturnType<typeof createLimiter> }).engine.block(
      { tenant: 't', key: 'ip=10.0.0.1' },
      60_000,
    );
    expect((await limiter.check({ tenant: 't', ip: '10.0.0.1' })).reason).toBe('blocked');
    expect((await limiter.check({ tenant: 't', ip: '10.0.0.2' })).reason).toBe('allowed');
  });

  it('a runtime override applies to the next decision of a cached shape', async () => {
    const limiter = limiterWith([{ name: 'tenant', scope: 'tenant', limits: [{ limit: 10, window: '1h' }] }]);
    expect((await limiter.check({ tenant: 't' })).remaining).toBe(9);
    await limiter.setMode('shadow');
    const d = await limiter.check({ tenant: 't' });
    expect([d.allowed, d.policies[0]?.mode, d.limits.length]).toEqual([true, 'shadow', 0]);
  });

  it('the outcomes shared by admitted decisions of one shape are frozen', async () => {
    const limiter = limiterWith([{ name: 'tenant', scope: 'tenant', limits: [{ limit: 10, window: '1h' }] }]);
    const first = await limiter.check({ tenant: 't' });
    const second = await limiter.check({ tenant: 't' });
    expect(second.policies).toBe(first.policies);
    expect(Object.isFrozen(first.policies) && Object.isFrozen(first.policies[0])).toBe(true);
    expect(Object.isFrozen(first.shadowRejections)).toBe(true);
  });

  it('keeps at most MAX_SHAPES shapes, dropping the oldest', () => {
    const cache = new ShapeCache();
    const set = {} as never;
    for (let i = 0; i < MAX_SHAPES + 10; i++) {
      if (!cache.get(set, { tenant: `t${i}` }, 'free')) cache.add({} as never);
    }
    expect(cache.size).toBe(MAX_SHAPES);
    expect(cache.get(set, { tenant: 't0' }, 'free')).toBeUndefined();
    expect(cache.get(set, { tenant: `t${MAX_SHAPES + 9}` }, 'free')).toBeDefined();
  });
});

describe('configured limits laid out per tenant and key', () => {
  it('tenant "a" with key "bc" and tenant "ab" with key "c" count apart', async () => {
    const limiter = createLimiter({ limits: [{ limit: 2, window: '1h' }] });
    await limiter.limit({ tenant: 'a', key: 'bc' });
    const other = await limiter.limit({ tenant: 'ab', key: 'c' });
    expect([other.tenant, other.key, other.remaining]).toEqual(['ab', 'c', 1]);
  });

  it('a key of "-" is not the same as no key', async () => {
    const limiter = createLimiter({
      limits: [
        { name: 'per-key', limit: 2, window: '1h' },
        { name: 'tenant', limit: 5, window: '1h', scope: 'tenant' },
      ],
    });
    await limiter.limit({ tenant: 't', key: '-' });
    await expect(limiter.limit({ tenant: 't' })).rejects.toMatchObject({
      code: 'ERR_SLUICE_INVALID_IDENTIFIER',
    });
    expect((await limiter.limit({ tenant: 't', key: '-' })).remaining).toBe(0);
  });
});
