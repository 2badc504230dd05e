import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SluiceError } from '../../src/core/errors.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { MAX_OVERRIDES_BYTES } from '../../src/policy/runtime.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

// #11: the runtime overrides document had no size bound. It is now at most MAX_OVERRIDES_BYTES (1 MiB):
// a larger write is refused with a clear error, a larger document in the store is reported and ignored
// (and never downloaded).
describe('the runtime overrides document is bounded', () => {
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

  const bigBody = () => {
    const tenants: Record<string, { tier: string }> = {};
    for (let i = 0; i < 50_000; i++) tenants[`tenant-${i}`] = { tier: 'basic' };
    return JSON.stringify({ tenants });
  };

  it('a document over 1 MiB in the store is reported once and ignored, never downloaded', async () => {
    expect(MAX_OVERRIDES_BYTES).toBe(1_048_576);
    const config = { store: { type: 'redis', url: server.url }, prefix: 'big', refreshInterval: '1h' };
    const errors: Error[] = [];
    const instance = await PolicyLimiter.create({ config, onConfigError: (e) => errors.push(e) });
    try {
      expect(await instance.setTenantTier('t', 'premium')).toBe(1);
      const body = bigBody();
      expect(body.length).toBeGreaterThan(MAX_OVERRIDES_BYTES);
      await admin.set('big:{~runtime}:overrides', `2\n${body}`);
      const gets = async () =>
        Number(/cmdstat_get:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
      const before = await gets();
      await instance.refresh();
      await instance.refresh();
      expect(await gets()).toBe(before);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.message).toContain(`runtime overrides v2 is invalid`);
      expect(errors[0]?.message).toContain(
        `${body.length + 2} bytes, more than the 1048576 accepted: ignored`,
      );
      expect(instance.configVersion).toBe(1);
      expect((await instance.check({ tenant: 't' })).tier).toBe('premium');
      expect((await instance.health()).configError).toContain('more than the 1048576 accepted');
    } finally {
      await instance.close();
    }
  });

  it('an operator write that would exceed 1 MiB is refused and nothing is written', async () => {
    const config = { store: { type: 'redis', url: server.url }, prefix: 'bigw', refreshInterval: '1h' };
    // A document just under the bound (written by hand), which one more tenant pushes past it.
    const keep: Record<string, { tier: string }> = {};
    // `1\n{"overrides":{"tenants":{` ... `}}}`, one `"tenant-<i>":{"tier":"basic"},` per tenant.
    let length = '1\n{"overrides":{"tenants":{}}}'.length - 1;
    for (let i = 0; length < MAX_OVERRIDES_BYTES - 200; i++) {
      keep[`tenant-${i}`] = { tier: 'basic' };
      length += `"tenant-${i}":{"tier":"basic"},`.length;
    }
    const stored = `1\n${JSON.stringify({ overrides: { tenants: keep } })}`;
    expect(stored.length).toBeGreaterThan(MAX_OVERRIDES_BYTES - 200);
    expect(stored.length).toBeLessThan(MAX_OVERRIDES_BYTES);
    await admin.set('bigw:{~runtime}:overrides', stored);
    const operator = await PolicyLimiter.create({ config, actor: 'bob' });
    try {
      expect(operator.configVersion).toBe(1);
      const error = (await operator
        .setTenantOverride(`a-new-tenant-${'x'.repeat(240)}`, { tier: 'enterprise', rps: 1000, burst: 2000 })
        .catch((e: unknown) => e)) as SluiceError;
      expect(error.code).toBe('ERR_SLUICE_DOCUMENT_TOO_LARGE');
      expect(error.message).toMatch(
        /^setTenantOverride: the runtime overrides would be \d+ bytes, more than the 1048576 accepted; nothing was written$/,
      );
      expect(await admin.get('bigw:{~runtime}:overrides')).toBe(stored);
      expect(operator.configVersion).toBe(1);
    } finally {
      await operator.close();
    }
  });
});
