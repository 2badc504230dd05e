import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { configFromEnv } from '../../src/policy/env.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { EPOCH, freshPrefix, useRedis } from '../regressions/support.js';
import { CALLER, call, seed004Config } from './support.js';

describe('decision API on Redis', () => {
  const redis = useRedis();
  let server: RunningServer;
  beforeAll(async () => {
    const store = new RedisStore({ url: redis.server.url });
    server = await startServer({ config: seed004Config({ prefix: freshPrefix() }), store, port: 0 });
  });
  afterAll(() => server?.close());

  it('seed 004: the 11th request to /campaigns in a minute is refused, with the headers a gateway copies', async () => {
    const ctx = { tenant: 'startup', user: 'user123', endpoint: '/campaigns' };
    const answers = [];
    for (let i = 0; i < 11; i++) answers.push((await call(server.url, 'POST', '/v1/check', ctx)).body);
    expect(answers.map((a) => a.allowed)).toEqual([...Array(10).fill(true), false]);
    const last = answers[10];
    expect([
      last.status,
      last.decision.bindingPolicy,
      last.decision.binding.limit,
      last.decision.remaining,
    ]).toEqual([429, 'campaigns', 10, 0]);
    expect(last.headers['x-ratelimit-limit']).toBe('10');
    expect(last.headers['x-ratelimit-remaining']).toBe('0');
    expect(last.headers['retry-after']).toBe('60');
    expect(last.headers['ratelimit-policy']).toContain('q=10;w=60');
    expect(answers[0].headers['x-ratelimit-remaining']).toBe('9');
  });

  it('?answer=compact answers only what a gateway copies: allowed, status and the headers', async () => {
    const ctx = { tenant: 'compact-co', user: 'user123', endpoint: '/campaigns' };
    const answers = [];
    for (let i = 0; i < 11; i++) {
      answers.push((await call(server.url, 'POST', '/v1/check?answer=compact', ctx)).body);
    }
    expect(answers.map((a) => a.allowed)).toEqual([...Array(10).fill(true), false]);
    const last = answers[10];
    expect(Object.keys(last)).toEqual(['allowed', 'status', 'headers']);
    expect([last.status, last.headers['x-ratelimit-remaining'], last.headers['retry-after']]).toEqual([
      429,
      '0',
      '60',
    ]);
    const batch = await call(server.url, 'POST', '/v1/check/batch?answer=compact', { requests: [ctx, ctx] });
    expect(batch.body.results.map((r: object) => Object.keys(r))).toEqual([
      ['allowed', 'status', 'headers'],
      ['allowed', 'status', 'headers'],
    ]);
    const peek = await call(server.url, 'POST', '/v1/peek?answer=compact', ctx);
    expect(Object.keys(peek.body)).toEqual(['allowed', 'status', 'headers']);
    // The whole verdict stays the default, whatever else the query says.
    const full = await call(server.url, 'POST', '/v1/peek?answer=full&other=1', ctx);
    expect(full.body.decision.remaining).toBe(0);
    const bad = await call(server.url, 'POST', '/v1/check?answer=short', ctx);
    expect([bad.status, bad.body.field]).toEqual([400, 'query.answer']);
  });

  it('a batch decides each request in order; peek consumes nothing; a refund gives back', async () => {
    const ctx = { tenant: 'batch-co', user: 'u', endpoint: '/auth/login' };
    const batch = await call(server.url, 'POST', '/v1/check/batch', { requests: Array(6).fill(ctx) });
    expect(batch.body.results.map((r: { allowed: boolean }) => r.allowed)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
    ]);
    const peek = await call(server.url, 'POST', '/v1/peek', ctx);
    expect(peek.body.decision.remaining).toBe(0);
    const refund = await call(server.url, 'POST', '/v1/refund', { decision: batch.body.results[4].decision });
    expect(refund.body).toEqual({ refunded: true });
    const again = await call(server.url, 'POST', '/v1/check', ctx);
    expect([again.body.allowed, again.body.decision.remaining]).toEqual([true, 0]);
  });

  it('decides ad-hoc limits, all or nothing', async () => {
    const limits = [
      { name: 'small', algorithm: 'fixed-window', limit: 2, window: '1m' },
      { name: 'large', algorithm: 'fixed-window', limit: 100, window: '1h' },
    ];
    const body = { tenant: 'adhoc', key: 'k', limits };
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await call(server.url, 'POST', '/v1/limits/check', body)).body);
    expect(answers.map((a) => a.allowed)).toEqual([true, true, false]);
    expect(answers[2].decision.limits.map((l: { remaining: number }) => l.remaining)).toEqual([0, 98]);
  });

  it('decides ad-hoc limits asked costs of their own (requests and tokens at once), refunded per limit', async () => {
    const limits = [
      { name: 'rpm', algorithm: 'sliding-log', limit: 10, window: '1m' },
      { name: 'tpm', algorithm: 'sliding-log', limit: 1000, window: '1m' },
    ];
    const body = { tenant: 'adhoc-costs', key: 'k', limits, costs: [1, 600] };
    const first = await call(server.url, 'POST', '/v1/limits/check', body);
    expect(first.body.decision.limits.map((l: { remaining: number }) => l.remaining)).toEqual([9, 400]);
    const refused = await call(server.url, 'POST', '/v1/limits/check', body);
    expect([refused.body.allowed, refused.body.decision.binding.name]).toEqual([false, 'tpm']);
    const refund = await call(server.url, 'POST', '/v1/refund', {
      decision: first.body.decision,
      units: [0, 500],
    });
    expect(refund.body).toEqual({ refunded: true });
    const after = await call(server.url, 'POST', '/v1/limits/check', { ...body, costs: [0, 0] });
    expect(after.body.decision.limits.map((l: { remaining: number }) => l.remaining)).toEqual([9, 900]);
    const mismatch = await call(server.url, 'POST', '/v1/limits/check', { ...body, costs: [1] });
    expect([mismatch.status, mismatch.body.field]).toEqual([400, 'body.costs']);
    const tooMuch = await call(server.url, 'POST', '/v1/refund', {
      decision: first.body.decision,
      units: [0, 601],
    });
    expect([tooMuch.status, tooMuch.body.field]).toEqual([400, 'units[1]']);
  });

  it('renews a lease over HTTP: the renewed one is released, then nothing is left to renew', async () => {
    const limits = [{ name: 'inflight', algorithm: 'concurrency', limit: 1, window: '1m' }];
    const body = { tenant: 'adhoc-renew', key: 'k', limits };
    const first = await call(server.url, 'POST', '/v1/limits/check', body);
    const lease = first.body.decision.lease;
    const renewed = await call(server.url, 'POST', '/v1/renew', { lease });
    expect(renewed.body.renewed).toBe(true);
    expect(renewed.body.lease.slots).toEqual(lease.slots);
    expect(renewed.body.lease.acquiredAt).toBeGreaterThanOrEqual(lease.acquiredAt);
    expect((await call(server.url, 'POST', '/v1/limits/check', body)).body.allowed).toBe(false);
    await call(server.url, 'POST', '/v1/release', { lease: renewed.body.lease });
    expect(
      await call(server.url, 'POST', '/v1/renew', { lease: renewed.body.lease }).then((r) => r.body),
    ).toEqual({
      renewed: false,
      lease: null,
    });
    const bad = await call(server.url, 'POST', '/v1/renew', { lease: { id: '?' } });
    expect([bad.status, bad.body.field]).toEqual([400, 'lease']);
  });

  it('refuses bad bodies with 400 naming the field, and oversized ones', async () => {
    const unknown = await call(server.url, 'POST', '/v1/check', { tenant: 'a', usr: 'x' });
    expect([unknown.status, unknown.body.field]).toEqual([400, 'body.usr']);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    const noTenant = await call(server.url, 'POST', '/v1/check', { user: 'x' });
    expect([noTenant.status, noTenant.body.field]).toEqual([400, 'body.tenant']);
    const badTenant = await call(server.url, 'POST', '/v1/check', { tenant: '' });
    expect([badTenant.status, badTenant.body.field]).toEqual([400, 'tenant']);
    const badCost = await call(server.url, 'POST', '/v1/check', { tenant: 'a', cost: -1 });
    expect([badCost.status, badCost.body.field]).toEqual([400, 'cost']);
    const tooMany = await call(server.url, 'POST', '/v1/check/batch', {
      requests: Array(101).fill({ tenant: 'a' }),
    });
    expect([tooMany.status, tooMany.body.field]).toEqual([400, 'body.requests']);
    const huge = await call(server.url, 'POST', '/v1/check', { tenant: 'a', user: 'x'.repeat(300_000) });
    expect(huge.status).toBe(413);
    const notJson = await fetch(`${server.url}/v1/check`, {
      method: 'POST',
      body: 'tenant=a',
      headers: { 'content-type': 'text/plain' },
    });
    expect(notJson.status).toBe(415);
    const badJson = await fetch(`${server.url}/v1/check`, {
      method: 'POST',
      body: '{',
      headers: { 'content-type': 'application/json' },
    });
    expect(badJson.status).toBe(400);
  });

  it('health, readiness and metrics that move with decisions', async () => {
    expect((await call(server.url, 'GET', '/livez')).body).toEqual({ status: 'ok' });
    expect((await call(server.url, 'GET', '/readyz')).body).toEqual({ ready: true });
    const health = await call(server.url, 'GET', '/health');
    expect([health.status, health.body.status, health.body.ratelimit.store.backend]).toEqual([
      200,
      'healthy',
      'redis',
    ]);
    const count = async () => {
      const text = (await call(server.url, 'GET', '/metrics')).body as string;
      const lines = text
        .split('\n')
        .filter((l) => l.startsWith('sluice_decisions_total{') && l.includes('tenant') === false);
      return lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    };
    const before = await count();
    for (let i = 0; i < 3; i++) await call(server.url, 'POST', '/v1/check', { tenant: 'metrics-co' });
    expect((await count()) - before).toBe(3);
  });
});

