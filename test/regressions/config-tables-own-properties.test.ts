import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/policy/config.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';

// #11: configuration tables keyed by strings were read with `in` and `[]`, so a tier named "toString" or
// "constructor" passed validation and a request naming such a tier read Object.prototype: every check
// threw (503). Tier and policy names may no longer be Object.prototype's properties, and every table
// keyed by a tier, tenant or policy name is read through its own properties only.
const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
};

describe('configuration tables are read by own properties only', () => {
  it('tiers and policies may not be named after Object.prototype properties', () => {
    const reserved = 'is reserved (a property of every JavaScript object): choose another name';
    expect(issuesOf(() => parseConfig({ tiers: { free: { rps: 5 }, toString: { rps: 5 } } }))).toEqual([
      { path: 'tiers.toString', message: reserved },
    ]);
    expect(
      issuesOf(() => parseConfig({ tiers: { constructor: { rps: 5 } }, defaultTier: 'constructor' })),
    ).toEqual([
      { path: 'tiers.constructor', message: reserved },
      { path: 'tiers', message: 'must define at least one tier' },
    ]);
    expect(
      issuesOf(() =>
        parseConfig({
          policies: [{ name: 'hasOwnProperty', scope: 'global', limits: [{ limit: 1, window: '1s' }] }],
        }),
      ),
    ).toEqual([{ path: 'policies[0].name', message: reserved }]);
    expect(
      issuesOf(() =>
        parseConfig({
          policies: [
            {
              name: 'p',
              scope: 'global',
              tierLimits: { valueOf: [{ limit: 1, window: '1s' }], default: [] },
            },
          ],
        }),
      ),
    ).toEqual([
      {
        path: 'policies[0].tierLimits.valueOf',
        message: 'unknown tier "valueOf" (tiers: free, basic, premium, enterprise)',
      },
    ]);
  });

  it('requests and tenants named like prototype properties are decided normally', async () => {
    const limiter = await PolicyLimiter.create({
      config: { tenants: { constructor: { tier: 'basic' } } },
    });
    // A request naming a tier that is a prototype property: not a tier, so the default one.
    const byTier = await limiter.check({ tenant: 't', tier: 'constructor' });
    expect(byTier.allowed).toBe(true);
    expect(byTier.tier).toBe('free');
    expect(byTier.remaining).toBe(9);
    for (const tenant of ['toString', 'valueOf', 'hasOwnProperty']) {
      const d = await limiter.check({ tenant });
      expect([d.allowed, d.tier, d.remaining]).toEqual([true, 'free', 9]);
    }
    // A tenant really named "constructor" gets its own settings.
    const own = await limiter.check({ tenant: 'constructor' });
    expect([own.allowed, own.tier, own.remaining]).toEqual([true, 'basic', 39]);
    // Runtime overrides of such tenants too.
    expect(await limiter.setTenantTier('toString', 'premium')).toBe(1);
    const moved = await limiter.check({ tenant: 'toString' });
    expect([moved.allowed, moved.tier, moved.limits[0]?.limit]).toEqual([true, 'premium', 200]);
    expect(await limiter.setMode('shadow', 'tier')).toBe(2);
    expect((await limiter.check({ tenant: 'valueOf', tier: 'toString' })).shadowRejections).toEqual([]);
    await limiter.close();
  });
});
