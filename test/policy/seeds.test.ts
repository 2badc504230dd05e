import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/policy/config.js';
import { configFromEnv } from '../../src/policy/env.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { PolicyDecision, RequestContext } from '../../src/policy/types.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

/** Each seed system's configuration written in Sluice, driven through the scenario its document gives. */

function build(config: unknown) {
  const clock = new ManualClock(1_700_000_000_000);
  const limiter = new PolicyLimiter({ config, store: new MemoryStore({ clock: clock.now }) });
  return { limiter, clock };
}

async function run(limiter: PolicyLimiter, ctx: RequestContext, n: number): Promise<PolicyDecision[]> {
  const out: PolicyDecision[] = [];
  for (let i = 0; i < n; i++) out.push(await limiter.check(ctx));
  return out;
}

const allowed = (ds: PolicyDecision[]) => ds.filter((d) => d.allowed).length;

describe('seed 000: per-tenant sliding window, window_ms=1000, max_requests=10', () => {
  const config = {
    tierPolicy: { enabled: false },
    policies: [
      {
        name: 'tenant-guard',
        scope: 'tenant',
        limits: [{ algorithm: 'sliding-log', limit: 10, window: 1000 }],
      },
    ],
  };

  it('tenant A exhausting its quota leaves tenant B untouched (the cross-tenant DoS is closed)', async () => {
    const { limiter, clock } = build(config);
    const a = await run(limiter, { tenant: 'tenant_a' }, 15);
    expect(allowed(a)).toBe(10);
    expect(a[10]?.reason).toBe('rate_limited');
    const b = await run(limiter, { tenant: 'tenant_b' }, 10);
    expect(allowed(b)).toBe(10);
    clock.advance(1000);
    expect((await limiter.check({ tenant: 'tenant_a' })).allowed).toBe(true);
  });
});

describe('seed 001: four windows (second, minute, hour, burst) from the environment', () => {
  const env = {
    RATE_LIMIT_PER_SECOND: '10',
    RATE_LIMIT_PER_MINUTE: '60',
    RATE_LIMIT_PER_HOUR: '1000',
    RATE_LIMIT_BURST: '20',
    RATE_LIMIT_BURST_WINDOW: '10',
  };

  it('reports the binding window: second, then burst, then minute', async () => {
    const { limiter, clock } = build({ ...configFromEnv(env), tierPolicy: { enabled: false } });
    const ctx = { tenant: 'org-1', user: 'u1' };
    const first = await run(limiter, ctx, 11);
    expect(allowed(first)).toBe(10);
    expect(first[10]?.binding.name).toBe('env-defaults.second');
    expect(first[10]?.retryAfterMs).toBe(1000);
    clock.advance(1000);
    const second = await run(limiter, ctx, 11);
    expect(allowed(second)).toBe(10);
    expect(second[10]?.binding.name).toBe('env-defaults.burst'); // 20 in 10 s
    clock.advance(9000);
    let admitted = 20;
    while (admitted < 70) {
      const d = await limiter.check(ctx);
      if (d.allowed) admitted++;
      else if (d.binding.name === 'env-defaults.minute') break;
      else clock.advance(1000);
    }
    expect(admitted).toBe(60);
    const minute = await limiter.check(ctx);
    expect([minute.allowed, minute.binding.name, minute.binding.limit]).toEqual([
      false,
      'env-defaults.minute',
      60,
    ]);
  });
});

