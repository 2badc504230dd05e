/**
 * `GET /admin/ratelimit/tenants/{tenant}/llm-usage`: the service reads the LLM usage that an
 * application's LlmLimiter wrote to the same Redis (same prefix), per provider and model, per user;
 * admin tokens only (a read-only one is enough), problem bodies naming the bad query field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter } from '../../src/index.js';
import { LlmLimiter } from '../../src/llm/index.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { freshPrefix, useRedis } from '../regressions/support.js';
import { ADMIN, CALLER, call, READER, TOKENS } from './support.js';

const A = '/admin/ratelimit';

describe('admin API: LLM usage', () => {
  const redis = useRedis();
  const prefix = freshPrefix();
  let server: RunningServer;
  let llm: LlmLimiter;

  beforeAll(async () => {
    server = await startServer({
      config: { prefix, failure: { budget: '5s' }, policies: [] },
      store: new RedisStore({ url: redis.server.url }),
      port: 0,
      ...TOKENS,
    });
    // The application: its own connection to the same Redis, the same prefix.
    const store = new RedisStore({ url: redis.server.url });
    await store.ready();
    llm = new LlmLimiter({
      limiter: createLimiter({ store, prefix }),
      prices: { 'gpt-4o': { input: 2.5, output: 10 }, 'claude-haiku': { input: 1, output: 5 } },
    });
    const calls: Array<[string, 'openai' | 'anthropic', string, number, number]> = [
      ['alice', 'openai', 'gpt-4o', 1000, 200],
      ['alice', 'openai', 'gpt-4o', 1000, 200],
      ['bob', 'anthropic', 'claude-haiku', 400, 100],
    ];
    for (const [user, provider, model, inputTokens, outputTokens] of calls) {
      const reservation = await llm.reserve(
        { user, tenant: 'acme', tier: 'pro' },
        { provider, model, inputTokens, maxOutputTokens: 500 },
      );
      await reservation.settle({ inputTokens, outputTokens });
    }
  });
  afterAll(async () => {
    await llm?.close();
    await server?.close();
  });

  it('answers a tenant’s usage per provider and model, and its top users, as the applications recorded it', async () => {
    const { status, body } = await call(server.url, 'GET', `${A}/tenants/acme/llm-usage`, undefined, READER);
    expect(status).toBe(200);
    // What the application's LlmLimiter reads itself (`since` aside: the hour may turn between the two).
    expect({ ...body, since: 0 }).toEqual({ ...(await llm.tenantUsage('acme')), since: 0 });
    expect(body.totals).toEqual({
      calls: 3,
      inputTokens: 2400,
      outputTokens: 500,
      cachedInputTokens: 0,
      // 2 x (1000 x 2.5 + 200 x 10) / 1e6 + (400 x 1 + 100 x 5) / 1e6
      costUsd: 9_900_000 / 1e9,
    });
    expect(body.models.map((m: { model: string; calls: number }) => [m.model, m.calls])).toEqual([
      ['gpt-4o', 2],
      ['claude-haiku', 1],
    ]);
    expect([body.hours, body.identities, body.top]).toEqual([
      24,
      2,
      [
        { user: 'alice', tokens: 2400 },
        { user: 'bob', tokens: 500 },
      ],
    ]);
    const top1 = await call(server.url, 'GET', `${A}/tenants/acme/llm-usage?hours=2&top=1`, undefined, ADMIN);
    expect([top1.body.hours, top1.body.top]).toEqual([2, [{ user: 'alice', tokens: 2400 }]]);
  });

  it('answers one user’s usage with ?user=, and zeros for a tenant without calls', async () => {
    const before = Date.now();
    const bob = await call(
      server.url,
      'GET',
      `${A}/tenants/acme/llm-usage?user=bob&hours=6`,
      undefined,
      ADMIN,
    );
    const after = Date.now();
    expect(bob.status).toBe(200);
    expect(bob.body).toEqual({
      tenant: 'acme',
      user: 'bob',
      hours: 6,
      since: bob.body.since,
      totals: { calls: 1, inputTokens: 400, outputTokens: 100, cachedInputTokens: 0, costUsd: 900_000 / 1e9 },
      models: [
        {
          provider: 'anthropic',
          model: 'claude-haiku',
          calls: 1,
          inputTokens: 400,
          outputTokens: 100,
          cachedInputTokens: 0,
          costUsd: 0.0009,
        },
      ],
    });
    // The current hour and the 5 before it (the hour may turn during the call).
    const sinceAt = (t: number) => (Math.floor(t / 3_600_000) - 5) * 3_600_000;
    expect([sinceAt(before), sinceAt(after)]).toContain(bob.body.since);
    const none = await call(server.url, 'GET', `${A}/tenants/quiet/llm-usage`, undefined, ADMIN);
    expect([none.status, none.body.totals.calls, none.body.models, none.body.top]).toEqual([200, 0, [], []]);
  });

  it('needs an admin token (401 without one or with a caller token)', async () => {
    for (const token of [undefined, CALLER]) {
      const { status, body } = await call(server.url, 'GET', `${A}/tenants/acme/llm-usage`, undefined, token);
      expect([status, body.status, body.title]).toEqual([401, 401, 'Unauthorized']);
    }
  });

  it('refuses bad queries with a problem body naming the field (400)', async () => {
    const cases: Array<[string, string]> = [
      ['hours=0', 'query.hours'],
      ['hours=745', 'query.hours'],
      ['hours=1.5', 'query.hours'],
      ['hours=abc', 'query.hours'],
      ['top=101', 'query.top'],
      ['user=', 'query.user'],
      ['days=2', 'query.days'],
    ];
    for (const [query, field] of cases) {
      const { status, headers, body } = await call(
        server.url,
        'GET',
        `${A}/tenants/acme/llm-usage?${query}`,
        undefined,
        ADMIN,
      );
      expect([query, status, body.field]).toEqual([query, 400, field]);
      expect(headers.get('content-type')).toContain('application/problem+json');
    }
  });
});