describe('seed 001: four windows from the environment, the binding window in the answer', () => {
  let server: RunningServer;
  const clock = new ManualClock(EPOCH);
  beforeAll(async () => {
    const env = {
      RATE_LIMIT_PER_SECOND: '10',
      RATE_LIMIT_PER_MINUTE: '60',
      RATE_LIMIT_PER_HOUR: '1000',
      RATE_LIMIT_BURST: '20',
    };
    const config = { ...configFromEnv(env), tierPolicy: { enabled: false } };
    server = await startServer({ config, store: new MemoryStore({ clock: clock.now }), port: 0 });
  });
  afterAll(() => server?.close());

  it('second, then burst, then minute bind, and X-RateLimit-Type says which', async () => {
    const ctx = { tenant: 'org-1', user: 'u1' };
    const check = async () => (await call(server.url, 'POST', '/v1/check', ctx)).body;
    const first = [];
    for (let i = 0; i < 11; i++) first.push(await check());
    expect(first.filter((a) => a.allowed)).toHaveLength(10);
    expect([first[10].decision.binding.name, first[10].headers['x-ratelimit-type']]).toEqual([
      'env-defaults.second',
      'env-defaults.second',
    ]);
    clock.advance(1000);
    const second = [];
    for (let i = 0; i < 11; i++) second.push(await check());
    expect(second[10].decision.binding.name).toBe('env-defaults.burst');
  });
});

