/**
 * Regression (#12.1): seed 001's HYBRID_RATE_LIMITING=true ran nothing beside the Redis limiter. It now
 * becomes `compare: { store: { type: memory } }`: the Redis store enforces, an in-process memory
 * limiter decides every request beside it (never blocking), and disagreements are counted (health) and
 * reported to onDisagreement.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/policy/config.js';
import { configFromEnv } from '../../src/policy/env.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { freshPrefix, useBackends } from './support.js';

/** Seed 001's windows, all wide but the hour's (3): exact counts, nothing depends on timing. */
const WINDOWS = {
  RATE_LIMIT_PER_SECOND: '1000',
  RATE_LIMIT_PER_MINUTE: '1000',
  RATE_LIMIT_PER_HOUR: '3',
  RATE_LIMIT_BURST: '1000',
};

describe('HYBRID_RATE_LIMITING', () => {
  const backends = useBackends();
  const open: PolicyLimiter[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  it('maps onto compare: { store: { type: memory } } next to the Redis store; false or unset: no comparison', () => {
    const env = { DISTRIBUTED_RATE_LIMITING_ENABLED: 'true', REDIS_URL: 'redis://cache:6379/0' };
    const doc = configFromEnv({ ...env, HYBRID_RATE_LIMITING: 'true' });
    expect(doc.compare).toEqual({ store: { type: 'memory' } });
    expect(parseConfig(doc).compare).toEqual({ store: { type: 'memory' } });
    expect(
      configFromEnv({ ...env, HYBRID_RATE_LIMITING: 'false' }, { compare: { store: { type: 'memory' } } })
        .compare,
    ).toBe(undefined);
    expect(configFromEnv(env).compare).toBe(undefined);
    expect(parseConfig(configFromEnv(env)).compare).toBe(undefined);
  });

  it('validated: a value that is not a boolean, and hybrid without the Redis store, are errors naming the variable', () => {
    expect(() =>
      configFromEnv({ DISTRIBUTED_RATE_LIMITING_ENABLED: 'true', HYBRID_RATE_LIMITING: 'maybe' }),
    ).toThrow('HYBRID_RATE_LIMITING: "maybe" must be true or false');
    expect(() => configFromEnv({ HYBRID_RATE_LIMITING: 'true' })).toThrow(
      /HYBRID_RATE_LIMITING: compares the Redis store with an in-process memory limiter: it needs the Redis store/,
    );
    expect(() => parseConfig({ compare: { store: { type: 'memory' }, stor: 1 } })).toThrow(/compare/);
    expect(() => parseConfig({ compare: { store: { type: 'redis' } } })).toThrow(
      'compare.store: a redis store needs exactly one of url, cluster, sentinel',
    );
  });

  it('Redis enforces, memory decides beside it: a request only Redis counted elsewhere is a disagreement (exact counts)', async () => {
    const redis = backends.redis();
    const prefix = freshPrefix();
    const env = { ...WINDOWS, DISTRIBUTED_RATE_LIMITING_ENABLED: 'true', HYBRID_RATE_LIMITING: 'true' };
    const disagreements: Array<{ primary: boolean; secondary: boolean; tenant: string }> = [];
    const hybrid = await PolicyLimiter.create({
      config: configFromEnv(env, { prefix }),
      store: redis.store,
      onDisagreement: (e) =>
        disagreements.push({ primary: e.primary, secondary: e.secondary, tenant: e.ctx.tenant }),
    });
    // Another instance on the same Redis, without hybrid mode.
    const other = await PolicyLimiter.create({
      config: configFromEnv({ ...WINDOWS, DISTRIBUTED_RATE_LIMITING_ENABLED: 'true' }, { prefix }),
      store: redis.store,
    });
    open.push(hybrid, other);
    const ctx = { tenant: 'acme', ip: '203.0.113.7' };
    const agreed = [await hybrid.check(ctx), await hybrid.check(ctx)];
    expect(agreed.map((d) => [d.allowed, d.comparison])).toEqual([
      [true, { allowed: true, agreed: true }],
      [true, { allowed: true, agreed: true }],
    ]);
    expect((await other.check(ctx)).allowed).toBe(true);
    // Redis has counted 3 of 3 this hour; the in-process limiter only the 2 it saw.
    const fourth = await hybrid.check(ctx);
    expect([fourth.allowed, fourth.path, fourth.comparison]).toEqual([
      false,
      'store',
      { allowed: true, agreed: false },
    ]);
    expect(disagreements).toEqual([{ primary: false, secondary: true, tenant: 'acme' }]);
    expect(hybrid.disagreements).toBe(1);
    const health = await hybrid.health();
    expect(health.comparison).toEqual({ backend: 'memory', disagreements: 1 });
    expect((await other.health()).comparison).toBe(null);
  });
});
