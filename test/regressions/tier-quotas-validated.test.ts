import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/policy/config.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';

// #11: a tier rps above 10^9 (or a burst that cannot refill within 10 years) passed validation, then
// every check of the tenants on that tier threw (503). Tier and tenant quotas are now validated as the
// limits they become, in the configuration and in runtime overrides.
const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
};

describe('tier and tenant quotas are validated as the limits they become', () => {
  it('the configuration refuses quotas that would make every check fail', () => {
    expect(issuesOf(() => parseConfig({ tiers: { free: { rps: 2_000_000_000 } } }))).toEqual([
      { path: 'tiers.free.rps', message: 'Too big: expected number to be <=1000000000' },
    ]);
    expect(issuesOf(() => parseConfig({ tiers: { free: { rps: 5, maxConcurrent: 1e10 } } }))).toEqual([
      { path: 'tiers.free.maxConcurrent', message: 'Too big: expected number to be <=1000000000' },
    ]);
    expect(issuesOf(() => parseConfig({ tiers: { free: { rps: 1, burst: 1_000_000_000 } } }))).toEqual([
      {
        path: 'tiers.free.burst',
        message:
          '1000000000 at 1 rps: a full bucket of 1000000000 refilling 1 per 1s takes 31.7 years to refill: at most 10 years',
      },
    ]);
    // A tenant's own burst over its tier's rps.
    expect(
      issuesOf(() =>
        parseConfig({ tiers: { free: { rps: 1 } }, tenants: { big: { burst: 1_000_000_000 } } }),
      ),
    ).toEqual([
      {
        path: 'tenants.big.burst',
        message:
          '1000000000 at 1 rps: a full bucket of 1000000000 refilling 1 per 1s takes 31.7 years to refill: at most 10 years',
      },
    ]);
    // The largest rps works: its default burst is capped at 10^9.
    const top = parseConfig({ tiers: { free: { rps: 1_000_000_000 } } });
    expect(top.tiers.free).toEqual({
      rps: 1_000_000_000,
      burst: 1_000_000_000,
      maxConcurrent: Number.MAX_SAFE_INTEGER,
      priority: 1,
    });
  });

  it('a tier at the top of the range decides requests', async () => {
    const limiter = await PolicyLimiter.create({ config: { tiers: { free: { rps: 1_000_000_000 } } } });
    const d = await limiter.check({ tenant: 't' });
    expect(d.allowed).toBe(true);
    expect(d.remaining).toBe(999_999_999);
    await limiter.close();
  });

  it('runtime overrides are refused with the same checks, and nothing changes', async () => {
    const limiter = await PolicyLimiter.create({ config: {} });
    const error = (await limiter
      .setTenantOverride('t', { rps: 1, burst: 1_000_000_000 })
      .catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues).toEqual([
      {
        path: 'tenants.t.burst',
        message:
          '1000000000 at 1 rps: a full bucket of 1000000000 refilling 1 per 1s takes 31.7 years to refill: at most 10 years',
      },
    ]);
    const tooFast = (await limiter
      .setTenantOverride('t', { rps: 2_000_000_000 })
      .catch((e: unknown) => e)) as ConfigError;
    expect(tooFast.issues).toEqual([
      { path: 'tenants.t.rps', message: 'Too big: expected number to be <=1000000000' },
    ]);
    expect(limiter.configVersion).toBe(0);
    expect((await limiter.check({ tenant: 't' })).allowed).toBe(true);
    await limiter.close();
  });
});
