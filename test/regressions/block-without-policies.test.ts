import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ValidationError } from '../../src/core/errors.js';
import type { DecisionEvent } from '../../src/core/observer.js';
import { createLimiter } from '../../src/limiter.js';
import { labelsOf } from '../../src/observability/outcome.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import type { PolicyDecision } from '../../src/policy/types.js';
import { startServer } from '../../src/server/index.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { ADMIN, call, TOKENS } from '../server/support.js';
import { serveWith } from './http-adapters.js';
import { type Backend, EPOCH, freshPrefix, useBackends } from './support.js';

// The policy layer decided a request over the limits of the enforced policies that apply to it, and a
// block was read as part of that decision. A request no enforced policy applies to (tier policy off and
// no policy for its endpoint, or only shadow policies) had no decision at all: it was admitted although
// its tenant, user or IP was blocked. A block refuses every request of its target, whatever the
// policies: such a request is now decided against its blocks alone.

const MINUTES_10 = 600_000;

/** Tier policy off; one enforced policy for /api/*, one shadow policy for /reports: /health has none. */
function config(extra: Record<string, unknown> = {}) {
  return {
    prefix: freshPrefix(),
    tierPolicy: { enabled: false },
    // About blocks, not the time budget: a slow round trip on a loaded machine must not fail over.
    failure: { budget: '5s' },
    policies: [
      { name: 'api', scope: 'endpoint', match: ['/api/*'], limits: [{ limit: 5, window: '1m' }] },
      {
        name: 'reports',
        scope: 'endpoint',
        match: ['/reports'],
        mode: 'shadow',
        limits: [{ limit: 1, window: '1m' }],
      },
    ],
    ...extra,
  };
}

function limiterOn(backend: Backend, extra: Record<string, unknown> = {}, events: DecisionEvent[] = []) {
  return PolicyLimiter.create({
    config: config(extra),
    store: backend.store,
    observer: { decided: (event) => events.push(event) },
    ...(backend.clock ? { clock: backend.clock.now } : {}),
  });
}

/** A blocked decision's fields; its wait is exact on memory, and within the round trips on Redis. */
function expectBlocked(backend: Backend, d: PolicyDecision, until: number | undefined): void {
  expect([d.allowed, d.reason, d.binding.name, d.binding.limit, d.remaining]).toEqual([
    false,
    'blocked',
    'blocked',
    0,
    0,
  ]);
  expect(d.blockedUntil).toBe(d.resetAt);
  expect(d.retryAfterMs).toBe((d.blockedUntil as number) - d.at);
  if (backend.clock) {
    expect([d.blockedUntil, d.retryAfterMs]).toEqual([until, (until as number) - backend.clock.now()]);
  } else {
    expect(d.retryAfterMs).toBeGreaterThan(MINUTES_10 - 10_000);
    expect(d.retryAfterMs).toBeLessThanOrEqual(MINUTES_10);
  }
}

