import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { PolicyLimiter, type PolicyLimiterOptions } from '../../src/policy/policy-limiter.js';
import type { PolicyDecision, RequestContext } from '../../src/policy/types.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

const authPolicy = {
  name: 'auth_endpoints',
  scope: 'endpoint',
  match: ['/api/v1/auth/login'],
  limits: [{ name: 'minute', algorithm: 'fixed-window', limit: 10, window: '1m' }],
};

function build(config: Record<string, unknown>, options: Partial<PolicyLimiterOptions> = {}) {
  const clock = new ManualClock(1_700_000_040_000); // a minute boundary
  const store = new MemoryStore({ clock: clock.now });
  const limiter = new PolicyLimiter({
    config: { tierPolicy: { enabled: false }, ...config },
    store,
    clock: clock.now,
    ...options,
  });
  return { limiter, clock, store };
}

async function run(limiter: PolicyLimiter, ctx: RequestContext, n: number): Promise<PolicyDecision[]> {
  const out: PolicyDecision[] = [];
  for (let i = 0; i < n; i++) out.push(await limiter.check(ctx));
  return out;
}

const login = { tenant: 'acme', user: 'mallory', ip: '203.0.113.9', endpoint: '/api/v1/auth/login' };

describe("reputation (seed 002): violations shrink an identity's limits, and recover", () => {
  const reputation = { escalation: { 2: 0.5, 3: 0.75, 5: 0.9 }, decay: '24h', cacheTtl: '1ms' };

  it('escalates: 50 % after 2 violations, 75 % after 3, 90 % after 5; recovers after the decay', async () => {
    const { limiter, clock } = build({ reputation, policies: [authPolicy] });
    const first = await run(limiter, login, 12);
    expect(first.filter((d) => d.allowed)).toHaveLength(10);
    expect(first.map((d) => d.violations)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    clock.advance(60_000);
    const halved = await run(limiter, login, 6);
    expect(halved.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(halved[0]?.adaptiveFactor).toBe(0.5);
    expect(halved[0]?.binding.limit).toBe(5);
    clock.advance(60_000);
    const quarter = await run(limiter, login, 3);
    expect(quarter.map((d) => d.allowed)).toEqual([true, true, false]); // 25 % of 10
    expect(quarter[2]?.violations).toBe(4);
    await run(limiter, login, 1); // violation 5
    clock.advance(60_000);
    const tenth = await run(limiter, login, 2);
    expect(tenth.map((d) => [d.allowed, d.binding.limit])).toEqual([
      [true, 1],
      [false, 1],
    ]);
    // Another user of the same tenant is untouched; so is the same user's tenant-wide budget.
    expect((await limiter.check({ ...login, user: 'alice' })).binding.limit).toBe(10);
    clock.advance(2 * 86_400_000);
    const healed = await limiter.check(login);
    expect([healed.violations, healed.binding.limit]).toEqual([0, 10]);
  });

  it('good actors (no violations, enough admitted requests) earn the configured boost', async () => {
    const { limiter, clock } = build({
      reputation: { ...reputation, boost: { factor: 1.5, after: 10 } },
      policies: [authPolicy],
    });
    const first = await run(limiter, login, 10);
    expect(first.every((d) => d.allowed && d.binding.limit === 10)).toBe(true);
    expect(first[0]?.limits.map((l) => l.name)).toEqual(['auth_endpoints.minute']);
    clock.advance(60_000);
    const boosted = await run(limiter, login, 16);
    expect(boosted.filter((d) => d.allowed)).toHaveLength(15);
    expect([boosted[0]?.adaptiveFactor, boosted[0]?.binding.limit]).toEqual([1.5, 15]);
    // One violation and the boost is gone.
    expect(boosted[15]?.violations).toBe(1);
    clock.advance(60_000);
    expect((await limiter.check(login)).binding.limit).toBe(10);
  });

  it('blocks an identity everywhere after repeated violations, for the configured time', async () => {
    const { limiter, clock } = build({
      reputation: { ...reputation, block: { after: 3, duration: '10m' } },
      policies: [authPolicy, { name: 'rest', scope: 'global', limits: [{ limit: 1000, window: '1m' }] }],
    });
    await run(limiter, login, 13);
    const elsewhere = await limiter.check({ ...login, endpoint: '/api/v1/profile' });
    expect([elsewhere.allowed, elsewhere.reason]).toEqual([false, 'blocked']);
    expect(elsewhere.retryAfterMs).toBe(600_000);
    clock.advance(600_000);
    expect((await limiter.check({ ...login, endpoint: '/api/v1/profile' })).allowed).toBe(true);
  });

  it('lives in the store: another instance sees it; one identity or everyone can be reset', async () => {
    const { limiter, clock, store } = build({ reputation, policies: [authPolicy] });
    const other = new PolicyLimiter({
      config: { tierPolicy: { enabled: false }, reputation, policies: [authPolicy] },
      store,
      clock: clock.now,
    });
    await run(limiter, login, 13);
    clock.advance(2);
    expect((await other.check(login)).violations).toBe(4);
    await other.resetReputation('acme', { user: 'mallory' });
    clock.advance(2);
    expect((await limiter.check(login)).violations).toBe(1);
    await limiter.resetReputation('acme');
    await other.refresh();
    clock.advance(2);
    expect((await other.check(login)).violations).toBe(1); // the reset, then this rejection
  });
});

describe('load-adaptive quotas (seed 003)', () => {
  it('shrink limits while the load signal is above the threshold, within bounds, and restore them', async () => {
    let load = 0.5;
    const { limiter } = build(
      {
        loadAdaptive: { threshold: 0.8, minFactor: 0.5 },
        policies: [{ name: 'p', scope: 'tenant', limits: [{ limit: 100, window: '1m' }] }],
      },
      { loadSignal: () => load },
    );
    const at = async (value: number) => {
      load = value;
      return (await limiter.check({ tenant: 't' })).binding.limit;
    };
    expect(await at(0.5)).toBe(100);
    expect(await at(0.9)).toBe(75);
    expect(await at(1)).toBe(50);
    expect(await at(5)).toBe(50);
    expect(await at(0.2)).toBe(100);
  });
});

describe('platform protection (seed 002 circuit breaker, seed 003 priorities)', () => {
  const config = {
    policies: [{ name: 'p', scope: 'tenant', limits: [{ limit: 1_000_000, window: '1m' }] }],
    platform: { threshold: 100, syncInterval: '1s', resetTimeout: '5s' },
  };
  const tenants = { free: 'f', basic: 'b', premium: 'p', enterprise: 'e' };

  it('opens above the threshold, sheds the lowest tiers first, then recovers through half-open', async () => {
    const { limiter, clock } = build({
      ...config,
      tenants: {
        f: { tier: 'free' },
        b: { tier: 'basic' },
        p: { tier: 'premium' },
        e: { tier: 'enterprise' },
      },
    });
    const guard = limiter.platform!;
    const reasons = async () => {
      const out: Record<string, string> = {};
      for (const [tier, tenant] of Object.entries(tenants))
        out[tier] = (await limiter.check({ tenant })).reason;
      return out;
    };
    await run(limiter, { tenant: 'e' }, 150);
    await guard.sync();
    expect([guard.state, guard.shedLevel, guard.lastRate]).toEqual(['open', 1, 150]);
    expect(await reasons()).toEqual({
      free: 'shed',
      basic: 'allowed',
      premium: 'allowed',
      enterprise: 'allowed',
    });
    clock.advance(1000);
    await run(limiter, { tenant: 'e' }, 150);
    await guard.sync();
    expect(guard.shedLevel).toBe(2);
    expect(await reasons()).toEqual({
      free: 'shed',
      basic: 'shed',
      premium: 'allowed',
      enterprise: 'allowed',
    });
    clock.advance(5000);
    await guard.sync(); // quiet again, reset timeout passed
    expect([guard.state, guard.shedLevel]).toEqual(['half-open', 1]);
    clock.advance(1000);
    await guard.sync();
    expect([guard.state, guard.shedLevel]).toEqual(['closed', 0]);
    expect(await reasons()).toEqual({
      free: 'allowed',
      basic: 'allowed',
      premium: 'allowed',
      enterprise: 'allowed',
    });
  });

  it('an operator can force it open (only the top tier passes) or closed, for every instance', async () => {
    const { limiter } = build({ ...config, tenants: { f: { tier: 'free' }, e: { tier: 'enterprise' } } });
    await limiter.forcePlatform('open');
    expect((await limiter.check({ tenant: 'f' })).reason).toBe('shed');
    expect((await limiter.check({ tenant: 'e' })).allowed).toBe(true);
    await run(limiter, { tenant: 'e' }, 200);
    await limiter.forcePlatform('closed');
    await limiter.platform!.sync();
    expect(limiter.platform!.state).toBe('open');
    expect((await limiter.check({ tenant: 'f' })).allowed).toBe(true);
  });
});

describe('migration aid (seed 001 hybrid): a second store decides beside the enforcing one', () => {
  it('records where they disagree, never blocking on the second', async () => {
    const clock = new ManualClock();
    const legacy = new MemoryStore({ clock: clock.now });
    const events: Array<{ primary: boolean; secondary: boolean }> = [];
    const limiter = new PolicyLimiter({
      config: {
        tierPolicy: { enabled: false },
        policies: [{ name: 'p', scope: 'tenant', limits: [{ limit: 3, window: '1m' }] }],
      },
      store: new MemoryStore({ clock: clock.now }),
      compareWith: legacy,
      onDisagreement: (e) => events.push({ primary: e.primary, secondary: e.secondary }),
    });
    // The legacy store already saw traffic the new one did not.
    const other = new PolicyLimiter({
      config: {
        tierPolicy: { enabled: false },
        policies: [{ name: 'p', scope: 'tenant', limits: [{ limit: 3, window: '1m' }] }],
      },
      store: legacy,
    });
    await other.check({ tenant: 't' });
    await other.check({ tenant: 't' });
    const ds = await run(limiter, { tenant: 't' }, 3);
    expect(ds.map((d) => d.comparison)).toEqual([
      { allowed: true, agreed: true },
      { allowed: false, agreed: false },
      { allowed: false, agreed: false },
    ]);
    expect(ds.map((d) => d.allowed)).toEqual([true, true, true]);
    expect(limiter.disagreements).toBe(2);
    expect(events).toEqual([
      { primary: true, secondary: false },
      { primary: true, secondary: false },
    ]);
  });
});