describe('caller tokens', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ config: {}, port: 0, apiTokens: [{ name: 'gateway', token: CALLER }] });
  });
  afterAll(() => server?.close());

  it('refuses every decision route without the token, with 401 and a problem', async () => {
    for (const path of [
      '/v1/check',
      '/v1/check/batch',
      '/v1/peek',
      '/v1/refund',
      '/v1/release',
      '/v1/renew',
      '/v1/limits/check',
    ]) {
      for (const token of [undefined, 'wrong-token-0123456789abcdef']) {
        const answer = await call(server.url, 'POST', path, { tenant: 'a' }, token);
        expect([path, answer.status, answer.body.status]).toEqual([path, 401, 401]);
      }
    }
    expect((await call(server.url, 'POST', '/v1/check', { tenant: 'a' }, CALLER)).body.allowed).toBe(true);
    // Health stays open for probes.
    expect((await call(server.url, 'GET', '/livez')).status).toBe(200);
  });
});

describe('shutdown', () => {
  it('readiness fails first, then the listener closes, then the store', async () => {
    const store = new MemoryStore();
    const server = await startServer({ config: {}, store, port: 0, readinessGraceMs: 300 });
    expect((await call(server.url, 'GET', '/readyz')).status).toBe(200);
    const closed = server.close();
    const during = await call(server.url, 'GET', '/readyz');
    expect([during.status, during.body]).toEqual([503, { ready: false, reason: 'shutting down' }]);
    // Decisions are still answered during the grace period.
    expect((await call(server.url, 'POST', '/v1/check', { tenant: 'a' })).body.allowed).toBe(true);
    await closed;
    await expect(fetch(`${server.url}/livez`)).rejects.toThrow();
  });
});
