import { context, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { Decision } from '../../src/core/types.js';
import { correlationIdOf } from '../../src/http/correlation.js';
import { createLimiter } from '../../src/limiter.js';
import { DecisionLog } from '../../src/observability/decision-log.js';
import { observers } from '../../src/observability/index.js';
import { SluiceMetrics } from '../../src/observability/metrics.js';
import { labelsOf } from '../../src/observability/outcome.js';
import { DecisionTracing } from '../../src/observability/tracing.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

/** The value of one series in exposition text (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(match[3]);
  }
  return undefined;
}

function policyDecision(overrides: Partial<Decision> & Record<string, unknown>): Decision {
  return {
    id: 'x',
    at: 0,
    allowed: true,
    reason: 'allowed',
    tenant: 'acme',
    cost: 1,
    binding: {
      name: 'rpm',
      id: 'rpm',
      algorithm: 'fixed-window',
      limit: 5,
      windowMs: 60_000,
      allowed: true,
      remaining: 4,
      resetAt: 0,
      retryAfterMs: 0,
    },
    limits: [],
    remaining: 4,
    resetAt: 0,
    retryAfterMs: 0,
    backend: 'memory',
    path: 'store',
    ...overrides,
  } as Decision;
}

describe('outcomes and labels', () => {
  it.each([
    [{ allowed: true, reason: 'allowed' }, 'allowed'],
    [{ allowed: false, reason: 'rate_limited' }, 'rejected'],
    [{ allowed: false, reason: 'cost_exceeds_limit' }, 'rejected'],
    [{ allowed: false, reason: 'blocked' }, 'blocked'],
    [{ allowed: false, reason: 'shed' }, 'shed'],
    [{ allowed: true, reason: 'fail_open', path: 'fail-open' }, 'fail_open'],
    [{ allowed: false, reason: 'store_unavailable', path: 'fail-closed' }, 'fail_closed'],
    [{ allowed: true, reason: 'allowed', shadowRejections: ['login'] }, 'shadow_rejected'],
  ] as Array<[Record<string, unknown>, string]>)('%o is %s', (fields, outcome) => {
    expect(labelsOf(policyDecision(fields)).outcome).toBe(outcome);
  });

  it('a policy decision is labeled by its binding policy, scope, mode and tier', () => {
    const d = policyDecision({
      allowed: false,
      reason: 'rate_limited',
      tier: 'pro',
      bindingPolicy: 'login',
      policies: [
        { name: 'tenant', scope: 'tenant', mode: 'enforce', allowed: true },
        { name: 'login', scope: 'endpoint', mode: 'enforce', allowed: false },
      ],
    });
    expect(labelsOf(d)).toEqual({
      outcome: 'rejected',
      policy: 'login',
      scope: 'endpoint',
      mode: 'enforce',
      tier: 'pro',
      path: 'store',
    });
  });
});

describe('SluiceMetrics', () => {
  it('counts every outcome of real decisions, with durations, violations and blocks', async () => {
    const metrics = new SluiceMetrics();
    const limiter = createLimiter({
      limits: [{ name: 'rpm', algorithm: 'fixed-window', limit: 2, window: '1m' }],
      store: new MemoryStore({ clock: new ManualClock().now }),
    });
    for (let i = 0; i < 5; i++)
      metrics.decided({ decision: await limiter.limit({ tenant: 't', key: 'k' }), durationMs: 0.4 });
    const text = await metrics.text();
    expect(
      sample(text, 'sluice_decisions_total', { outcome: 'allowed', policy: 'none', path: 'store' }),
    ).toBe(2);
    expect(sample(text, 'sluice_decisions_total', { outcome: 'rejected' })).toBe(3);
    expect(sample(text, 'sluice_violations_total', { policy: 'none' })).toBe(3);
    expect(sample(text, 'sluice_blocks_total', { reason: 'rate_limited' })).toBe(3);
    expect(sample(text, 'sluice_decision_duration_seconds_count', { store: 'memory', path: 'store' })).toBe(
      5,
    );
    expect(sample(text, 'sluice_decision_duration_seconds_bucket', { le: '0.0005' })).toBe(5);
    expect(sample(text, 'sluice_decision_duration_seconds_bucket', { le: '0.00025' })).toBe(0);
  });

  it("as a Limiter's observer: every limit/peek/decide counted, the store's keys read at scrape time", async () => {
    const metrics = new SluiceMetrics();
    const limiter = createLimiter({
      limits: [{ name: 'rpm', algorithm: 'fixed-window', limit: 1, window: '1m' }],
      store: new MemoryStore({ clock: new ManualClock().now }),
      observer: metrics,
    });
    await limiter.limit({ tenant: 't', key: 'a' });
    await limiter.limit({ tenant: 't', key: 'a' });
    await limiter.peek({ tenant: 't', key: 'b' });
    await limiter.decide({
      tenant: 't',
      checks: [{ limit: { name: 'x', limit: 5, window: '1s' }, key: 'c' }],
    });
    const text = await metrics.text();
    expect(sample(text, 'sluice_decisions_total', { outcome: 'allowed' })).toBe(3);
    expect(sample(text, 'sluice_decisions_total', { outcome: 'rejected' })).toBe(1);
    expect(sample(text, 'sluice_active_keys')).toBe(2);
    expect(sample(text, 'sluice_circuit_breaker_state')).toBe(0);
    expect(() => createLimiter({ limits: [{ limit: 1, window: '1s' }], observer: {} as never })).toThrow(
      /observer: must have a decided/,
    );
  });

  it('a counter moves for every outcome, scraped and parsed', async () => {
    const metrics = new SluiceMetrics();
    const cases: Array<[string, Record<string, unknown>]> = [
      ['allowed', { allowed: true, reason: 'allowed' }],
      ['rejected', { allowed: false, reason: 'rate_limited' }],
      ['shed', { allowed: false, reason: 'shed' }],
      ['blocked', { allowed: false, reason: 'blocked' }],
      ['fail_open', { allowed: true, reason: 'fail_open', path: 'fail-open' }],
      ['fail_closed', { allowed: false, reason: 'store_unavailable', path: 'fail-closed' }],
      ['shadow_rejected', { allowed: true, reason: 'allowed', shadowRejections: ['login'] }],
    ];
    for (const [outcome, fields] of cases) {
      const before = sample(await metrics.text(), 'sluice_decisions_total', { outcome }) ?? 0;
      metrics.decided({ decision: policyDecision(fields), durationMs: 1 });
      expect(sample(await metrics.text(), 'sluice_decisions_total', { outcome })).toBe(before + 1);
    }
  });

  it('store failures by code, and watched gauges read at scrape time', async () => {
    const metrics = new SluiceMetrics();
    let opened = 1;
    metrics.watch({
      breaker: () => ({ state: 'open', opened }),
      activeKeys: () => 42,
      config: () => ({ version: 7, reloadErrors: 2 }),
      http: () => ({ missingTenant: 3 }),
    });
    metrics.decided({
      decision: policyDecision({
        allowed: false,
        reason: 'store_unavailable',
        path: 'fail-closed',
        storeError: { code: 'ERR_SLUICE_STORE_TIMEOUT', message: 'slow' },
      }),
      durationMs: 50,
    });
    let text = await metrics.text();
    expect(sample(text, 'sluice_store_failures_total', { code: 'ERR_SLUICE_STORE_TIMEOUT' })).toBe(1);
    expect(sample(text, 'sluice_decisions_total', { outcome: 'fail_closed', path: 'fail-closed' })).toBe(1);
    expect(sample(text, 'sluice_circuit_breaker_state')).toBe(1);
    expect(sample(text, 'sluice_circuit_breaker_opened_total')).toBe(1);
    expect(sample(text, 'sluice_active_keys')).toBe(42);
    expect(sample(text, 'sluice_config_version')).toBe(7);
    expect(sample(text, 'sluice_config_reload_errors_total')).toBe(2);
    expect(sample(text, 'sluice_http_requests_flagged_total', { kind: 'missingTenant' })).toBe(3);
    opened = 3;
    text = await metrics.text();
    expect(sample(text, 'sluice_circuit_breaker_opened_total')).toBe(3);
  });

  // An attacker minting tenants must not grow the series: the top N keep their label, the rest are "other".
  it('regression: tenant labels are capped (tenant-labels-bounded)', async () => {
    const clock = new ManualClock(0);
    const metrics = new SluiceMetrics({ tenantLabels: { top: 2, intervalMs: 1000 }, clock: clock.now });
    const decide = (tenant: string, n = 1) => {
      for (let i = 0; i < n; i++) metrics.decided({ decision: policyDecision({ tenant }), durationMs: 1 });
    };
    decide('a', 1);
    decide('b', 1);
    for (let i = 0; i < 1000; i++) decide(`minted${i}`);
    decide('big', 50);
    let text = await metrics.text();
    const series = () =>
      text.split('\n').filter((l) => l.startsWith('sluice_tenant_decisions_total{')).length;
    expect(series()).toBe(3); // a, b, other
    expect(sample(text, 'sluice_tenant_decisions_total', { tenant: 'other' })).toBe(1050);
    clock.advance(1000);
    // The clock is read every 64 decisions: the interval rotates within the next 64.
    decide('big', 64);
    text = await metrics.text();
    // The next interval labels the busiest of the last one: big (50), then a tie of 1s; a and b lost theirs.
    expect(sample(text, 'sluice_tenant_decisions_total', { tenant: 'big' })).toBeGreaterThan(0);
    expect(sample(text, 'sluice_tenant_decisions_total', { tenant: 'a' })).toBeUndefined();
    expect(series()).toBeLessThanOrEqual(3);
  });
});

describe('DecisionLog', () => {
  it("writes seed 002's fields for rejections, and rate-limits lines, counting the suppressed", () => {
    const clock = new ManualClock(0);
    const lines: Array<[Record<string, unknown>, string]> = [];
    const log = new DecisionLog({
      logger: { warn: (o, m) => lines.push([o, m]) },
      linesPerSecond: 2,
      burst: 2,
      clock: clock.now,
    });
    const rejected = policyDecision({
      allowed: false,
      reason: 'rate_limited',
      remaining: 0,
      retryAfterMs: 29_500,
      violations: 3,
      adaptiveFactor: 0.6,
      bindingPolicy: 'auth_endpoints',
      policies: [{ name: 'auth_endpoints', scope: 'endpoint', mode: 'enforce', allowed: false }],
    });
    const request = {
      user: 'user_12345',
      ip: '192.168.1.100',
      endpoint: '/api/v1/auth/login',
      correlationId: 'req_abcd1234',
    };
    log.decided({ decision: policyDecision({}), durationMs: 1 }); // allowed: not logged
    for (let i = 0; i < 10; i++) log.decided({ decision: rejected, durationMs: 1, request });
    expect(lines.length).toBe(2);
    expect(lines[0]).toEqual([
      {
        event: 'sluice.decision',
        outcome: 'rejected',
        policy_name: 'auth_endpoints',
        scope: 'endpoint',
        tenant_id: 'acme',
        remaining: 0,
        retry_after: 30,
        binding_limit: 'rpm',
        path: 'store',
        user_id: 'user_12345',
        client_ip: '192.168.1.100',
        endpoint: '/api/v1/auth/login',
        violation_count: 3,
        reputation_score: 0.6,
        correlation_id: 'req_abcd1234',
      },
      'Rate limit exceeded',
    ]);
    clock.advance(500);
    log.decided({ decision: rejected, durationMs: 1, request });
    expect(lines.length).toBe(3);
    expect(lines[2]?.[0].suppressed).toBe(8);
    expect(log.suppressedTotal).toBe(8);
  });

  it('correlation ids: x-request-id, else the trace id of traceparent; junk refused', () => {
    expect(correlationIdOf({ 'x-request-id': 'req-1' })).toBe('req-1');
    expect(correlationIdOf({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
    expect(
      correlationIdOf({ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }),
    ).toBeUndefined();
    expect(correlationIdOf({ 'x-request-id': 'a b\n{"level":"x"}' })).toBeUndefined();
    expect(correlationIdOf({ 'x-request-id': 'x'.repeat(200) })).toBeUndefined();
  });
});

describe('DecisionTracing and observers()', () => {
  it('with no tracer provider registered, nothing records and nothing throws', () => {
    const tracing = new DecisionTracing();
    const spans = new DecisionTracing({ spans: true });
    expect(trace.getActiveSpan()).toBeUndefined();
    context.with(context.active(), () => {
      tracing.decided({ decision: policyDecision({}), durationMs: 1 });
      spans.decided({ decision: policyDecision({}), durationMs: 1 });
    });
  });

  it('one observer that throws does not stop the others', () => {
    const seen: string[] = [];
    const all = observers(
      {
        decided: () => {
          throw new Error('boom');
        },
      },
      { decided: (e) => seen.push(e.decision.tenant) },
    );
    all.decided({ decision: policyDecision({}), durationMs: 1 });
    expect(seen).toEqual(['acme']);
  });
});
