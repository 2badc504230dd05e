import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SluiceError } from '../../src/core/errors.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { RedisServer } from '../support/redis-servers.js';
import { useRedis } from './support.js';

// #11: PolicyLimiter.create() waited out a 3 s CLIENT PAUSE (connecting, then reading the runtime
// overrides). It now resolves within `operatorTimeout`, started on the configuration without the
// runtime overrides, and says so; the poller picks them up once the store answers.
describe('PolicyLimiter.create() is bounded by operatorTimeout', () => {
  let server: RedisServer;
  let admin: Redis;
  const redis = useRedis();
  beforeAll(() => {
    ({ server, admin } = redis);
  });

  it('resolves within 400 ms during a 3 s CLIENT PAUSE, reports it, then catches up by polling', async () => {
    const config = { store: { type: 'redis', url: server.url }, prefix: 'slow', refreshInterval: '100ms' };
    await admin.set('slow:{~runtime}:overrides', `3\n${JSON.stringify({ overrides: { mode: 'shadow' } })}`);
    await admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
    const errors: Error[] = [];
    const started = Date.now();
    const limiter = await PolicyLimiter.create({
      config,
      operatorTimeout: 400,
      onConfigError: (e) => errors.push(e),
    });
    try {
      const ms = Date.now() - started;
      expect(ms).toBeLessThan(1000);
      expect(limiter.configVersion).toBe(0);
      expect(errors).toHaveLength(1);
      expect((errors[0] as SluiceError).code).toBe('ERR_SLUICE_STORE_TIMEOUT');
      expect(errors[0]?.message).toMatch(
        /^redis store: create \((connecting|first read)\): no answer within the operator timeout \(400 ms\); started without the runtime overrides \(the poller retries every 100 ms\)$/,
      );
      expect((await limiter.health()).configError).toContain('started without the runtime overrides');
      // Once the pause is over, the poller loads the overrides.
      const deadline = Date.now() + 5000;
      while (limiter.configVersion === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(limiter.configVersion).toBe(3);
      expect(limiter.overrides).toEqual({ mode: 'shadow' });
    } finally {
      await limiter.close();
    }
  });
});
