import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/policy/config.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { freshPrefix, useBackends } from './support.js';

// A `tierLimits` table without a row for a tenant's tier silently skipped the policy for that tenant
// (the README's own example: acme, tier basic, never met its 5-per-minute login limit). Now a table
// needs a row for every tier the policy applies to, or a `default` row for the others (or `limits`);
// otherwise the configuration is a ConfigError naming the missing tiers. An empty row exempts a tier.

function issuesOf(doc: unknown): Array<{ path: string; message: string }> {
  try {
    parseConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map(({ path, message }) => ({ path, message }));
    throw err;
  }
  return [];
}

const MINUTE = [{ limit: 5, window: '1m' }];
const login = (tierLimits: unknown, extra: object = {}) => ({
  policies: [{ name: 'login', scope: 'endpoint', match: ['/auth/login'], tierLimits, ...extra }],
});

describe('a tierLimits table covers every tier', () => {
  it('names the tiers without a row when there is no default row', () => {
    expect(issuesOf(login({ free: MINUTE }))).toEqual([
      {
        path: 'policies[0].tierLimits',
        message:
          'has no row for tiers "basic", "premium", "enterprise": add them, or a "default" row for every tier without its own (an empty row, [], exempts a tier)',
      },
    ]);
    expect(issuesOf({ tiers: { free: { rps: 5 }, pro: { rps: 50 } }, ...login({ free: MINUTE }) })).toEqual([
      {
        path: 'policies[0].tierLimits',
        message:
          'has no row for tier "pro": add it, or a "default" row for every tier without its own (an empty row, [], exempts a tier)',
      },
    ]);
  });

  it('accepts a default row, an empty row, limits beside the table, or tiers restricting the policy', () => {
    expect(issuesOf(login({ free: MINUTE, default: MINUTE }))).toEqual([]);
    expect(issuesOf(login({ free: MINUTE, basic: [], premium: [], enterprise: [] }))).toEqual([]);
    expect(issuesOf(login({ free: MINUTE }, { limits: MINUTE }))).toEqual([]);
    expect(issuesOf(login({ free: MINUTE }, { tiers: ['free'] }))).toEqual([]);
  });

  it('refuses a default row beside limits: both would cover the same tiers', () => {
    expect(issuesOf(login({ free: MINUTE, default: MINUTE }, { limits: MINUTE }))).toEqual([
      {
        path: 'policies[0].tierLimits.default',
        message:
          'and limits both apply to the tiers without a row of their own: keep one (tierLimits.default, or limits)',
      },
    ]);
  });

  describe('decisions', () => {
    const backends = useBackends();

    it.each(['memory', 'redis'] as const)(
      'a tier without its own row gets the default row; a tier with one gets its own (%s)',
      async (name) => {
        const backend = name === 'memory' ? backends.memory() : backends.redis();
        const limiter = await PolicyLimiter.create({
          config: {
            prefix: freshPrefix(),
            tenants: { acme: { tier: 'basic' }, globex: { tier: 'premium' } },
            ...login({
              free: [{ limit: 2, window: '1m' }],
              premium: [],
              default: [{ limit: 3, window: '1m' }],
            }),
          },
          store: backend.store,
        });
        try {
          const run = async (tenant: string) => {
            const out: Array<[boolean, number, string[]]> = [];
            for (let i = 0; i < 4; i++) {
              const d = await limiter.check({ tenant, user: 'u1', endpoint: '/auth/login' });
              out.push([d.allowed, d.remaining, d.policies.map((p) => p.name)]);
            }
            return out;
          };
          // basic has no row: the default row, 3 per minute.
          expect(await run('acme')).toEqual([
            [true, 2, ['login', 'tier']],
            [true, 1, ['login', 'tier']],
            [true, 0, ['login', 'tier']],
            [false, 0, ['login', 'tier']],
          ]);
          // free (the default tier) has its own row, 2 per minute.
          expect((await run('initech')).map(([allowed, remaining]) => [allowed, remaining])).toEqual([
            [true, 1],
            [true, 0],
            [false, 0],
            [false, 0],
          ]);
          // premium is exempted by its empty row: only the tier policy applies.
          const premium = await run('globex');
          expect(premium.map(([allowed, , policies]) => [allowed, policies])).toEqual([
            [true, ['tier']],
            [true, ['tier']],
            [true, ['tier']],
            [true, ['tier']],
          ]);
        } finally {
          await limiter.close();
        }
      },
    );
  });
});
