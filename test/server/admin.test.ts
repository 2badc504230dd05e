import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { freshPrefix, useRedis } from '../regressions/support.js';
import { ADMIN, call, READER, TOKENS } from './support.js';

const A = '/admin/ratelimit';
const READS: Array<[string, string]> = [
  ['GET', `${A}/tenants`],
  ['GET', `${A}/tenants/acme`],
  ['GET', `${A}/tenants/acme/status?user=alice`],
  ['GET', `${A}/tenants/acme/top`],
  ['GET', `${A}/quotas`],
  ['GET', `${A}/audit`],
  ['GET', `${A}/health`],
];
const WRITES: Array<[string, string, unknown]> = [
  ['DELETE', `${A}/tenants/acme/reset`, undefined],
  ['POST', `${A}/tenants/acme/limits/reset`, {}],
  ['PUT', `${A}/tenants/acme/override`, { override: { rps: 50 } }],
  ['PUT', `${A}/tenants/acme/tier`, { tier: 'premium' }],
  ['PUT', `${A}/mode`, { mode: 'shadow' }],
  ['POST', `${A}/circuit-breaker/reset`, undefined],
  ['PUT', `${A}/circuit`, { state: 'open' }],
  ['PUT', `${A}/platform`, { state: null }],
  ['POST', `${A}/blocks`, { tenant: 'acme', user: 'eve', duration: '1m' }],
  ['DELETE', `${A}/blocks`, { tenant: 'acme', user: 'eve' }],
  ['POST', `${A}/reputation/reset`, { tenant: 'acme' }],
];