describe('a tenant-wide block is enforced for a request no policy applies to', () => {
  const backends = useBackends();

  for (const name of ['memory', 'redis'] as const) {
    const backendOf = () => (name === 'memory' ? backends.memory() : backends.redis());

    it(`a blocked tenant is refused where no policy applies, also in peeks, and admitted once unblocked (${name})`, async () => {
      const backend = backendOf();
      const events: DecisionEvent[] = [];
      const limiter = await limiterOn(backend, {}, events);
      try {
        const before = await limiter.check({ tenant: 'acme', endpoint: '/health' });
        expect([before.allowed, before.reason, before.limits, before.policies]).toEqual([
          true,
          'allowed',
          [],
          [],
        ]);
        await limiter.block({ tenant: 'acme' }, '10m');
        const until = backend.clock ? backend.clock.now() + MINUTES_10 : undefined;
        backend.clock?.advance(1000);
        const blocked = await limiter.check({ tenant: 'acme', endpoint: '/health' });
        expectBlocked(backend, blocked, until);
        expect([blocked.policies, blocked.bindingPolicy, blocked.backend, blocked.path]).toEqual([
          [],
          undefined,
          name,
          'store',
        ]);
        expectBlocked(backend, await limiter.peek({ tenant: 'acme', endpoint: '/health' }), until);
        // Without a context field at all, and where only a shadow policy applies.
        expectBlocked(backend, await limiter.check({ tenant: 'acme' }), until);
        const shadowOnly = await limiter.check({ tenant: 'acme', endpoint: '/reports' });
        expectBlocked(backend, shadowOnly, until);
        expect(shadowOnly.policies.map((p) => [p.name, p.mode])).toEqual([['reports', 'shadow']]);
        // Where a policy applies it was refused already; another tenant is not blocked.
        expectBlocked(backend, await limiter.check({ tenant: 'acme', endpoint: '/api/items' }), until);
        expect((await limiter.check({ tenant: 'globex', endpoint: '/health' })).allowed).toBe(true);

        // Observers (metrics) count the refusal as blocked.
        const outcomes = events.map((e) => labelsOf(e.decision).outcome);
        expect(outcomes).toEqual(['allowed', 'blocked', 'blocked', 'blocked', 'blocked', 'allowed']);

        await limiter.unblock({ tenant: 'acme' });
        const after = await limiter.check({ tenant: 'acme', endpoint: '/health' });
        expect([after.allowed, after.reason, after.limits]).toEqual([true, 'allowed', []]);
      } finally {
        await limiter.close();
      }
    });

    it(`a blocked user or IP is refused where no policy applies; the others of the tenant are not (${name})`, async () => {
      const backend = backendOf();
      const limiter = await limiterOn(backend);
      try {
        await limiter.block({ tenant: 'acme', user: 'eve' }, '10m');
        await limiter.block({ tenant: 'acme', ip: '203.0.113.7' }, '10m');
        const until = backend.clock ? backend.clock.now() + MINUTES_10 : undefined;
        const check = (ctx: { user?: string; ip?: string }) =>
          limiter.check({ tenant: 'acme', endpoint: '/health', ...ctx });
        expectBlocked(backend, await check({ user: 'eve' }), until);
        expect((await check({ user: 'eve' })).key).toBe('eve');
        expectBlocked(backend, await check({ user: 'eve', ip: '198.51.100.1' }), until);
        // An IP block also stops that IP's requests that name a user.
        expectBlocked(backend, await check({ ip: '203.0.113.7' }), until);
        expectBlocked(backend, await check({ user: 'bob', ip: '203.0.113.7' }), until);
        expect((await check({ user: 'bob', ip: '198.51.100.1' })).allowed).toBe(true);
        expect((await check({})).allowed).toBe(true);
      } finally {
        await limiter.close();
      }
    });

    it(`nothing is counted for a request no policy applies to; global shadow or disabled mode refuses no one (${name})`, async () => {
      const backend = backendOf();
      const limiter = await limiterOn(backend);
      const shadow = await limiterOn(backend, { mode: 'shadow' });
      const disabled = await limiterOn(backend, { mode: 'disabled' });
      try {
        for (let i = 0; i < 3; i++) {
          const d = await limiter.check({ tenant: 'acme', user: 'bob', endpoint: '/health' });
          expect([d.allowed, d.limits, d.remaining]).toEqual([true, [], Number.POSITIVE_INFINITY]);
        }
        const tenantKeys = async () => {
          if (backend.admin) return (await backend.admin.keys(`${limiter.config.prefix}:*`)).length;
          return (backend.store as MemoryStore).tenantKeyCount('acme');
        };
        expect(await tenantKeys()).toBe(0);
        // The emergency switches let everything through, blocks included (nothing is enforced).
        for (const other of [shadow, disabled]) {
          await other.block({ tenant: 'acme' }, '10m');
          const d = await other.check({ tenant: 'acme', endpoint: '/health' });
          expect([d.allowed, d.reason]).toEqual([true, 'allowed']);
        }
        // The same switches at runtime, and back.
        await limiter.block({ tenant: 'acme' }, '10m');
        const reason = async () => (await limiter.check({ tenant: 'acme', endpoint: '/health' })).reason;
        await limiter.setMode('shadow');
        expect(await reason()).toBe('allowed');
        await limiter.setMode(null);
        expect(await reason()).toBe('blocked');
      } finally {
        await Promise.all([limiter.close(), shadow.close(), disabled.close()]);
      }
    });
  }

  it('the store unreachable (circuit forced open): the configured failure mode decides (redis)', async () => {
    const backend = backends.redis();
    const answers: Array<[string, string, boolean, string]> = [];
    for (const failureMode of ['closed', 'open', 'local'] as const) {
      const limiter = await limiterOn(backend, { failureMode });
      try {
        await limiter.block({ tenant: 'acme' }, '10m');
        await limiter.forceCircuit('open');
        const d = await limiter.check({ tenant: 'acme', endpoint: '/health' });
        answers.push([failureMode, d.reason, d.allowed, d.path]);
        if (!d.allowed) expect(d.retryAfterMs).toBeGreaterThan(0);
      } finally {
        await limiter.close();
      }
    }
    expect(answers).toEqual([
      ['closed', 'store_unavailable', false, 'fail-closed'],
      ['open', 'fail_open', true, 'fail-open'],
      // The local fallback cannot know the shared store's blocks: it admits, as for any limit.
      ['local', 'allowed', true, 'local'],
    ]);
  });
});

