import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { StoreError } from '../../src/core/errors.js';
import { createLimiter } from '../../src/limiter.js';
import { CircuitBreaker } from '../../src/resilience/breaker.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { DecisionPlan, RawDecision, Store } from '../../src/stores/store.js';

/**
 * A store that can be switched to fail or hang, around a real MemoryStore. (Unit tests of the breaker
 * and the failure modes; the proofs against real, broken Redis servers are in test/resilience/.)
 */
class SwitchableStore extends MemoryStore implements Store {
  mode: 'up' | 'error' | 'hang' = 'up';
  calls = 0;
  override async decide(plan: DecisionPlan): Promise<RawDecision> {
    this.calls++;
    if (this.mode === 'error') throw new StoreError('memory', 'connection refused');
    if (this.mode === 'hang') return new Promise(() => undefined);
    return super.decide(plan);
  }
}

describe('circuit breaker', () => {
  it('opens after N consecutive failures, probes once after the reset timeout, closes on success', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ threshold: 3, resetTimeoutMs: 1000 }, clock.now);
    breaker.failure();
    breaker.failure();
    breaker.success(); // not consecutive any more
    for (let i = 0; i < 3; i++) {
      expect(breaker.allows()).toBe(true);
      breaker.failure();
    }
    expect([breaker.state, breaker.allows()]).toEqual(['open', false]);
    clock.advance(999);
    expect(breaker.allows()).toBe(false);
    clock.advance(1);
    expect([breaker.allows(), breaker.state, breaker.allows()]).toEqual([true, 'half-open', false]); // one probe
    breaker.failure();
    expect(breaker.state).toBe('open');
    clock.advance(1000);
    expect(breaker.allows()).toBe(true);
    breaker.success();
    expect([breaker.state, breaker.allows()]).toEqual(['closed', true]);
    breaker.force('open');
    expect([breaker.allows(), breaker.snapshot().state]).toEqual([false, 'open']);
    breaker.force(null);
    expect(breaker.allows()).toBe(true);
  });
});

describe('failure modes (store errors and missed budgets)', () => {
  const limits = [{ name: 'l', limit: 10, window: '1m' }];

  it('closed (default): denied as store_unavailable, never as rate_limited', async () => {
    const store = new SwitchableStore();
    const l = createLimiter({ limits, store, guard: {} });
    store.mode = 'error';
    const d = await l.limit({ tenant: 't', key: 'k' });
    expect([d.allowed, d.reason, d.path, d.storeError?.code]).toEqual([
      false,
      'store_unavailable',
      'fail-closed',
      'ERR_SLUICE_STORE',
    ]);
    expect(d.retryAfterMs).toBe(1000);
  });

  it('open: admitted as fail_open', async () => {
    const store = new SwitchableStore();
    const l = createLimiter({ limits, store, failureMode: 'open', guard: {} });
    store.mode = 'error';
    const d = await l.limit({ tenant: 't', key: 'k' });
    expect([d.allowed, d.reason, d.path, d.remaining]).toEqual([true, 'fail_open', 'fail-open', 10]);
  });

  it("local: this instance's share of each limit, decided in process", async () => {
    const store = new SwitchableStore();
    const l = createLimiter({ limits, store, failureMode: 'local', localShare: { instances: 3 }, guard: {} });
    store.mode = 'error';
    const ds = [];
    for (let i = 0; i < 5; i++) ds.push(await l.limit({ tenant: 't', key: 'k' }));
    expect(ds.map((d) => d.allowed)).toEqual([true, true, true, false, false]); // floor(10 / 3)
    expect([ds[0]?.path, ds[3]?.reason, ds[0]?.binding.limit]).toEqual(['local', 'rate_limited', 3]);
  });

  it('a hanging store costs one budget, then the open circuit answers at once without calling it', async () => {
    const store = new SwitchableStore();
    const l = createLimiter({
      limits,
      store,
      guard: { budgetMs: 40, breaker: { threshold: 2, resetTimeoutMs: 60_000 } },
    });
    expect((await l.limit({ tenant: 't', key: 'k' })).allowed).toBe(true);
    store.mode = 'hang';
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const d = await l.limit({ tenant: 't', key: 'k' });
      expect([d.reason, d.storeError?.code]).toEqual(['store_unavailable', 'ERR_SLUICE_STORE_TIMEOUT']);
      // Ended by the budget (the store never answers): bounded loosely, the machine is shared.
      expect(Date.now() - started).toBeLessThan(40 + 2000);
    }
    expect(l.guard?.breaker.state).toBe('open');
    const callsWhenOpened = store.calls;
    // "At once": the open circuit answers without calling the store (counted, not timed).
    const fast = await l.limit({ tenant: 't', key: 'k' });
    expect([fast.storeError?.code, store.calls]).toEqual(['ERR_SLUICE_CIRCUIT_OPEN', callsWhenOpened]);
    expect(fast.retryAfterMs).toBeGreaterThan(59_000);
  });
});
