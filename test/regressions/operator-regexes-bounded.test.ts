import { afterEach, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { type ConfigError, parseConfig } from '../../src/policy/config.js';
import { catastrophicPart, compilePattern, MAX_REGEX_INPUT } from '../../src/policy/patterns.js';
import { PolicySet } from '../../src/policy/resolve.js';

/**
 * Issue 11: operator "/regex/" patterns ran on every request, on client-controlled ids of any length;
 * a nested quantifier took 14.3 s for one check. Patterns that can backtrack catastrophically in a way
 * simple to see are refused at configuration time, a regex runs on at most MAX_REGEX_INPUT characters,
 * and results are cached per value (bounded), tier rules per tenant.
 */
describe('regression: operator regexes are vetted, bounded and cached', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('nested quantifiers, repeated alternations and backreferences are refused at configuration time', () => {
    for (const pattern of [
      '/^(a+)+$/',
      '/(a*)*b/',
      '/^(\\w+\\s?)*$/',
      '/(a|aa)+/',
      '/((ab)+c)*/',
      '/(x+){2,}/',
      '/(a)\\1/',
    ]) {
      expect(() => compilePattern(pattern, 'tierRules[0].pattern')).toThrow(ValidationError);
    }
    try {
      parseConfig({ tierRules: [{ pattern: '/^(a+)+$/', tier: 'premium' }] });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).issues).toEqual([
        {
          path: 'tierRules[0].pattern',
          message:
            'can backtrack catastrophically ((a+)+ repeats a group holding a quantifier): rewrite it without repeating a group that holds a quantifier or an alternation, or use a glob',
        },
      ]);
    }
    expect(
      () =>
        new PolicySet(
          parseConfig({
            policies: [
              { name: 'p', scope: 'user', match: ['/^(u|v)*$/'], limits: [{ limit: 1, window: '1s' }] },
            ],
          }),
        ),
    ).toThrow(/policies\.p\.match\[0\]: can backtrack catastrophically/);
    // Usual operator patterns are accepted.
    for (const source of [
      '^prem-',
      '^acme-[0-9]+$',
      '^(free|trial)-.+$',
      '^[a-z]+(?:-[a-z]+)?$',
      '^(ab)+$',
      '(a+)?x',
      '[(+)]+',
      '\\(a+\\)+',
      'a{2}(b+){1}',
    ])
      expect(catastrophicPart(source)).toBeUndefined();
  });

  it('a regex runs only on values of at most MAX_REGEX_INPUT characters', () => {
    const test = vi.spyOn(RegExp.prototype, 'test');
    const m = compilePattern('/^x+$/', 'p');
    expect(m.test('x'.repeat(MAX_REGEX_INPUT))).toBe(true);
    expect(m.test('x'.repeat(MAX_REGEX_INPUT + 1))).toBe(false);
    expect(test).toHaveBeenCalledTimes(1);
  });

  it('tier rules run once per tenant, not on every request', () => {
    const set = new PolicySet(
      parseConfig({
        tierRules: [
          { pattern: '/^prem-[a-z]+$/', tier: 'premium' },
          { pattern: 'ent-*', tier: 'enterprise' },
        ],
      }),
    );
    const test = vi.spyOn(RegExp.prototype, 'test');
    const tiers: string[] = [];
    for (let i = 0; i < 1000; i++) {
      tiers.push(
        set.tierOf({ tenant: 'prem-co' }),
        set.tierOf({ tenant: 'ent-bank' }),
        set.tierOf({ tenant: 'someone' }),
      );
    }
    expect(tiers.slice(0, 3)).toEqual(['premium', 'enterprise', 'free']);
    expect(new Set(tiers).size).toBe(3);
    // Before: 1000 x (1 + 1 + 1) regex runs (globs were regexes too). Now: each tenant once, globs none.
    expect(test).toHaveBeenCalledTimes(3);
  });

  it('policy match regexes remember their results per value (bounded)', () => {
    const m = compilePattern('/^admin-\\d+$/', 'p');
    const test = vi.spyOn(RegExp.prototype, 'test');
    for (let i = 0; i < 100; i++) expect(m.test('admin-7')).toBe(true);
    expect(test).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5000; i++) m.test(`user-${i}`);
    expect(test).toHaveBeenCalledTimes(5001);
    // admin-7 was pushed out by 5000 newer values (1024 are kept): one more run.
    m.test('admin-7');
    expect(test).toHaveBeenCalledTimes(5002);
  });
});
