import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { RedisServer } from '../support/redis-servers.js';
import { useRedis } from './support.js';

// #11: every poll downloaded the whole overrides document (a 5 MiB one cost 50 MiB in 2 s). A poll now
// reads its head (version and size: a few bytes) and transfers the body only when the version changed.
async function stats(admin: Redis): Promise<{ get: number; getrange: number; strlen: number; out: number }> {
  const commands = await admin.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(commands)?.[1] ?? 0);
  const info = await admin.info('stats');
  return {
    get: calls('get'),
    getrange: calls('getrange'),
    strlen: calls('strlen'),
    out: Number(/total_net_output_bytes:(\d+)/.exec(info)?.[1]),
  };
}

describe('a poll of an unchanged document does not transfer its body', () => {
  let server: RedisServer;
  let admin: Redis;
  const redis = useRedis();
  beforeAll(() => {
    ({ server, admin } = redis);
  });

  it('ten polls of a ~600 KB document: no GET, a few hundred bytes each', async () => {
    const config = { store: { type: 'redis', url: server.url }, prefix: 'poll', refreshInterval: '1h' };
    // A large, valid document (as an operator tool would write it).
    const tenants: Record<string, { tier: string }> = {};
    for (let i = 0; i < 20_000; i++) tenants[`tenant-${i}`] = { tier: 'basic' };
    const body = JSON.stringify({ overrides: { tenants }, actor: 'bulk' });
    expect(body.length).toBeGreaterThan(500_000);
    await admin.set('poll:{~runtime}:overrides', `1\n${body}`);
    const instance = await PolicyLimiter.create({ config });
    try {
      expect(instance.configVersion).toBe(1);
      expect((await instance.check({ tenant: 'tenant-7' })).tier).toBe('basic');

      const start = await stats(admin);
      for (let i = 0; i < 10; i++) await instance.refresh();
      const end = await stats(admin);
      expect(end.get - start.get).toBe(0);
      expect(end.getrange - start.getrange).toBe(10);
      expect(end.strlen - start.strlen).toBe(10);
      // The INFO replies themselves are in this count; the body (10 x 600 KB) is not.
      expect(end.out - start.out).toBeLessThan(20_000);

      // A change is transferred once.
      await admin.set('poll:{~runtime}:overrides', `2\n${JSON.stringify({ overrides: { mode: 'shadow' } })}`);
      await instance.refresh();
      await instance.refresh();
      const after = await stats(admin);
      expect(after.get - end.get).toBe(1);
      expect(instance.configVersion).toBe(2);
      expect(instance.overrides).toEqual({ mode: 'shadow' });
    } finally {
      await instance.close();
    }
  });
});
