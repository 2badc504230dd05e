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

  it('keeps at most MAX_SHAPES shapes; once full, a new one replaces the oldest only when its request comes again soon', () => {
    const cache = new ShapeCache();
    const set = { classOf: () => '' } as never;
    const lookup = (i: number) => cache.get(set, { tenant: `t${i}` }, 'free');
    for (let i = 0; i < MAX_SHAPES + 10; i++) if (!lookup(i)) cache.add({} as never);
    expect(cache.size).toBe(MAX_SHAPES);
    // Spread traffic (every request a new key) keeps the shapes the cache has.
    expect(lookup(0)).toBeDefined();
    expect(lookup(MAX_SHAPES + 9)).toBeUndefined();
    cache.add({} as never);
    // Seen again among the recent misses: it replaces the oldest.
    expect(lookup(MAX_SHAPES + 9)).toBeDefined();
    expect(lookup(0)).toBeUndefined();
    expect(cache.size).toBe(MAX_SHAPES);
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

describe('templates: what a class of request shares', () => {
  // Requests of one class (tier, route, roles, which identity fields they name) share a template of
  // their policies; each must still get exactly what a limiter seeing it first would give it.
  const config = {
    tiers: { free: { rps: 5, burst: 10 }, pro: { rps: 50, burst: 100 } },
    tenants: { big: { burst: 30 }, paying: { tier: 'pro' } },
    policies: [
      {
        name: 'vip',
        scope: 'tenant',
        match: ['vip-*'],
        additive: true,
        limits: [{ limit: 7, window: '1h' }],
      },
      { name: 'admin', scope: 'user', match: ['admin'], limits: [{ limit: 3, window: '1h' }] },
      { name: 'ops', scope: 'role', match: ['ops'], additive: true, limits: [{ limit: 4, window: '1h' }] },
      { name: 'any-route', scope: 'endpoint', limits: [{ limit: 9, window: '1h' }] },
      { name: 'per-ip', scope: 'ip', additive: true, limits: [{ limit: 8, window: '1h' }] },
      { name: 'per-user', scope: 'user', countBy: 'user', limits: [{ limit: 6, window: '1h' }] },
    ] satisfies PolicyDefinition[],
  };
  const route = [{ name: 'own', limit: 2, window: '1m' }];
  const contexts = [
    { tenant: 'small', user: 'bob', ip: '10.0.0.1' },
    { tenant: 'big', user: 'bob', ip: '10.0.0.1' },
    { tenant: 'paying', user: 'bob' },
    { tenant: 'vip-1', user: 'bob', ip: '10.0.0.1' },
    { tenant: 'small', user: 'admin', ip: '10.0.0.1' },
    { tenant: 'small', ip: '10.0.0.2' },
    { tenant: 'small' },
    { tenant: 'small', user: 'carol', roles: ['ops'] },
    { tenant: 'small', user: 'carol', roles: ['dev'] },
    { tenant: 'small', user: 'carol', endpoint: '/a' },
    { tenant: 'other', user: 'dave', endpoint: '/b' },
    { tenant: 'small', user: 'carol', endpoint: '/a', routeLimits: route },
    { tenant: 'small', user: 'carol', endpoint: '/b', routeLimits: route },
    { tenant: 'big', ip: '10.0.0.3', endpoint: '/b', routeLimits: route },
  ];
  const seen = (d: Awaited<ReturnType<PolicyLimiter['check']>>) => ({
    tier: d.tier,
    policies: d.policies.map((p) => `${p.name}@${p.key}`),
    limits: d.limits.map((l) => `${l.name}@${l.key ?? '*'}/${l.limit}`),
  });

  it('each request gets what a limiter seeing it first gives it', async () => {
    const shared = new PolicyLimiter({ config, store: new MemoryStore() });
    for (const round of [1, 2]) {
      for (const ctx of contexts) {
        const alone = new PolicyLimiter({ config, store: new MemoryStore() });
        expect([round, seen(await shared.check(ctx))]).toEqual([round, seen(await alone.check(ctx))]);
      }
    }
  });

  it('a runtime override of one tenant applies to it alone', async () => {
    const limiter = new PolicyLimiter({ config, store: new MemoryStore() });
    await limiter.check({ tenant: 'small', user: 'bob' });
    await limiter.setTenantOverride('tiny', { burst: 1 });
    const tiny = await limiter.check({ tenant: 'tiny', user: 'bob' });
    const small = await limiter.check({ tenant: 'small', user: 'bob' });
    expect([tiny.limits.at(-1)?.limit, small.limits.at(-1)?.limit]).toEqual([1, 10]);
  });
});
