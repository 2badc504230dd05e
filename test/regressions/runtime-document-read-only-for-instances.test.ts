import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/core/errors.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { redisAclRules } from '../../src/stores/redis/acl.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { createAclUser, type RedisServer, startRedis } from '../support/redis-servers.js';

// #11: the documented ACL let every instance SET the runtime overrides document, so one instance could
// switch enforcement off for the whole fleet. Instances now get a user that can only read it; operators
// get their own user that can write it.
describe('the runtime overrides document is read-only for instances', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
    await createAclUser(server, 'instance', 'i-secret', redisAclRules('ro'));
    await createAclUser(server, 'operator', 'o-secret', redisAclRules('ro', { operator: true }));
  });
  afterAll(async () => {
    await server?.stop();
  });

  const config = {
    prefix: 'ro',
    refreshInterval: '1h',
    tierPolicy: { concurrency: true },
    reputation: { block: { after: 3, duration: '1m' } },
    platform: { threshold: 1000, syncInterval: '1h' },
  };
  const as = (user: string, password: string) =>
    new RedisStore({ url: `redis://${user}:${password}@127.0.0.1:${server.port}` });

  it("an instance user decides requests but cannot write the document; the operator's user can", async () => {
    const instance = await PolicyLimiter.create({ config, store: as('instance', 'i-secret') });
    const operator = await PolicyLimiter.create({
      config,
      store: as('operator', 'o-secret'),
      actor: 'alice',
    });
    try {
      const first = await instance.check({ tenant: 't', user: 'u' });
      expect(first.allowed).toBe(true);
      expect(first.path).toBe('store');
      expect(first.remaining).toBe(9);

      // Redis itself refuses the instance's SET of the document key.
      const raw = (instance.store as RedisStore).client as Redis;
      await expect(raw.set('ro:{~runtime}:overrides', '9\n{"mode":"disabled"}')).rejects.toThrow(/NOPERM/);
      // And so does every operator call made through an instance.
      const refused = await instance.setMode('disabled').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(StoreError);
      expect((refused as StoreError).message).toContain('NOPERM');
      // It can still read it.
      expect(await raw.get('ro:{~runtime}:overrides')).toBeNull();

      // The operator's user writes it through the PolicyLimiter; the instance picks it up.
      expect(await operator.setMode('shadow')).toBe(1);
      await instance.refresh();
      expect(instance.configVersion).toBe(1);
      expect(instance.overrides).toEqual({ mode: 'shadow' });
      expect((await instance.check({ tenant: 't', user: 'u' })).shadowRejections).toEqual([]);
    } finally {
      await instance.close();
      await operator.close();
    }
  });

  it('the rules: instances read {~runtime} only, operators every key of the prefix', () => {
    expect(redisAclRules('ro').slice(0, 5)).toEqual([
      '~ro:{[^~]*',
      '~ro:{~platform}*',
      '~ro:{~index}*',
      '%R~ro:{~runtime}*',
      '-@all',
    ]);
    expect(redisAclRules('ro', { operator: true }).slice(0, 2)).toEqual(['~ro:*', '-@all']);
  });
});
