import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditLogger, PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

// #11: a change that arrived by poll left only an info line, with no audit event and no actor. The
// document now carries who wrote it, and every instance that picks a change up reports an audit event.
describe('a runtime change picked up from the store is an audit event naming its writer', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reports version, actor, before and after', async () => {
    const config = { store: { type: 'redis', url: server.url }, prefix: 'audit', refreshInterval: '1h' };
    const events: Array<{ level: string; object: Record<string, unknown> }> = [];
    const logger: AuditLogger = {
      info: (object) => events.push({ level: 'info', object }),
      warn: (object) => events.push({ level: 'warn', object }),
    };
    const operator = await PolicyLimiter.create({ config, actor: 'alice@ops' });
    const instance = await PolicyLimiter.create({ config, logger });
    try {
      const before = Date.now();
      expect(await operator.setMode('shadow')).toBe(1);
      await instance.refresh();
      const audits = events.filter((e) => e.object.event === 'sluice.audit');
      expect(audits).toHaveLength(1);
      const audit = audits[0] as (typeof audits)[number];
      expect(audit.level).toBe('warn');
      expect(audit.object).toMatchObject({
        event: 'sluice.audit',
        via: 'refresh',
        actor: 'alice@ops',
        version: 1,
        before: {},
        after: { mode: 'shadow' },
      });
      expect(audit.object.writtenAt as number).toBeGreaterThanOrEqual(before);
      // Unchanged: nothing more to report.
      await instance.refresh();
      expect(events.filter((e) => e.object.event === 'sluice.audit')).toHaveLength(1);
    } finally {
      await operator.close();
      await instance.close();
    }
  });
});
