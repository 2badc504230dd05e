import { afterEach, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { parseConfig } from '../../src/policy/config.js';
import { MAX_CONTEXT_FIELD, MAX_ROLES, PolicySet } from '../../src/policy/resolve.js';

/**
 * Issue 11: request fields of any length reached pattern matching and the resolution caches (an
 * endpoint or user of megabytes was matched, then kept in a cache key). Fields too long to be valid
 * are now refused before any matching: tenant over 256 bytes, endpoint, user or IP over 1024
 * characters, more than 32 roles or a role over 256 characters.
 */
describe('regression: request fields too long to be valid are refused before any matching', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const set = new PolicySet(
    parseConfig({
      tierRules: [{ pattern: '/^prem-/', tier: 'premium' }],
      policies: [
        { name: 'api', scope: 'endpoint', match: ['/^\\/api\\//'], limits: [{ limit: 5, window: '1s' }] },
        {
          name: 'admins',
          scope: 'role',
          match: ['/^admin$/'],
          additive: true,
          limits: [{ limit: 5, window: '1s' }],
        },
      ],
    }),
  );

  const refused = (ctx: Parameters<PolicySet['choose']>[0]) => {
    const test = vi.spyOn(RegExp.prototype, 'test');
    try {
      set.choose(ctx, set.tierOf(ctx));
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe('ERR_SLUICE_INVALID_IDENTIFIER');
      expect(test).toHaveBeenCalledTimes(0);
      test.mockRestore();
      return (error as ValidationError).field;
    }
    test.mockRestore();
    return 'accepted';
  };

  it('refuses each field past its bound, and accepts it at the bound', () => {
    const long = (n: number) => `/api/${'x'.repeat(n - 5)}`;
    expect(refused({ tenant: 't', endpoint: long(MAX_CONTEXT_FIELD) })).toBe('accepted');
    expect(refused({ tenant: 't', endpoint: long(MAX_CONTEXT_FIELD + 1) })).toBe('endpoint');
    expect(refused({ tenant: 't', endpoint: long(16 * 1024 * 1024) })).toBe('endpoint');
    expect(refused({ tenant: 'p'.repeat(257) })).toBe('tenant');
    expect(refused({ tenant: 't', user: 'u'.repeat(MAX_CONTEXT_FIELD + 1) })).toBe('user');
    expect(refused({ tenant: 't', ip: '1'.repeat(MAX_CONTEXT_FIELD + 1) })).toBe('ip');
    expect(refused({ tenant: 't', roles: Array(MAX_ROLES + 1).fill('admin') })).toBe('roles');
    expect(refused({ tenant: 't', roles: ['admin', 'r'.repeat(257)] })).toBe('roles[1]');
    expect(refused({ tenant: 't', roles: Array(MAX_ROLES).fill('admin') })).toBe('accepted');
  });

  it('what is accepted still resolves as before', () => {
    const ctx = { tenant: 'prem-co', endpoint: '/api/users', roles: ['admin'] };
    const tier = set.tierOf(ctx);
    expect(tier).toBe('premium');
    expect(set.choose(ctx, tier).map((a) => a.policy.name)).toEqual(['api', 'admins', 'tier']);
  });
});
