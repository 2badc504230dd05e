import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { freshPrefix } from './support.js';

// A platform sync that failed (or missed its budget) was read as 10^9 requests per second: one short
// CLIENT PAUSE opened the platform breaker and shed the lowest tier on a healthy store, for the whole
// resetTimeout. A failed sync is unknown traffic: the breaker does not move towards open, and the rate
// reported stays the last one measured.

describe('platform protection: a failed sync is unknown traffic, never maximal traffic', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    admin.on('error', () => undefined); // the outage test kills the server under it
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  // The README's own example: threshold 5000 rps, synced every second, 30 s reset timeout.
  const config = (prefix: string) => ({
    prefix,
    failureMode: 'open',
    tenants: { f: { tier: 'free' }, e: { tier: 'enterprise' } },
    platform: { threshold: 5000, syncInterval: '1s', resetTimeout: '30s' },
  });

  it('a 150 ms CLIENT PAUSE during a sync neither opens the breaker nor sheds a tier', async () => {
    const limiter = new PolicyLimiter({
      config: config(freshPrefix()),
      store: new RedisStore({ url: server.url }),
    });
    try {
      await limiter.store.ready?.();
      const guard = limiter.platform!;
      for (let i = 0; i < 10; i++) expect((await limiter.check({ tenant: 'f' })).allowed).toBe(true);
      await guard.sync();
      expect([guard.state, guard.shedLevel, guard.lastRate]).toEqual(['closed', 0, 10]);

      await limiter.check({ tenant: 'f' });
      await admin.call('CLIENT', 'PAUSE', '150');
      await guard.sync(); // past its 50 ms budget
      expect(guard.lastError).toBeDefined();
      expect([guard.state, guard.shedLevel, guard.lastRate]).toEqual(['closed', 0, 10]);
      await new Promise((r) => setTimeout(r, 200));

      const after = await limiter.check({ tenant: 'f' });
      expect([after.allowed, after.reason, after.path]).toEqual([true, 'allowed', 'store']);
    } finally {
      await limiter.close();
    }
  });

  it('nor does an outage: failed syncs keep it closed while failure modes decide, and after', async () => {
    const limiter = new PolicyLimiter({
      config: config(freshPrefix()),
      store: new RedisStore({ url: server.url }),
    });
    try {
      await limiter.store.ready?.();
      const guard = limiter.platform!;
      await limiter.check({ tenant: 'f' });
      await server.kill();
      for (let i = 0; i < 6; i++) {
        const d = await limiter.check({ tenant: 'f' });
        expect([d.allowed, d.reason]).toEqual([true, 'fail_open']);
        await guard.sync();
        expect([guard.state, guard.shedLevel, guard.lastRate]).toEqual(['closed', 0, 0]);
      }
      await server.restart();
      const after = await limiter.check({ tenant: 'f' });
      expect(after.allowed).toBe(true);
      expect(after.reason).not.toBe('shed');
    } finally {
      await limiter.close();
    }
  });
});