describe('seed 002: hierarchical policies, admin roles, shadow rollout', () => {
  const config = {
    tierPolicy: { enabled: false },
    policies: [
      {
        name: 'global_default',
        scope: 'global',
        limits: [
          { name: 'minute', algorithm: 'token-bucket', limit: 100, window: '1m', burst: 120 },
          { name: 'hour', algorithm: 'sliding-window', limit: 1000, window: '1h' },
          { name: 'day', algorithm: 'sliding-window', limit: 10000, window: '1d' },
        ],
      },
      {
        name: 'auth_endpoints',
        scope: 'endpoint',
        match: ['/api/v1/auth/login', '/api/v1/auth/refresh'],
        limits: [
          { name: 'minute', algorithm: 'sliding-log', limit: 5, window: '1m' },
          { name: 'hour', algorithm: 'sliding-log', limit: 20, window: '1h' },
        ],
      },
      {
        name: 'admin_role_limits',
        scope: 'role',
        match: ['super_admin', 'tenant_admin'],
        limits: [
          { name: 'minute', algorithm: 'token-bucket', limit: 200, window: '1m', burst: 250 },
          { name: 'hour', algorithm: 'sliding-window', limit: 2000, window: '1h' },
        ],
      },
    ],
  };

  it('the login endpoint policy beats the admin role; admins get their relaxed limits elsewhere', async () => {
    const { limiter } = build(config);
    const admin = {
      tenant: 'tenant_67890',
      user: 'user_12345',
      roles: ['tenant_admin'],
      ip: '192.168.1.100',
    };
    const logins = await run(limiter, { ...admin, endpoint: '/api/v1/auth/login' }, 6);
    expect(allowed(logins)).toBe(5);
    expect(logins[5]?.bindingPolicy).toBe('auth_endpoints');
    expect(logins[5]?.binding.name).toBe('auth_endpoints.minute');
    const elsewhere = await limiter.check({ ...admin, endpoint: '/api/v1/scans' });
    expect(elsewhere.policies.map((p) => p.name)).toEqual(['admin_role_limits']);
    expect(elsewhere.limits.map((l) => [l.name, l.limit])).toEqual([
      ['admin_role_limits.minute', 250],
      ['admin_role_limits.hour', 2000],
    ]);
    const analyst = await limiter.check({
      tenant: 'tenant_67890',
      user: 'user_2',
      roles: ['security_analyst'],
    });
    expect(analyst.policies.map((p) => p.name)).toEqual(['global_default']);
  });

  it('phase 1 (all policies in shadow) blocks nothing and records what would have been blocked', async () => {
    const { limiter } = build({ ...config, mode: 'shadow' });
    const logins = await run(limiter, { tenant: 't', user: 'u', endpoint: '/api/v1/auth/login' }, 7);
    expect(allowed(logins)).toBe(7);
    expect(logins.map((d) => d.shadowRejections.length)).toEqual([0, 0, 0, 0, 0, 1, 1]);
    // Phase 2: enforce the critical endpoint only, at runtime.
    await limiter.setMode('enforce');
    await limiter.setMode('shadow', 'global_default');
    expect((await limiter.check({ tenant: 't', user: 'u', endpoint: '/api/v1/auth/login' })).allowed).toBe(
      false,
    );
  });
});

describe('seed 003: tenant tiers, overrides and tier rules', () => {
  const config = {
    tierRules: [
      { pattern: 'ent-*', tier: 'enterprise' },
      { pattern: '/^prem-/', tier: 'premium' },
    ],
    tenants: {
      'special-tenant': { rps: 200, burst: 400, maxConcurrent: 200, priority: 1.5 },
      acme: { tier: 'basic' },
    },
  };

  it.each([
    ['some-startup', 'free', 10, 5],
    ['acme', 'basic', 40, 20],
    ['prem-co', 'premium', 200, 100],
    ['ent-bank', 'enterprise', 1000, 500],
    ['special-tenant', 'free', 400, 200],
  ])('%s is on tier %s: a burst of %d, then %d per second', async (tenant, tier, burst, rps) => {
    const { limiter, clock } = build(config);
    const burstRun = await run(limiter, { tenant }, burst + 1);
    expect(allowed(burstRun)).toBe(burst);
    expect(burstRun[burst]?.tier).toBe(tier);
    expect(burstRun[burst]?.bindingPolicy).toBe('tier');
    clock.advance(1000);
    expect(allowed(await run(limiter, { tenant }, rps + 1))).toBe(rps);
  });

  it('a tier change at runtime applies to the next request', async () => {
    const { limiter } = build(config);
    expect((await limiter.check({ tenant: 'growing' })).tier).toBe('free');
    await limiter.setTenantTier('growing', 'premium');
    const d = await limiter.check({ tenant: 'growing' });
    expect([d.tier, d.binding.limit, d.configVersion]).toEqual(['premium', 200, 1]);
    await expect(limiter.setTenantTier('growing', 'gold')).rejects.toThrow(/unknown tier "gold"/);
  });

  it('max concurrent requests per tier, when enabled, holds leases until released', async () => {
    const { limiter } = build({
      tiers: { free: { rps: 100, burst: 100, maxConcurrent: 2 } },
      tierPolicy: { concurrency: true },
    });
    const a = await limiter.check({ tenant: 't' });
    const b = await limiter.check({ tenant: 't' });
    const c = await limiter.check({ tenant: 't' });
    expect([a.allowed, b.allowed, c.allowed]).toEqual([true, true, false]);
    expect(c.binding.name).toBe('tier.concurrent');
    await limiter.release(a.lease!);
    expect((await limiter.check({ tenant: 't' })).allowed).toBe(true);
  });
});

