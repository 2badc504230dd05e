import { describe, expect, it } from 'vitest';
import { PlatformGuard } from '../../../src/policy/platform.js';
import { Adjuster } from '../../../src/policy/stages/adjust.js';
import { parts } from './support.js';

const doc = {
  tierPolicy: { enabled: false },
  tenants: { f: { tier: 'free' }, e: { tier: 'enterprise' } },
  reputation: { escalation: { 1: 0.5 }, decay: '1h', cacheTtl: '10s' },
  loadAdaptive: { threshold: 0.5, minFactor: 0.5 },
  platform: { threshold: 10, syncInterval: '1s', resetTimeout: '5s' },
  policies: [{ name: 'per-user', scope: 'user', limits: [{ limit: 10, window: '1m' }] }],
};

function build(load?: () => number) {
  const p = parts(doc);
  const platform = new PlatformGuard(p.engine, p.config.platform!, p.config.tiers, p.clock.now);
  return { ...p, platform, adjuster: new Adjuster(p.resolver, p.reputation, platform, load) };
}

describe('stage adjust: platform protection, reputation, load', () => {
  it('admits and counts unshed tiers; sheds the lowest tier once the breaker opens', async () => {
    const { set, resolver, adjuster, platform } = build();
    for (let i = 0; i < 11; i++)
      expect(adjuster.admits(resolver.resolve(set, 0, { tenant: 'e' }))).toBe(true);
    await platform.sync();
    expect([platform.state, platform.lastRate]).toEqual(['open', 11]);
    expect(adjuster.admits(resolver.resolve(set, 0, { tenant: 'f' }))).toBe(false);
    expect(adjuster.admits(resolver.resolve(set, 0, { tenant: 'e' }))).toBe(true);
  });

  it('a failed sync is unknown traffic: below the threshold, its count dropped, lastRate kept', async () => {
    const { set, resolver, adjuster, platform, store, clock } = build();
    const admit = (n: number) => {
      for (let i = 0; i < n; i++) adjuster.admits(resolver.resolve(set, 0, { tenant: 'e' }));
    };
    admit(11);
    await platform.sync();
    expect([platform.state, platform.shedLevel, platform.lastRate]).toEqual(['open', 1, 11]);
    store.down = true;
    admit(20);
    clock.advance(5000);
    await platform.sync(); // fails: the open breaker still recovers on its schedule
    expect([platform.state, platform.shedLevel, platform.lastRate]).toEqual(['closed', 0, 11]);
    expect(platform.lastError?.message).toMatch(/down/);
    store.down = false;
    clock.advance(1000);
    admit(2);
    await platform.sync(); // the 20 of the failed interval are not published late
    expect([platform.state, platform.lastRate, platform.lastError]).toEqual(['closed', 2, undefined]);
  });

  it('a known standing scales the identity limits; an unknown one is neutral and not cached', async () => {
    const { set, resolver, adjuster, reputation, store } = build();
    const ctx = { tenant: 'e', user: 'u' };
    store.down = true;
    const blind = resolver.resolve(set, 0, ctx);
    await adjuster.readStanding(blind);
    adjuster.adjust(blind);
    expect([
      blind.standing,
      blind.violations,
      blind.byReputation,
      blind.shape.enforced[0]?.limits[0]?.limit,
    ]).toEqual([undefined, undefined, 1, 10]);
    store.down = false;
    expect(await reputation.record('e', 'u=u', 0)).toBe(1);
    const known = resolver.resolve(set, 0, ctx);
    await adjuster.readStanding(known);
    adjuster.adjust(known);
    expect([known.violations, known.byReputation, known.shape.enforced[0]?.limits[0]?.limit]).toEqual([
      1, 0.5, 5,
    ]);
    expect(known.shape).not.toBe(blind.shape); // an adapted shape, the cached one untouched
  });

  it('load above the threshold shrinks every adaptive limit', () => {
    const { set, resolver, adjuster } = build(() => 1);
    const check = resolver.resolve(set, 0, { tenant: 'e', user: 'u' });
    adjuster.adjust(check);
    expect([check.byLoad, check.shape.enforced[0]?.limits[0]?.limit]).toEqual([0.5, 5]);
  });
});

describe('reputation reads and writes the store could not make', () => {
  it('read: undefined (not 10^9 violations), nothing cached; write: undefined, nothing counted', async () => {
    const { reputation, store } = parts(doc);
    store.down = true;
    expect(await reputation.standing('e', 'u=u', 0)).toBeUndefined();
    expect(await reputation.record('e', 'u=u', 0)).toBeUndefined();
    store.down = false;
    expect(await reputation.standing('e', 'u=u', 0)).toEqual({ violations: 0, good: 0 });
  });
});
