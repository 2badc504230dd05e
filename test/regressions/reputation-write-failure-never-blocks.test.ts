import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { DecisionPlan, Store } from '../../src/stores/store.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { freshPrefix } from './support.js';

// A violation write that failed was read as the 10^9th violation: with `block: { after: 10 }` the
// identity was blocked for 15 minutes on its first violation. A failed write counts nothing and never
// blocks.

/** The Redis store, with the server paused for 150 ms right before the first violation write is sent. */
function pausingBeforeFirstViolationWrite(store: RedisStore, admin: Redis): Store {
  let paused = false;
  const isViolationWrite = (plan: DecisionPlan) =>
    !paused && plan.cost === 1 && plan.limits.some((l) => l.limit.name.startsWith('reputation.v'));
  const send = store.decideWithin?.bind(store) as NonNullable<Store['decideWithin']>;
  return new Proxy(store, {
    get(target, property) {
      if (property === 'decideWithin') {
        return (plan: DecisionPlan, keeper: Parameters<NonNullable<Store['decideWithin']>>[1]) => {
          if (!isViolationWrite(plan)) return send(plan, keeper);
          paused = true;
          return admin.call('CLIENT', 'PAUSE', '150').then(() => send(plan, keeper));
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('reputation: a failed violation write never blocks', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  it('the first violation, its write paused past the budget, blocks nobody', async () => {
    const redis = new RedisStore({ url: server.url });
    const limiter = await PolicyLimiter.create({
      config: {
        prefix: freshPrefix(),
        tierPolicy: { enabled: false },
        reputation: { decay: '24h', cacheTtl: '1ms', block: { after: 10, duration: '15m' } },
        policies: [
          { name: 'login', scope: 'endpoint', match: ['/login'], limits: [{ limit: 3, window: '1h' }] },
        ],
      },
      store: pausingBeforeFirstViolationWrite(redis, admin),
    });
    const login = { tenant: 'acme', user: 'alice', endpoint: '/login' };
    try {
      for (let i = 0; i < 3; i++) expect((await limiter.check(login)).allowed).toBe(true);
      const first = await limiter.check(login); // rejected; its violation write fails
      expect([first.allowed, first.reason, first.path, first.violations]).toEqual([
        false,
        'rate_limited',
        'store',
        0,
      ]);
      await new Promise((r) => setTimeout(r, 250));
      const elsewhere = await limiter.check({ ...login, endpoint: '/profile' });
      expect([elsewhere.allowed, elsewhere.reason]).toEqual([true, 'allowed']);
      // Not blocked: still over the login limit. The abandoned write still ran when the server resumed
      // (a script is never withdrawn), so this is the second violation counted, of the 10 that block.
      const again = await limiter.check(login);
      expect([again.reason, again.path, again.violations]).toEqual(['rate_limited', 'store', 2]);
    } finally {
      await limiter.close();
    }
  });
});
