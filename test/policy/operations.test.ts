import { describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { freshPrefix, useBackends } from '../regressions/support.js';

// Issue 12 (6): PolicyLimiter's operator and status calls, with the plain Limiter's semantics: peek
// (status without consuming), usage (every limit that applies), reset (one context's counters),
// resetTenant, block/unblock (tenant, user or IP) and refund. Sliding logs over an hour: exact on
// both stores whatever the time it takes.

describe('PolicyLimiter: peek, usage, reset, resetTenant, block, unblock, refund', () => {
  const backends = useBackends();

  const create = (backend: ReturnType<typeof backends.memory>) =>
    PolicyLimiter.create({
      config: {
        prefix: freshPrefix(),
        tiers: { free: { rps: 1 } },
        tierPolicy: { enabled: false },
        policies: [
          { name: 'per-tenant', scope: 'tenant', limits: [{ name: 'tenant-hour', limit: 10, window: '1h' }] },
          {
            name: 'per-user',
            scope: 'user',
            additive: true,
            limits: [{ name: 'user-hour', limit: 3, window: '1h' }],
          },
          {
            name: 'llm',
            scope: 'endpoint',
            match: ['llm:openai'],
            additive: true,
            mode: 'shadow',
            limits: [{ name: 'llm-hour', limit: 2, window: '1h' }],
          },
        ],
      },
      store: backend.store,
      ...(backend.clock ? { clock: backend.clock.now } : {}),
    });

  for (const name of ['memory', 'redis'] as const) {
    const backendOf = () => (name === 'memory' ? backends.memory() : backends.redis());

    it(`peek and usage read without consuming (${name})`, async () => {
      const limiter = await create(backendOf());
      try {
        const bob = { tenant: 'acme', user: 'bob', endpoint: 'llm:openai' };
        await limiter.check(bob);
        await limiter.check({ ...bob, cost: 2 });
        const peek = await limiter.peek(bob);
        expect([peek.allowed, peek.reason, peek.cost, peek.tier]).toEqual([true, 'allowed', 0, 'free']);
        // Most specific policy first: the user's, then the tenant's.
        expect(peek.limits.map((l) => [l.name, l.remaining])).toEqual([
          ['per-user.user-hour', 0],
          ['per-tenant.tenant-hour', 7],
        ]);
        expect([peek.binding.name, peek.bindingPolicy, peek.remaining]).toEqual([
          'per-user.user-hour',
          'per-user',
          0,
        ]);
        expect((await limiter.peek(bob)).limits.map((l) => l.remaining)).toEqual([0, 7]);
        const usage = await limiter.usage(bob);
        expect(
          usage.map((u) => [u.policy, u.mode, u.name, u.key, u.used, u.remaining, u.limit, u.windowMs]),
        ).toEqual([
          ['per-user', 'enforce', 'per-user.user-hour', 'u=bob', 3, 0, 3, 3_600_000],
          ['per-tenant', 'enforce', 'per-tenant.tenant-hour', undefined, 3, 7, 10, 3_600_000],
          // The shadow limit of 2 took the first request only (the second, of cost 2, did not fit).
          ['llm', 'shadow', 'llm.llm-hour', 'e=llm:openai|u=bob', 1, 1, 2, 3_600_000],
        ]);
        for (const u of usage) expect(u.resetAt).toBeGreaterThan(peek.at);
        // Carol's usage: the tenant's limit is shared, her own is untouched.
        const carol = await limiter.usage({ tenant: 'acme', user: 'carol' });
        expect(carol.map((u) => [u.name, u.used, u.remaining])).toEqual([
          ['per-user.user-hour', 0, 3],
          ['per-tenant.tenant-hour', 3, 7],
        ]);
        // A full limit peeks allowed (cost 0), and the next check is rejected.
        expect((await limiter.check(bob)).reason).toBe('rate_limited');
      } finally {
        await limiter.close();
      }
    });

    it(`reset forgets one context's counters; resetTenant every counter of the tenant (${name})`, async () => {
      const limiter = await create(backendOf());
      try {
        for (const user of ['bob', 'bob', 'carol']) await limiter.check({ tenant: 'acme', user });
        await limiter.check({ tenant: 'other', user: 'bob' });
        await limiter.reset({ tenant: 'acme', user: 'bob' });
        // Bob's own limit and the tenant's limit (both apply to his context) are reset; Carol's stays.
        expect((await limiter.usage({ tenant: 'acme', user: 'bob' })).map((u) => u.used)).toEqual([0, 0]);
        expect((await limiter.usage({ tenant: 'acme', user: 'carol' })).map((u) => u.used)).toEqual([1, 0]);
        // One policy's limits, or one limit, only.
        await limiter.check({ tenant: 'acme', user: 'carol' });
        await limiter.reset({ tenant: 'acme', user: 'carol' }, { policy: 'per-user' });
        expect((await limiter.usage({ tenant: 'acme', user: 'carol' })).map((u) => u.used)).toEqual([0, 1]);
        await limiter.check({ tenant: 'acme', user: 'carol' });
        await limiter.reset({ tenant: 'acme', user: 'carol' }, { limit: 'per-tenant.tenant-hour' });
        expect((await limiter.usage({ tenant: 'acme', user: 'carol' })).map((u) => u.used)).toEqual([1, 0]);
        await expect(limiter.reset({ tenant: 'acme' }, { name: 'x' } as never)).rejects.toMatchObject({
          field: 'only.name',
        });
        await limiter.check({ tenant: 'acme', user: 'carol' });
        await limiter.resetTenant('acme');
        expect((await limiter.usage({ tenant: 'acme', user: 'carol' })).map((u) => u.used)).toEqual([0, 0]);
        expect((await limiter.usage({ tenant: 'other', user: 'bob' })).map((u) => u.used)).toEqual([1, 1]);
        await expect(limiter.resetTenant('')).rejects.toMatchObject({ field: 'tenant' });
      } finally {
        await limiter.close();
      }
    });

    it(`block and unblock a user, an IP (also with a user) or a tenant (${name})`, async () => {
      const limiter = await create(backendOf());
      try {
        await limiter.block({ tenant: 'acme', user: 'bob' }, '10m');
        const bob = await limiter.check({ tenant: 'acme', user: 'bob' });
        expect([bob.allowed, bob.reason, bob.binding.name, bob.retryAfterMs]).toEqual([
          false,
          'blocked',
          'blocked',
          (bob.blockedUntil as number) - bob.at,
        ]);
        expect((await limiter.peek({ tenant: 'acme', user: 'bob' })).reason).toBe('blocked');
        expect((await limiter.check({ tenant: 'acme', user: 'carol' })).allowed).toBe(true);
        await limiter.unblock({ tenant: 'acme', user: 'bob' });
        expect((await limiter.check({ tenant: 'acme', user: 'bob' })).allowed).toBe(true);

        await limiter.block({ tenant: 'acme', ip: '203.0.113.9' }, 60_000);
        expect((await limiter.check({ tenant: 'acme', ip: '203.0.113.9' })).reason).toBe('blocked');
        expect((await limiter.check({ tenant: 'acme', user: 'dave', ip: '203.0.113.9' })).reason).toBe(
          'blocked',
        );
        expect((await limiter.check({ tenant: 'acme', user: 'dave', ip: '203.0.113.10' })).allowed).toBe(
          true,
        );
        await limiter.unblock({ tenant: 'acme', ip: '203.0.113.9' });
        expect((await limiter.check({ tenant: 'acme', user: 'dave', ip: '203.0.113.9' })).allowed).toBe(true);

        await limiter.block({ tenant: 'acme' }, '1m');
        expect((await limiter.check({ tenant: 'acme', user: 'erin' })).reason).toBe('blocked');
        expect((await limiter.check({ tenant: 'other', user: 'erin' })).allowed).toBe(true);
        await limiter.unblock({ tenant: 'acme' });
        expect((await limiter.check({ tenant: 'acme', user: 'erin' })).allowed).toBe(true);

        await expect(limiter.block({ tenant: 'acme', user: 'a', ip: '1.2.3.4' }, '1m')).rejects.toMatchObject(
          {
            field: 'target',
          },
        );
        await expect(limiter.block({ tenant: 'acme', users: 'a' } as never, '1m')).rejects.toMatchObject({
          field: 'target.users',
        });
        await expect(limiter.block({ tenant: 'acme' }, 'soon')).rejects.toMatchObject({ field: 'duration' });
      } finally {
        await limiter.close();
      }
    });

    it(`refund gives back an admitted decision's units (${name})`, async () => {
      const limiter = await create(backendOf());
      try {
        const ctx = { tenant: 'acme', user: 'bob' };
        const d = await limiter.check({ ...ctx, cost: 3 });
        expect(d.limits.map((l) => l.remaining)).toEqual([0, 7]);
        await limiter.refund(d, 1);
        expect((await limiter.peek(ctx)).limits.map((l) => l.remaining)).toEqual([1, 8]);
        await limiter.refund(d);
        await limiter.refund(d); // never more than it took
        expect((await limiter.peek(ctx)).limits.map((l) => l.remaining)).toEqual([3, 10]);
      } finally {
        await limiter.close();
      }
    });
  }
});
