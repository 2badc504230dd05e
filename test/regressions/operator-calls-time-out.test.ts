import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError, ValidationError } from '../../src/core/errors.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

// #11: setMode and refresh() had no time budget: each waited out a 3 s CLIENT PAUSE. They now fail
// within `operatorTimeout` with a StoreError ERR_SLUICE_STORE_TIMEOUT naming the operation.
describe('operator calls have their own timeout', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  const timed = async (call: () => Promise<unknown>) => {
    const started = Date.now();
    const error = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error: error as StoreError, ms: Date.now() - started };
  };

  it('setMode and refresh() give up after operatorTimeout (300 ms) during a 3 s CLIENT PAUSE', async () => {
    const config = { store: { type: 'redis', url: server.url }, prefix: 'paused', refreshInterval: '1h' };
    const limiter = await PolicyLimiter.create({ config, operatorTimeout: 300 });
    try {
      expect(await limiter.setMode('shadow')).toBe(1);
      await admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
      const refresh = await timed(() => limiter.refresh());
      expect(refresh.error).toBeInstanceOf(StoreError);
      expect(refresh.error.code).toBe('ERR_SLUICE_STORE_TIMEOUT');
      expect(refresh.error.message).toBe(
        'redis store: refresh: no answer within the operator timeout (300 ms)',
      );
      expect(refresh.ms).toBeLessThan(1000);
      const set = await timed(() => limiter.setMode('disabled', 'tier'));
      expect(set.error).toBeInstanceOf(StoreError);
      expect(set.error.code).toBe('ERR_SLUICE_STORE_TIMEOUT');
      expect(set.error.message).toBe('redis store: setMode: no answer within the operator timeout (300 ms)');
      expect(set.ms).toBeLessThan(1000);
      expect(limiter.overrides).toEqual({ mode: 'shadow' });
    } finally {
      await limiter.close();
    }
  });

  it('operatorTimeout is validated', () => {
    for (const bad of [0, -1, 1.5, 600_001, 'soon', '11m']) {
      expect(() => new PolicyLimiter({ config: {}, operatorTimeout: bad })).toThrow(ValidationError);
    }
    expect(() => new PolicyLimiter({ config: {}, operatorTimeout: 600_001 })).toThrow(
      'operatorTimeout: 600001 must be from 1 ms to 10 minutes',
    );
    expect(() => new PolicyLimiter({ config: {}, operatorTimeout: '2s' })).not.toThrow();
  });
});
