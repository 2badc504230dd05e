import { describe, expect, it } from 'vitest';
import type { ValidationError } from '../../src/core/errors.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { RequestContext } from '../../src/policy/types.js';
import { freshPrefix, useBackends } from './support.js';

// Issue 12 (1): `check({})`, `check({ tenant: undefined })` and `check({ tenantId: 'acme' })` were
// admitted with no limits at all (`remaining: Infinity`), and `tenant: null` threw a bare TypeError. A
// missing or invalid tenant is now a ValidationError naming `tenant`, and an unknown key of the
// context is one naming it (with a did-you-mean and the accepted keys).

async function caught(p: Promise<unknown>): Promise<ValidationError> {
  try {
    await p;
  } catch (error) {
    return error as ValidationError;
  }
  throw new Error('expected a rejection');
}

describe('regression: a request context is validated', () => {
  const backends = useBackends();

  for (const name of ['memory', 'redis'] as const) {
    it(`a missing, empty or non-string tenant, or an unknown key, is refused (${name})`, async () => {
      const backend = name === 'memory' ? backends.memory() : backends.redis();
      const limiter = await PolicyLimiter.create({
        config: { prefix: freshPrefix(), tiers: { free: { rps: 1, burst: 2 } } },
        store: backend.store,
        ...(backend.clock ? { clock: backend.clock.now } : {}),
      });
      try {
        const bad = (ctx: unknown) => caught(limiter.check(ctx as RequestContext));
        for (const ctx of [{}, { tenant: undefined }, { tenant: null }, { tenant: '' }, { tenant: 42 }]) {
          const error = await bad(ctx);
          expect([error.name, error.code, error.field]).toEqual([
            'ValidationError',
            'ERR_SLUICE_INVALID_IDENTIFIER',
            'tenant',
          ]);
        }
        expect((await bad({ tenant: null })).message).toBe(
          'tenant: is required: a non-empty string (got null)',
        );
        for (const ctx of [null, undefined, 'acme', ['acme']]) {
          expect((await bad(ctx)).field).toBe('ctx');
        }
        const unknown = await bad({ tenant: 'acme', tenantId: 'acme' });
        expect([unknown.name, unknown.field]).toEqual(['ValidationError', 'ctx.tenantId']);
        expect(unknown.message).toBe(
          'ctx.tenantId: unknown option; expected one of tenant, user, roles, ip, endpoint, tier, cost, routeLimits',
        );
        expect((await bad({ tenant: 'acme', User: 'bob' })).message).toContain('(did you mean "user"?)');
        expect((await bad({ tenantId: 'acme' })).field).toBe('tenant');
        // Peek, usage and reset validate the same way.
        expect((await caught(limiter.peek({} as RequestContext))).field).toBe('tenant');
        expect((await caught(limiter.usage({ tenant: 'a', route: '/x' } as never))).field).toBe('ctx.route');
        expect((await caught(limiter.reset({ tenant: undefined } as never))).field).toBe('tenant');
        // Nothing was counted by the refused requests: the tier's bucket of 2 is whole.
        const ok = await limiter.check({ tenant: 'acme', user: 'bob', endpoint: '/x', cost: 1 });
        expect([ok.allowed, ok.remaining, ok.binding.limit]).toEqual([true, 1, 2]);
        // A repeated shape with a new unknown key is still refused (the shape cache does not skip it).
        expect((await bad({ tenant: 'acme', user: 'bob', endpoint: '/x', extra: 1 })).field).toBe(
          'ctx.extra',
        );
      } finally {
        await limiter.close();
      }
    });
  }
});