describe('seed 004: endpoint and LLM provider tables per tier', () => {
  const per = (n: number, window: string) => [{ algorithm: 'sliding-log', limit: n, window }];
  const table = (free: number, pro: number, enterprise: number, window = '1m') => ({
    free: per(free, window),
    pro: per(pro, window),
    enterprise: per(enterprise, window),
  });
  const config = {
    tiers: { free: { rps: 1000 }, pro: { rps: 1000 }, enterprise: { rps: 1000 } },
    tierPolicy: { enabled: false },
    tenants: { bigcorp: { tier: 'enterprise' }, smallco: { tier: 'pro' } },
    policies: [
      { name: 'auth-login', scope: 'endpoint', match: ['/auth/login'], tierLimits: table(5, 10, 20) },
      {
        name: 'auth-register',
        scope: 'endpoint',
        match: ['/auth/register'],
        tierLimits: table(3, 10, 50, '1h'),
      },
      { name: 'campaigns', scope: 'endpoint', match: ['/campaigns'], tierLimits: table(10, 100, 1000) },
      { name: 'users', scope: 'endpoint', match: ['/users'], tierLimits: table(10, 50, 500) },
      { name: 'default', scope: 'global', tierLimits: table(10, 100, 1000) },
      { name: 'llm-openai', scope: 'endpoint', match: ['llm:openai'], tierLimits: table(3, 60, 500) },
      { name: 'llm-anthropic', scope: 'endpoint', match: ['llm:anthropic'], tierLimits: table(5, 50, 500) },
      { name: 'llm-gemini', scope: 'endpoint', match: ['llm:gemini'], tierLimits: table(15, 60, 1000) },
    ],
  };

  it('is plain configuration', () => {
    expect(parseConfig(config).policies).toHaveLength(8);
  });

  it('the 11th request in a minute gets rejected, with the seed 004 details', async () => {
    const { limiter } = build(config);
    const ds = await run(limiter, { tenant: 'startup', user: 'user123', endpoint: '/campaigns' }, 11);
    expect(ds.map((d) => d.allowed)).toEqual([...Array(10).fill(true), false]);
    const last = ds[10] as PolicyDecision;
    expect([last.bindingPolicy, last.binding.limit, last.binding.windowMs, last.remaining]).toEqual([
      'campaigns',
      10,
      60_000,
      0,
    ]);
    expect(last.retryAfterMs).toBe(60_000);
  });

  it.each([
    ['startup', '/auth/login', 5],
    ['smallco', '/auth/login', 10],
    ['bigcorp', '/auth/login', 20],
    ['startup', '/auth/register', 3],
    ['startup', '/somewhere-else', 10],
    ['startup', 'llm:openai', 3],
    ['startup', 'llm:anthropic', 5],
    ['smallco', 'llm:gemini', 60],
  ])('%s on %s gets %d', async (tenant, endpoint, limit) => {
    const { limiter } = build(config);
    expect(allowed(await run(limiter, { tenant, user: 'user123', endpoint }, limit + 1))).toBe(limit);
  });

  it('endpoint limits count per user: another user of the tenant has their own', async () => {
    const { limiter } = build(config);
    await run(limiter, { tenant: 'startup', user: 'a', endpoint: '/auth/login' }, 5);
    expect((await limiter.check({ tenant: 'startup', user: 'a', endpoint: '/auth/login' })).allowed).toBe(
      false,
    );
    expect((await limiter.check({ tenant: 'startup', user: 'b', endpoint: '/auth/login' })).allowed).toBe(
      true,
    );
  });
});
