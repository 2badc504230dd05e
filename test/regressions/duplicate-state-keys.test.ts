/**
 * Issue 10, defect 1: two checks of one decision on one state key. Memory charged the key twice per
 * decision and Redis once, so the same calls admitted different counts. Now: duplicate checks in one
 * decision are a ValidationError naming both, two limits of one policy may not share a name, and the
 * state-key identity of a policy limit keeps the policy's name and the limit's name apart.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ValidationError } from '../../src/core/errors.js';
import type { LimitDefinition } from '../../src/core/types.js';
import { createLimiter } from '../../src/limiter.js';
import { ConfigError, parseConfig } from '../../src/policy/config.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { PolicyDefinition } from '../../src/policy/types.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { Store } from '../../src/stores/store.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

let server: RedisServer;
let admin: Redis;
const opened: Store[] = [];

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url);
  const store = new RedisStore({ url: server.url });
  opened.push(store);
  await store.ready();
});

afterAll(async () => {
  for (const store of opened) await store.close().catch(() => undefined);
  admin?.disconnect();
  await server?.stop();
});

let prefixes = 0;
const backends = {
  memory: () => new MemoryStore({ clock: new ManualClock().now }),
  // Connected in beforeAll: decisions made before a store's first connection fail at once.
  redis: () => opened[0] as RedisStore,
} as const;

const perMinute = (limit: number, name = 'reads'): LimitDefinition => ({
  name,
  algorithm: 'sliding-log',
  limit,
  window: '1m',
});

describe.each(['memory', 'redis'] as const)('one state key, two checks (%s)', (backend) => {
  it('decide() with two checks of one name, window and algorithm for one key is a ValidationError naming both', async () => {
    const limiter = createLimiter({ store: backends[backend](), prefix: `dup${prefixes++}` });
    const checks = [
      { limit: perMinute(5), key: 'k' },
      { limit: perMinute(50, 'other'), key: 'k' },
      { limit: perMinute(5), key: 'k' },
    ];
    let error: unknown;
    try {
      await limiter.decide({ tenant: 't', checks });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const v = error as ValidationError;
    expect([v.code, v.field]).toEqual(['ERR_SLUICE_INVALID_LIMIT', 'checks[2]']);
    expect(v.message).toContain('checks[0] and checks[2] share state key');
    expect(v.message).toContain(':{t}:s:k:reads:sl60000');
    // Nothing was consumed; the two checks on different keys are fine and admit exactly 5 of 7.
    let admitted = 0;
    for (let i = 0; i < 7; i++) {
      const d = await limiter.decide({
        tenant: 't',
        checks: [
          { limit: perMinute(5), key: 'k' },
          { limit: perMinute(5), key: 'other-key' },
        ],
      });
      if (d.allowed) admitted++;
    }
    expect(admitted).toBe(5);
  });

  it('two unnamed limits of one policy (same default name) are refused, with the path', async () => {
    const policies: PolicyDefinition[] = [
      {
        name: 'api',
        scope: 'tenant',
        limits: [
          { algorithm: 'sliding-log', limit: 5, window: '1m' },
          { algorithm: 'sliding-log', limit: 10, window: '1m' },
        ],
      },
    ];
    let error: unknown;
    try {
      new PolicyLimiter({
        config: { tierPolicy: { enabled: false }, policies },
        store: backends[backend](),
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        path: 'policies[0].limits[1].name',
        message:
          'duplicate limit name "sliding-log-1m" (also policies[0].limits[0]; unnamed limits are named ' +
          '<algorithm>-<window>): give each limit of a policy its own name',
      },
    ]);
  });

  it('policy "api" + limit "v1.read" and policy "api.v1" + limit "read" count apart (5 + 5 of 5 + 5)', async () => {
    const prefix = `dup${prefixes++}`;
    const limiter = new PolicyLimiter({
      config: {
        prefix,
        tierPolicy: { enabled: false },
        policies: [
          {
            name: 'api',
            scope: 'endpoint',
            match: ['/a'],
            countBy: 'tenant',
            limits: [perMinute(5, 'v1.read')],
          },
          {
            name: 'api.v1',
            scope: 'endpoint',
            match: ['/b'],
            countBy: 'tenant',
            limits: [perMinute(5, 'read')],
          },
        ],
      },
      store: backends[backend](),
    });
    const admitted = { '/a': 0, '/b': 0 };
    for (let i = 0; i < 7; i++) {
      for (const endpoint of ['/a', '/b'] as const) {
        const d = await limiter.check({ tenant: 't', endpoint });
        // The displayed name stays readable; only the key identity is escaped.
        expect(d.limits.map((l) => l.name)).toEqual(['api.v1.read']);
        if (d.allowed) admitted[endpoint]++;
      }
    }
    expect(admitted).toEqual({ '/a': 5, '/b': 5 });
    if (backend === 'redis') {
      expect((await admin.keys(`${prefix}:*`)).sort()).toEqual([
        `${prefix}:{t}:s:*:api%2Ev1.read:sl60000`,
        `${prefix}:{t}:s:*:api.v1%2Eread:sl60000`,
      ]);
    }
  });
});

describe('configuration validation', () => {
  it('reports duplicate limit names inside one policy with a path, in limits and in tierLimits', () => {
    let error: unknown;
    try {
      parseConfig({
        policies: [
          {
            name: 'p',
            scope: 'tenant',
            limits: [
              { name: 'x', limit: 1, window: '1s' },
              { name: 'x', limit: 2, window: '1s' },
            ],
          },
          {
            name: 'q',
            scope: 'tenant',
            tiers: ['free'],
            tierLimits: {
              free: [
                { limit: 1, window: '1h' },
                { limit: 2, window: '1h' },
              ],
            },
          },
        ],
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
      'policies[0].limits[1].name',
      'policies[1].tierLimits.free[1].name',
    ]);
  });
});