describe('a block is enforced where no policy applies, through HTTP', () => {
  it('the Express middleware answers 429 with Retry-After for a blocked tenant on a route no policy limits', async () => {
    const clock = new ManualClock(EPOCH);
    const limiter = await PolicyLimiter.create({
      config: config(),
      store: new MemoryStore({ clock: clock.now }),
      clock: clock.now,
    });
    const served = await serveWith('express', { limiter, routes: ['/health'] });
    try {
      const auth = { authorization: 'Bearer acme' };
      expect((await served.request('/health', auth)).status).toBe(200);
      await limiter.block({ tenant: 'acme' }, '10m');
      const refused = await served.request('/health', auth);
      expect([refused.status, refused.headers['retry-after'], refused.headers['x-ratelimit-type']]).toEqual([
        429,
        '600',
        'blocked',
      ]);
      expect(refused.headers['x-ratelimit-reset']).toBe(String(Math.ceil((EPOCH + MINUTES_10) / 1000)));
      expect((await served.request('/health', { authorization: 'Bearer globex' })).status).toBe(200);
      expect(served.runs).toBe(2);
    } finally {
      await served.close();
      await limiter.close();
    }
  });

  it("the service's /v1/check refuses a tenant blocked through the admin API, where no policy applies", async () => {
    const clock = new ManualClock(EPOCH);
    const server = await startServer({
      config: config(),
      store: new MemoryStore({ clock: clock.now }),
      port: 0,
      ...TOKENS,
    });
    try {
      const ctx = { tenant: 'acme', endpoint: '/health' };
      const before = await call(server.url, 'POST', '/v1/check', ctx);
      expect([before.status, before.body.allowed, before.body.status]).toEqual([200, true, 200]);
      const blocked = await call(
        server.url,
        'POST',
        '/admin/ratelimit/blocks',
        { tenant: 'acme', duration: '10m' },
        ADMIN,
      );
      expect(blocked.status).toBeLessThan(300);
      const refused = (await call(server.url, 'POST', '/v1/check', ctx)).body;
      expect([
        refused.allowed,
        refused.status,
        refused.decision.reason,
        refused.decision.blockedUntil,
        refused.headers['retry-after'],
      ]).toEqual([false, 429, 'blocked', EPOCH + MINUTES_10, '600']);
    } finally {
      await server.close();
    }
  });
});

describe('Limiter.prepareBlocks', () => {
  it('validates its request strictly, and a blocked decision is remembered by the denial cache until unblock', async () => {
    const clock = new ManualClock(EPOCH);
    const limiter = createLimiter({
      store: new MemoryStore({ clock: clock.now }),
      clock: clock.now,
      denialCache: {},
    });
    const invalid = (request: unknown) => {
      try {
        limiter.prepareBlocks(request as never);
      } catch (error) {
        return [(error as ValidationError).code, (error as ValidationError).field];
      }
      return undefined;
    };
    expect(invalid({ tenant: 'acme', checks: [] })).toEqual(['ERR_SLUICE_INVALID_OPTION', 'request.checks']);
    expect(invalid({ tenant: 'acme', blockedBy: 'eve' })).toEqual(['ERR_SLUICE_INVALID_OPTION', 'blockedBy']);
    expect(invalid({ tenant: 'acme', failureMode: 'shut' })).toEqual([
      'ERR_SLUICE_INVALID_OPTION',
      'failureMode',
    ]);
    expect(invalid({ tenant: 'acme', key: 7 })).toEqual(['ERR_SLUICE_INVALID_IDENTIFIER', 'key']);
    expect(invalid({ tenant: '' })?.[1]).toBe('tenant');
    expect(invalid({ tenant: 'acme', blockedBy: [''] })?.[1]).toBe('blockedBy');
    expect(invalid(null)?.[1]).toBe('request');
    expect(() => limiter.prepareBlocks({ tenant: 'acme' })).not.toThrow(ValidationError);

    const prepared = limiter.prepareBlocks({ tenant: 'acme', blockedBy: ['eve'], key: 'eve' });
    await limiter.block({ tenant: 'acme', key: 'eve' }, '10m');
    const first = await limiter.decidePrepared(prepared);
    clock.advance(250);
    const again = await limiter.decidePrepared(prepared);
    expect([first.path, first.reason, again.path, again.reason, again.retryAfterMs]).toEqual([
      'store',
      'blocked',
      'cache',
      'blocked',
      MINUTES_10 - 250,
    ]);
    expect(await limiter.decidePrepared(prepared, 0)).toMatchObject({ path: 'store', reason: 'blocked' });
    await limiter.unblock({ tenant: 'acme', key: 'eve' });
    expect(await limiter.decidePrepared(prepared)).toMatchObject({
      path: 'store',
      allowed: true,
      limits: [],
    });
  });
});
