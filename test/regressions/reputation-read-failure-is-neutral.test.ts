import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { freshPrefix } from './support.js';

// A reputation read that failed or came back late was read as 10^9 violations: the identity's limits
// were cut to 10 % (escalation 0.9) and that standing was cached for cacheTtl, so its next rejections
// were real ones. Unknown standing is neutral standing: no cut, nothing cached.

describe('reputation: a failed or late read is neutral standing', () => {
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

  it('a read past its budget cuts nothing, and the next decision has the full limit', async () => {
    const limiter = new PolicyLimiter({
      config: {
        prefix: freshPrefix(),
        failureMode: 'open',
        tierPolicy: { enabled: false },
        reputation: { escalation: { 2: 0.5, 3: 0.75, 5: 0.9 }, decay: '24h', cacheTtl: '10s' },
        policies: [{ name: 'login', scope: 'user', limits: [{ name: 'minute', limit: 10, window: '1m' }] }],
      },
      store: new RedisStore({ url: server.url }),
    });
    const ctx = { tenant: 'acme', user: 'alice' };
    try {
      await limiter.store.ready?.();
      // Far past the 50 ms budget, even when a loaded machine's event-loop lag extends the deadline.
      await admin.call('CLIENT', 'PAUSE', '1000');
      const during = await limiter.check(ctx);
      expect([during.allowed, during.reason, during.adaptiveFactor]).toEqual([true, 'fail_open', undefined]);
      await new Promise((r) => setTimeout(r, 1100));

      const after = await limiter.check(ctx);
      expect([after.allowed, after.path, after.violations, after.adaptiveFactor]).toEqual([
        true,
        'store',
        0,
        undefined,
      ]);
      // The full limit of 10, not 10 % of it. The decision abandoned during the pause still ran when
      // the server resumed (a script is never withdrawn), so two are counted.
      expect([after.binding.limit, after.remaining]).toEqual([10, 8]);
      let admitted = 0;
      for (let i = 0; i < 10; i++) if ((await limiter.check(ctx)).allowed) admitted++;
      expect(admitted).toBe(8);
    } finally {
      await limiter.close();
    }
  });
});
