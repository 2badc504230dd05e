import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { DecisionEvent } from '../../src/core/observer.js';
import { LiveCounts } from '../../src/observability/live-counts.js';
import { liveProposal } from '../../src/observability/live-proposal.js';
import { EPOCH } from '../regressions/support.js';

// EPOCH is 123 ms into its second.
const START = EPOCH - 123;

function event(
  tenant: string,
  d: Record<string, unknown>,
  request?: DecisionEvent['request'],
): DecisionEvent {
  const decision = {
    allowed: true,
    reason: 'allowed',
    tenant,
    path: 'store',
    binding: { name: 'per-minute' },
    ...d,
  } as unknown as DecisionEvent['decision'];
  return { decision, durationMs: 1, ...(request ? { request } : {}) };
}

describe('LiveCounts', () => {
  it('counts each second by outcome, overall and per tenant, and shadow rejections per policy', () => {
    const clock = new ManualClock(START);
    const live = new LiveCounts({ clock: clock.now });
    live.decided(event('a', {}));
    live.decided(event('a', { allowed: false, reason: 'rate_limited', bindingPolicy: 'p' }, { user: 'u' }));
    live.decided(event('b', { shadowRejections: ['s1', 's2'] }));
    live.decided(event('b', { allowed: false, reason: 'blocked' }));
    live.decided(event('b', { reason: 'fail_open', path: 'fail-open' }));
    clock.advance(1000);
    live.decided(event('a', { allowed: false, reason: 'store_unavailable', path: 'fail-closed' }));
    live.decided(event('a', { allowed: false, reason: 'shed' }));
    clock.advance(1000);
    const overall = live.series(3);
    expect(overall.map((p) => p.second)).toEqual([START / 1000 - 1, START / 1000, START / 1000 + 1]);
    expect(overall.map((p) => p.counts)).toEqual([
      { allowed: 0, rejected: 0, shed: 0, blocked: 0, fail_open: 0, fail_closed: 0, shadow_rejected: 0 },
      { allowed: 1, rejected: 1, shed: 0, blocked: 1, fail_open: 1, fail_closed: 0, shadow_rejected: 1 },
      { allowed: 0, rejected: 0, shed: 1, blocked: 0, fail_open: 0, fail_closed: 1, shadow_rejected: 0 },
    ]);
    expect(live.series(2, 'a').map((p) => [p.counts.allowed, p.counts.rejected, p.counts.shed])).toEqual([
      [1, 1, 0],
      [0, 0, 1],
    ]);
    expect(live.shadowRejections(60)).toEqual({ s1: 1, s2: 1 });
    expect(live.tenantPeaks(60)).toEqual({ a: [2, 2], b: [3] });
    expect(live.recentRejections('a').map((r) => [r.outcome, r.identity, r.policy])).toEqual([
      ['shed', 'tenant', null],
      ['fail_closed', 'tenant', null],
      ['rejected', 'user:u', 'p'],
    ]);
  });

  it('is bounded: seconds kept, tenants per second, tenants with rejections, rejections per tenant', () => {
    const clock = new ManualClock(START);
    const live = new LiveCounts({
      clock: clock.now,
      seconds: 5,
      maxTenantsPerSecond: 2,
      maxTenants: 2,
      recentPerTenant: 3,
    });
    for (const t of ['a', 'b', 'c']) live.decided(event(t, {}));
    for (let i = 0; i < 5; i++) live.decided(event('a', { allowed: false, reason: 'rate_limited' }));
    live.decided(event('b', { allowed: false, reason: 'rate_limited' }));
    live.decided(event('c', { allowed: false, reason: 'rate_limited' }));
    clock.advance(1000);
    const [last] = live.series(1);
    expect(last?.counts.allowed).toBe(3);
    expect(last?.counts.rejected).toBe(7);
    expect(live.series(1, 'c')[0]?.counts.allowed).toBe(0); // c came third: not counted on its own
    expect(live.recentRejections('a')).toEqual([]); // the least recently rejected tenant went out
    expect(live.recentRejections('b').length).toBe(1);
    expect(live.recentRejections('c').length).toBe(1);
    clock.advance(10_000);
    expect(live.series(100).length).toBe(4);
    expect(live.series(100).every((p) => p.counts.allowed === 0)).toBe(true);
  });

  it('refuses unknown or bad options, naming them', () => {
    expect(() => new LiveCounts({ second: 5 } as never)).toThrow(/second.*did you mean "seconds"/);
    expect(() => new LiveCounts({ seconds: 0 })).toThrow(/seconds: must be a positive integer/);
    expect(() => new LiveCounts({ clock: 5 as never })).toThrow(/clock: must be a function/);
  });
});

describe('liveProposal', () => {
  it("proposes p99 of a tier's tenant-seconds x 1.5 (seed 000), skipping empty seconds", () => {
    const seconds = { a: [10, 20, 0], b: [40], c: [3] };
    const tiers: Record<string, string> = { a: 'free', b: 'free', c: 'pro' };
    expect(liveProposal(seconds, (t) => tiers[t])).toEqual({
      free: { rps: 60, burst: 120, observed: { tenants: 2, seconds: 3, p50: 20, p99: 40, max: 40 } },
      pro: { rps: 5, burst: 10, observed: { tenants: 1, seconds: 1, p50: 3, p99: 3, max: 3 } },
    });
  });
});
