import { describe, expect, it } from 'vitest';
import type { ValidationError } from '../../src/core/errors.js';
import { createLimiter, type LimiterOptions } from '../../src/limiter.js';
import { PolicyLimiter, type PolicyLimiterOptions } from '../../src/policy/policy-limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

// Issue 12 (2): unknown or misspelt options were silently ignored: `PolicyLimiter.create({
// configuration })` quietly fell back to the memory store, and `guard: { budget: 5 }` kept the 50 ms
// budget. PolicyLimiterOptions and LimiterOptions.guard (and its breaker) are validated strictly.

async function refusal(make: () => unknown): Promise<ValidationError> {
  try {
    await make();
  } catch (error) {
    return error as ValidationError;
  }
  throw new Error('expected an error');
}

const config = { tiers: { free: { rps: 1 } } };

describe('regression: options are validated strictly', () => {
  it('PolicyLimiter: an unknown key names itself, a did-you-mean and the accepted names', async () => {
    const create = (options: unknown) => () => PolicyLimiter.create(options as PolicyLimiterOptions);
    const e = await refusal(create({ configuration: config }));
    expect([e.name, e.code, e.field]).toEqual([
      'ValidationError',
      'ERR_SLUICE_INVALID_OPTION',
      'configuration',
    ]);
    expect(e.message).toBe(
      'configuration: unknown option; expected one of config, store, tierResolver, onConfigError, loadSignal, compareWith, onDisagreement, clock, logger, actor, operatorTimeout, requireStore, observer',
    );
    expect((await refusal(create({ config, Store: new MemoryStore() }))).message).toContain(
      '(did you mean "store"?)',
    );
    expect((await refusal(() => new PolicyLimiter({ config, onconfigerror: () => {} } as never))).field).toBe(
      'onconfigerror',
    );
  });

  it('PolicyLimiter: a missing config and wrong types name the field', async () => {
    const fieldOf = async (options: unknown) =>
      (await refusal(() => new PolicyLimiter(options as PolicyLimiterOptions))).field;
    expect(await fieldOf(undefined)).toBe('options');
    expect(await fieldOf({})).toBe('config');
    expect(await fieldOf({ config, store: 'redis://localhost' })).toBe('store');
    expect(await fieldOf({ config, compareWith: {} })).toBe('compareWith');
    expect(await fieldOf({ config, tierResolver: 'free' })).toBe('tierResolver');
    expect(await fieldOf({ config, onConfigError: true })).toBe('onConfigError');
    expect(await fieldOf({ config, loadSignal: 0.5 })).toBe('loadSignal');
    expect(await fieldOf({ config, onDisagreement: {} })).toBe('onDisagreement');
    expect(await fieldOf({ config, clock: 0 })).toBe('clock');
    expect(await fieldOf({ config, logger: console.log })).toBe('logger');
    expect(await fieldOf({ config, actor: 7 })).toBe('actor');
    expect(await fieldOf({ config, requireStore: 'yes' })).toBe('requireStore');
    expect(await fieldOf({ config, operatorTimeout: 0 })).toBe('operatorTimeout');
    const ok = new PolicyLimiter({ config, logger: { info: () => {}, warn: () => {} }, requireStore: false });
    await ok.close();
  });

  it('Limiter guard and breaker: unknown keys and wrong types name the field', async () => {
    const store = new MemoryStore();
    const limits = [{ limit: 1, window: '1s' }];
    const guarded = (guard: unknown) => () => createLimiter({ store, limits, guard } as LimiterOptions);
    const e = await refusal(guarded({ budget: 5 }));
    expect([e.code, e.field, e.message]).toEqual([
      'ERR_SLUICE_INVALID_OPTION',
      'guard.budget',
      'guard.budget: unknown option; expected one of budgetMs, breaker, clock',
    ]);
    const b = await refusal(guarded({ breaker: { thresholds: 3 } }));
    expect([b.field, b.message]).toEqual([
      'guard.breaker.thresholds',
      'guard.breaker.thresholds: unknown option (did you mean "threshold"?); expected one of threshold, resetTimeoutMs',
    ]);
    expect((await refusal(guarded({ breaker: { resetTimeout: 1000 } }))).field).toBe(
      'guard.breaker.resetTimeout',
    );
    expect((await refusal(guarded(true))).field).toBe('guard');
    expect((await refusal(guarded({ budgetMs: '50ms' }))).field).toBe('guard.budgetMs');
    expect((await refusal(guarded({ budgetMs: 0 }))).field).toBe('guard.budgetMs');
    expect((await refusal(guarded({ clock: 5 }))).field).toBe('guard.clock');
    expect((await refusal(guarded({ breaker: 5 }))).field).toBe('guard.breaker');
    expect((await refusal(guarded({ breaker: { threshold: 0 } }))).field).toBe('guard.breaker.threshold');
    expect((await refusal(guarded({ breaker: { threshold: 1.5 } }))).field).toBe('guard.breaker.threshold');
    expect((await refusal(guarded({ breaker: { resetTimeoutMs: -1 } }))).field).toBe(
      'guard.breaker.resetTimeoutMs',
    );
    // Valid ones still build a guarded limiter with what they say.
    const l = createLimiter({
      store,
      limits,
      guard: { budgetMs: 20, breaker: { threshold: 2, resetTimeoutMs: 0 } },
    });
    expect([l.guard?.budgetMs, l.guard?.breaker.threshold, l.guard?.breaker.resetTimeoutMs]).toEqual([
      20, 2, 0,
    ]);
    expect(createLimiter({ store, limits, guard: false }).guard).toBeUndefined();
  });
});
