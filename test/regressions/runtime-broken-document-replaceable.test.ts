import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { RedisServer } from '../support/redis-servers.js';
import { useRedis } from './support.js';

// #11: a document without a version wedged every operator write (ERR_SLUICE_CONFLICT forever), and a
// document with bad JSON made every write throw. A broken document is now reported, and an operator
// write replaces it (over the overrides the writer has in force), with a version that keeps moving on.
describe('a broken runtime overrides document is reported and replaceable through the API', () => {
  let server: RedisServer;
  let admin: Redis;
  const redis = useRedis();
  beforeAll(() => {
    ({ server, admin } = redis);
  });

  it('no version: reported, then replaced by setMode at the next version', async () => {
    const config = { store: { type: 'redis', url: server.url }, prefix: 'nover', refreshInterval: '1h' };
    const errors: Error[] = [];
    const operator = await PolicyLimiter.create({ config, actor: 'carol' });
    const instance = await PolicyLimiter.create({ config, onConfigError: (e) => errors.push(e) });
    try {
      expect(await operator.setTenantTier('t', 'basic')).toBe(1);
      await instance.refresh();
      expect(instance.configVersion).toBe(1);
      await admin.set('nover:{~runtime}:overrides', '{"mode":"disabled"}');
      await instance.refresh();
      await instance.refresh();
      expect(errors).toHaveLength(1);
      expect(errors[0]?.message).toBe(
        'runtime overrides is invalid:\n  - (root): has no version (expected "<version>\\n<JSON>"): ignored; an operator write (setMode, setTenantOverride...) replaces it',
      );
      expect(instance.configVersion).toBe(1);
      expect((await instance.health()).configError).toContain('has no version');

      expect(await operator.setMode('shadow')).toBe(2);
      const raw = (await admin.get('nover:{~runtime}:overrides')) as string;
      expect(raw.startsWith('2\n')).toBe(true);
      expect(JSON.parse(raw.slice(2))).toMatchObject({
        overrides: { tenants: { t: { tier: 'basic' } }, mode: 'shadow' },
        actor: 'carol',
      });
      await instance.refresh();
      expect(instance.configVersion).toBe(2);
      expect(instance.overrides).toEqual({ tenants: { t: { tier: 'basic' } }, mode: 'shadow' });
      expect(instance.lastConfigError).toBeUndefined();
    } finally {
      await operator.close();
      await instance.close();
    }
  });

  it('bad JSON or invalid content under a version: reported, then replaced by the next write', async () => {
    const config = { store: { type: 'redis', url: server.url }, prefix: 'badjson', refreshInterval: '1h' };
    const errors: Error[] = [];
    const operator = await PolicyLimiter.create({ config, onConfigError: (e) => errors.push(e) });
    try {
      await admin.set('badjson:{~runtime}:overrides', '4\n{not json');
      await operator.refresh();
      expect(errors.at(-1)?.message).toMatch(/^runtime overrides v4 is invalid:\n {2}- \(root\): not JSON: /);
      expect(await operator.setTenantTier('t', 'premium')).toBe(5);
      expect(operator.overrides).toEqual({ tenants: { t: { tier: 'premium' } } });

      await admin.set('badjson:{~runtime}:overrides', '9\n{"mode":"sometimes"}');
      await operator.refresh();
      expect(errors.at(-1)?.message).toContain('runtime overrides v9 is invalid');
      expect(await operator.setMode('shadow')).toBe(10);
      expect(operator.overrides).toEqual({ tenants: { t: { tier: 'premium' } }, mode: 'shadow' });
    } finally {
      await operator.close();
    }
  });
});
