import { describe, expect, it } from 'vitest';
import { type ConfigError, parseConfig } from '../../src/policy/config.js';
import { configFromEnv } from '../../src/policy/env.js';

/** Seed 004's environment (REDIS_*, RATE_LIMIT_ENABLED, RATE_LIMIT_DEFAULT), validated by variable. */
describe('seed 004 environment variables', () => {
  const issuesOf = (env: Record<string, string>) => {
    try {
      configFromEnv(env);
    } catch (error) {
      return (error as ConfigError).issues.map((i) => i.path);
    }
    return [];
  };

  it('REDIS_ENABLED with host, port, password and database makes the Redis URL', () => {
    const doc = configFromEnv({
      REDIS_ENABLED: 'true',
      REDIS_HOST: 'cache.internal',
      REDIS_PORT: '6380',
      REDIS_PASSWORD: 'p@ss:word',
      REDIS_DB: '2',
    });
    expect(doc.store).toEqual({ type: 'redis', url: 'redis://:p%40ss%3Aword@cache.internal:6380/2' });
    expect(parseConfig(doc).store).toMatchObject({ type: 'redis' });
    // An empty password is no password; defaults for what is not given.
    expect(configFromEnv({ REDIS_ENABLED: 'true', REDIS_PASSWORD: '' }).store).toEqual({
      type: 'redis',
      url: 'redis://localhost:6379/0',
    });
    expect(configFromEnv({ REDIS_ENABLED: 'false', REDIS_HOST: 'x' }).store).toEqual({ type: 'memory' });
  });

  it('RATE_LIMIT_DEFAULT=10/minute is the default limit of every request', () => {
    const config = parseConfig(configFromEnv({ RATE_LIMIT_DEFAULT: '10/minute' }));
    const policy = config.policies.find((p) => p.name === 'env-defaults');
    expect(policy?.limits?.map((l) => [l.name, l.limit, l.window])).toEqual([['default', 10, '1m']]);
    for (const [raw, windowMs] of [
      ['5/second', '1s'],
      ['100 / hours', '1h'],
      ['7/d', '1d'],
    ] as const) {
      const p = parseConfig(configFromEnv({ RATE_LIMIT_DEFAULT: raw })).policies.find(
        (x) => x.name === 'env-defaults',
      );
      expect(p?.limits?.[0]?.window, raw).toBe(windowMs);
    }
    // Beside seed 001's windows when one of theirs is set.
    const both = parseConfig(configFromEnv({ RATE_LIMIT_DEFAULT: '10/minute', RATE_LIMIT_PER_SECOND: '3' }));
    expect(both.policies.find((p) => p.name === 'env-defaults')?.limits?.map((l) => l.name)).toEqual([
      'second',
      'minute',
      'hour',
      'burst',
      'default',
    ]);
  });

  it('RATE_LIMIT_ENABLED=false switches limiting off', () => {
    expect(parseConfig(configFromEnv({ RATE_LIMIT_ENABLED: 'false' })).mode).toBe('disabled');
    expect(parseConfig(configFromEnv({ RATE_LIMIT_ENABLED: 'true' })).mode).toBe('enforce');
  });

  it('every bad value is an error naming its variable', () => {
    expect(issuesOf({ RATE_LIMIT_DEFAULT: '10/fortnight' })).toEqual(['RATE_LIMIT_DEFAULT']);
    expect(issuesOf({ RATE_LIMIT_DEFAULT: '10/ms' })).toEqual(['RATE_LIMIT_DEFAULT']);
    expect(issuesOf({ RATE_LIMIT_DEFAULT: '0/minute' })).toEqual(['RATE_LIMIT_DEFAULT']);
    expect(issuesOf({ RATE_LIMIT_ENABLED: 'maybe' })).toEqual(['RATE_LIMIT_ENABLED']);
    expect(issuesOf({ REDIS_ENABLED: 'yes please' })).toEqual(['REDIS_ENABLED']);
    expect(issuesOf({ REDIS_ENABLED: 'true', REDIS_PORT: '70000' })).toEqual(['REDIS_PORT']);
    expect(issuesOf({ REDIS_ENABLED: 'true', REDIS_DB: '-1' })).toEqual(['REDIS_DB']);
    expect(issuesOf({ REDIS_ENABLED: 'true', REDIS_HOST: 'a b' })).toEqual(['REDIS_HOST']);
    expect(issuesOf({ REDIS_ENABLED: 'true', DISTRIBUTED_RATE_LIMITING_ENABLED: 'false' })).toEqual([
      'REDIS_ENABLED',
    ]);
  });
});