describe('admin API', () => {
  const redis = useRedis();
  let server: RunningServer;
  const config = {
    prefix: freshPrefix(),
    refreshInterval: 100,
    tierRules: [{ pattern: 'ent-*', tier: 'enterprise' }],
    tenants: { acme: { tier: 'basic' } },
    policies: [
      {
        name: 'per-user',
        scope: 'user',
        limits: [{ name: 'minute', algorithm: 'fixed-window', limit: 3, window: '1m' }],
      },
    ],
  };
  beforeAll(async () => {
    server = await startServer({
      config,
      store: new RedisStore({ url: redis.server.url }),
      port: 0,
      ...TOKENS,
    });
  });
  afterAll(() => server?.close());

  it('refuses every admin route without a token or with an unknown one (401), and every write with a read-only one (403)', async () => {
    for (const [method, path, body] of [...READS.map(([m, p]) => [m, p, undefined] as const), ...WRITES]) {
      for (const token of [undefined, 'not-a-token-0123456789abcdef', CALLER_LIKE]) {
        const answer = await call(server.url, method, path, body, token);
        expect([method, path, answer.status]).toEqual([method, path, 401]);
      }
    }
    for (const [method, path, body] of WRITES) {
      const answer = await call(server.url, method, path, body, READER);
      expect([method, path, answer.status, answer.body.detail]).toEqual([
        method,
        path,
        403,
        expect.stringContaining('read-only'),
      ]);
    }
    for (const [method, path] of READS) {
      expect([path, (await call(server.url, method, path, undefined, READER)).status]).toEqual([path, 200]);
    }
    // Nothing was changed by the refused writes.
    expect((await call(server.url, 'GET', `${A}/audit`, undefined, READER)).body.entries).toEqual([]);
  });

  it("seed 003: a tenant's tier burst, then an admin reset gives the tenant its quota back", async () => {
    const tenant = 'some-startup';
    // One batch: decided within milliseconds, before the free tier's 5/s refill adds a token.
    const burst = async () =>
      (await call(server.url, 'POST', '/v1/check/batch', { requests: Array(11).fill({ tenant }) })).body
        .results;
    const first = await burst();
    expect(first.filter((r: { allowed: boolean }) => r.allowed)).toHaveLength(10); // the free tier's burst
    expect([
      first[10].decision.tier,
      first[10].decision.bindingPolicy,
      first[10].decision.binding.limit,
    ]).toEqual(['free', 'tier', 10]);
    const reset = await call(server.url, 'DELETE', `${A}/tenants/${tenant}/reset`, undefined, ADMIN);
    expect(reset.body).toEqual({ reset: true });
    expect((await burst()).filter((r: { allowed: boolean }) => r.allowed)).toHaveLength(10);
    const detail = await call(server.url, 'GET', `${A}/tenants/ent-bank`, undefined, READER);
    expect([
      detail.body.tier,
      detail.body.limits.find((l: { name: string }) => l.name === 'tier.rps')?.limit,
    ]).toEqual(['enterprise', 1000]);
    const trail = (await call(server.url, 'GET', `${A}/audit`, undefined, READER)).body.entries;
    expect(trail[0]).toMatchObject({ actor: 'ops', action: 'tenant.reset', target: 'some-startup' });
  });

  it("one identity's status, the tenant index and the top limited identities", async () => {
    for (let i = 0; i < 5; i++)
      await call(server.url, 'POST', '/v1/check', { tenant: 'acme', user: 'alice' });
    for (let i = 0; i < 4; i++) await call(server.url, 'POST', '/v1/check', { tenant: 'acme', user: 'bob' });
    await server.parts.activity.flush();
    const status = await call(server.url, 'GET', `${A}/tenants/acme/status?user=alice`, undefined, READER);
    const minute = status.body.limits.find((l: { name: string }) => l.name === 'per-user.minute');
    expect([status.body.tier, minute.used, minute.remaining, minute.limit]).toEqual(['basic', 3, 0, 3]);
    const tenants = (await call(server.url, 'GET', `${A}/tenants`, undefined, READER)).body.tenants;
    expect(tenants.map((t: { tenant: string }) => t.tenant)).toContain('acme');
    const top = (await call(server.url, 'GET', `${A}/tenants/acme/top`, undefined, READER)).body.top;
    expect(top).toEqual([
      { identity: 'user:alice', binding: 'per-user/per-user.minute', rejected: 2 },
      { identity: 'user:bob', binding: 'per-user/per-user.minute', rejected: 1 },
    ]);
  });

  it('runtime changes take effect on the next decision, and are audited with the actor', async () => {
    const ctx = { tenant: 'acme', user: 'carol' };
    const check = async () => (await call(server.url, 'POST', '/v1/check', ctx)).body;
    for (let i = 0; i < 3; i++) await check();
    expect((await check()).allowed).toBe(false);
    const mode = await call(server.url, 'PUT', `${A}/mode`, { mode: 'shadow', policy: 'per-user' }, ADMIN);
    expect(mode.status).toBe(200);
    const shadowed = await check();
    expect([shadowed.allowed, shadowed.decision.shadowRejections]).toEqual([true, ['per-user']]);
    await call(server.url, 'PUT', `${A}/mode`, { mode: null, policy: 'per-user' }, ADMIN);
    expect((await check()).allowed).toBe(false);
    await call(
      server.url,
      'POST',
      `${A}/tenants/acme/limits/reset`,
      { user: 'carol', policy: 'per-user' },
      ADMIN,
    );
    expect((await check()).allowed).toBe(true);
    await call(server.url, 'POST', `${A}/blocks`, { tenant: 'acme', user: 'carol', duration: '1m' }, ADMIN);
    expect((await check()).decision.reason).toBe('blocked');
    await call(server.url, 'DELETE', `${A}/blocks`, { tenant: 'acme', user: 'carol' }, ADMIN);
    expect((await check()).allowed).toBe(true);
    const actions = (await call(server.url, 'GET', `${A}/audit?count=5`, undefined, READER)).body.entries.map(
      (e: { actor: string; action: string; target: string }) => `${e.actor} ${e.action} ${e.target}`,
    );
    expect(actions).toEqual([
      'ops unblock acme/user:carol',
      'ops block acme/user:carol',
      'ops limits.reset acme/user:carol',
      'ops mode.set per-user',
      'ops mode.set per-user',
    ]);
  });

  it('refuses bad admin bodies and queries with 400 naming the field', async () => {
    const mode = await call(server.url, 'PUT', `${A}/mode`, { mode: 'off' }, ADMIN);
    expect([mode.status, mode.body.field]).toEqual([400, 'body.mode']);
    const tier = await call(server.url, 'PUT', `${A}/tenants/acme/tier`, { tier: 'gold' }, ADMIN);
    expect([tier.status, tier.body.detail]).toEqual([400, expect.stringContaining('gold')]);
    const count = await call(server.url, 'GET', `${A}/audit?count=0`, undefined, ADMIN);
    expect([count.status, count.body.field]).toEqual([400, 'query.count']);
    const block = await call(
      server.url,
      'POST',
      `${A}/blocks`,
      { tenant: 'acme', duration: 'forever' },
      ADMIN,
    );
    expect(block.status).toBe(400);
  });
});

const CALLER_LIKE = 'caller-token-0123456789abcdef';

describe('without admin tokens', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ config: {}, port: 0 });
  });
  afterAll(() => server?.close());

  it('the admin API does not exist (404 on every route, token or not)', async () => {
    for (const [method, path, body] of [...READS.map(([m, p]) => [m, p, undefined] as const), ...WRITES]) {
      expect([path, (await call(server.url, method, path, body, ADMIN)).status]).toEqual([path, 404]);
    }
  });
});
