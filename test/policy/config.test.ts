import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ManualClock } from '../../src/core/clock.js';
import { ConfigError, DEFAULT_TIERS, parseConfig } from '../../src/policy/config.js';
import { configFromEnv } from '../../src/policy/env.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

function issuesOf(doc: unknown): Array<{ path: string; message: string }> {
  try {
    parseConfig(doc);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration document', () => {
  it('fills defaults: seed 003 tier table, memory store, enforce, fail closed', () => {
    const config = parseConfig({});
    expect(config.tiers).toEqual(DEFAULT_TIERS);
    expect([config.defaultTier, config.store.type, config.mode, config.failureMode]).toEqual([
      'free',
      'memory',
      'enforce',
      'closed',
    ]);
    expect(config.refreshIntervalMs).toBe(1000);
  });

  it('catches a mistyped windowMS with the path of the field', () => {
    const issues = issuesOf({
      policies: [{ name: 'p', scope: 'global', limits: [{ limit: 5, windowMS: 1000 }] }],
    });
    expect(issues.map((i) => i.path)).toEqual(['policies[0].limits[0].windowMS']);
    expect(issues[0]?.message).toContain('unknown field');
  });

  it('reports every problem at once, each with its path', () => {
    const issues = issuesOf({
      polices: [],
      tiers: { free: { rps: 0 } },
      policies: [
        { name: 'a', scope: 'endpoint', limits: [{ limit: 5, window: '1 minute' }] },
        { name: 'a', scope: 'planet', limits: [] },
      ],
    });
    const paths = issues.map((i) => i.path).sort();
    expect(paths).toEqual(['', 'policies[1].scope', 'tiers.free.rps']);
    const second = issuesOf({
      defaultTier: 'gold',
      tierRules: [{ pattern: '/(/', tier: 'premium' }],
      tenants: { acme: { tier: 'platinum' } },
      policies: [
        { name: 'a', scope: 'endpoint', limits: [{ limit: 5, window: '1 minute' }] },
        { name: 'a', scope: 'global', tierLimits: { gold: [{ limit: 1, window: '1s' }] } },
      ],
    });
    expect(second.map((i) => i.path).sort()).toEqual([
      'defaultTier',
      'policies[0].limits[0].window',
      'policies[1].name',
      'policies[1].tierLimits',
      'policies[1].tierLimits.gold',
      'tenants.acme.tier',
      'tierRules[0].pattern',
    ]);
  });

  it('`sluice config validate FILE` prints the problems and exits 1, or 0 when valid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
    try {
      const bad = join(dir, 'bad.yaml');
      writeFileSync(
        bad,
        'policies:\n  - name: login\n    scope: endpoint\n    limits:\n      - { limit: 5, windowMS: 60000 }\n',
      );
      const good = join(dir, 'good.json');
      writeFileSync(
        good,
        JSON.stringify({
          policies: [{ name: 'login', scope: 'endpoint', limits: [{ limit: 5, window: '1m' }] }],
        }),
      );
      const out: string[] = [];
      const err: string[] = [];
      const sink = (into: string[]) => ({ write: (s: string) => into.push(s) });
      expect(await main(['config', 'validate', bad], sink(out), sink(err))).toBe(1);
      expect(err.join('')).toContain('policies[0].limits[0].windowMS: unknown field');
      expect(await main(['config', 'validate', good], sink(out), sink(err))).toBe(0);
      expect(out.join('')).toContain(
        'valid (1 policies, tiers free, basic, premium, enterprise, store memory, mode enforce)',
      );
      expect(await main(['config', 'check'], sink(out), sink(err))).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad reload is rejected and the running configuration is unchanged', async () => {
    const limiter = new PolicyLimiter({
      config: {
        tierPolicy: { enabled: false },
        policies: [{ name: 'p', scope: 'global', limits: [{ limit: 2, window: '1m' }] }],
      },
      store: new MemoryStore({ clock: new ManualClock().now }),
    });
    expect(() =>
      limiter.reload({
        policies: [{ name: 'p', scope: 'global', limits: [{ limit: 'lots', window: '1m' }] }],
      }),
    ).toThrow(/policies\[0\]\.limits\[0\]\.limit/);
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await limiter.check({ tenant: 't', user: 'u' })).allowed);
    expect(results).toEqual([true, true, false]);
    await limiter.close();
  });
});

describe('environment variables (seeds 001 and 003)', () => {
  it('seed 001: four windows, production overrides, Redis and fail-open switches', () => {
    const config = parseConfig(
      configFromEnv({
        RATE_LIMIT_PER_SECOND: '10',
        RATE_LIMIT_PER_MINUTE: '60',
        RATE_LIMIT_PER_HOUR: '1000',
        RATE_LIMIT_BURST: '20',
        RATE_LIMIT_BURST_WINDOW: '10',
        PRODUCTION_RATE_LIMIT_PER_MINUTE: '120',
        PRODUCTION_RATE_LIMIT_PER_HOUR: '2000',
        PRODUCTION_BURST_LIMIT: '30',
        ENVIRONMENT: 'production',
        DISTRIBUTED_RATE_LIMITING_ENABLED: 'true',
        REDIS_URL: 'redis://cache:6379/0',
        REDIS_CONNECTION_TIMEOUT: '5',
        REDIS_SOCKET_TIMEOUT: '10',
        REDIS_MAX_CONNECTIONS: '20',
        FAIL_OPEN_ON_REDIS_ERROR: 'false',
      }),
    );
    expect(config.policies[0]?.limits?.map((l) => [l.name, l.limit, l.window])).toEqual([
      ['second', 10, '1s'],
      ['minute', 120, '1m'],
      ['hour', 2000, '1h'],
      ['burst', 30, '10s'],
    ]);
    expect(config.store).toEqual({
      type: 'redis',
      url: 'redis://cache:6379/0',
      connectTimeout: '5s',
      commandTimeout: '10s',
      maxConnections: 20,
    });
    expect(config.failureMode).toBe('closed');
  });

  it('seed 003: tier quotas from AURUM_API_RATE_LIMIT_<TIER>_RPS/_BURST', () => {
    const config = parseConfig(
      configFromEnv({
        AURUM_API_RATE_LIMIT_FREE_RPS: '7',
        AURUM_API_RATE_LIMIT_FREE_BURST: '14',
        RATE_LIMIT_PREMIUM_RPS: '150',
      }),
    );
    expect(config.tiers.free).toEqual({ rps: 7, burst: 14, maxConcurrent: 50, priority: 0.5 });
    expect(config.tiers.premium?.rps).toBe(150);
  });

  it('rejects malformed values naming the variable', () => {
    expect(() =>
      configFromEnv({ RATE_LIMIT_PER_MINUTE: 'sixty', FAIL_OPEN_ON_REDIS_ERROR: 'maybe' }),
    ).toThrow(
      /RATE_LIMIT_PER_MINUTE: "sixty" must be a positive whole number[\s\S]*FAIL_OPEN_ON_REDIS_ERROR: "maybe" must be true or false/,
    );
  });
});
