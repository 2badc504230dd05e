import { describe, expect, it } from 'vitest';
import { countsIdentity } from '../../../src/policy/stages/resolve.js';
import { parts } from './support.js';

describe('stage resolve: tier, identity and the cached shape of a request', () => {
  const doc = {
    reputation: { decay: '1h' },
    tenants: { acme: { tier: 'premium' } },
    policies: [
      { name: 'per-user', scope: 'user', additive: true, limits: [{ limit: 5, window: '1m' }] },
      {
        name: 'watch',
        scope: 'tenant',
        mode: 'shadow',
        additive: true,
        limits: [{ limit: 9, window: '1m' }],
      },
    ],
  };

  it('starts a check with everything later stages read, and neutral adjustments', () => {
    const { set, resolver } = parts(doc);
    const check = resolver.resolve(set, 7, { tenant: 'acme', user: 'u1', cost: 2 });
    expect([check.tier, check.identity, check.cost, check.epoch, check.configVersion]).toEqual([
      'premium',
      'u=u1',
      2,
      0,
      7,
    ]);
    expect([check.byLoad, check.byReputation, check.standing, check.violations]).toEqual([
      1,
      1,
      undefined,
      undefined,
    ]);
    expect(check.shape.enforced.map((a) => a.policy.name)).toEqual(['per-user', 'tier']);
    expect(check.shape.shadow.map((a) => a.policy.name)).toEqual(['watch']);
    // The per-user limit counts this user; the tier's bucket is the tenant's.
    expect(check.shape.countsIdentity).toEqual([true, false]);
  });

  it('hands a repeated request the same shape, and refuses reserved tenants', () => {
    const { set, resolver } = parts(doc);
    const a = resolver.resolve(set, 0, { tenant: 'acme', user: 'u1' });
    const b = resolver.resolve(set, 0, { tenant: 'acme', user: 'u1' });
    expect(b.shape).toBe(a.shape);
    expect(resolver.resolve(set, 0, { tenant: 'acme', user: 'u2' }).shape).not.toBe(a.shape);
    expect(() => resolver.resolve(set, 0, { tenant: '~platform' })).toThrow(/reserved/);
  });

  it('no identity without reputation', () => {
    const { set, resolver } = parts({ ...doc, reputation: { enabled: false } });
    expect(resolver.resolve(set, 0, { tenant: 'acme', user: 'u1' }).identity).toBeUndefined();
  });

  it('countsIdentity: own counters only (user, identity, endpoint-identity; IP only without a user)', () => {
    const user = { tenant: 't', user: 'u', ip: '10.0.0.1' };
    const ip = { tenant: 't', ip: '10.0.0.1' };
    const table = (
      ['identity', 'endpoint-identity', 'user', 'ip', 'tenant', 'endpoint', 'role'] as const
    ).map((by) => [by, countsIdentity(by, user), countsIdentity(by, ip)]);
    expect(table).toEqual([
      ['identity', true, true],
      ['endpoint-identity', true, true],
      ['user', true, true],
      ['ip', false, true],
      ['tenant', false, false],
      ['endpoint', false, false],
      ['role', false, false],
    ]);
  });
});
