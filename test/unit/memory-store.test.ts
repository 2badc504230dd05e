import { describe, expect, it } from 'vitest';
import { ALGORITHMS } from '../../src/algorithms/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { StoreError } from '../../src/core/errors.js';
import { normalizeLimit } from '../../src/engine/limits.js';
import { createLimiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { DecisionPlan } from '../../src/stores/store.js';

/** A minimal plan for one new key, to call the store directly. */
function planFor(key: string): DecisionPlan {
  const limit = normalizeLimit({ limit: 1, window: '1m' }, 'limit');
  return {
    tenant: 't',
    metaKey: 'sluice:{t}:m',
    blockKeys: [],
    limits: [{ key: `sluice:{t}:s:${key}:x`, algorithm: ALGORITHMS[limit.algorithm], limit }],
    cost: 1,
    penalty: false,
    id: 'test1',
  };
}

describe('memory store stays bounded', () => {
  it('sweeps expired state on its interval', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock: clock.now, sweepIntervalMs: 10_000 });
    const l = createLimiter({ limits: [{ limit: 5, window: '1s' }], store });
    for (let i = 0; i < 100; i++) await l.limit({ tenant: 't', key: `k${i}` });
    expect(store.keyCount).toBe(100);
    clock.advance(10_000);
    await l.limit({ tenant: 't', key: 'fresh' });
    expect(store.keyCount).toBe(1);
  });

  it('when full, refuses new keys instead of evicting live counters (no self-reset by flooding)', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock: clock.now, maxKeys: 10 });
    const l = createLimiter({ limits: [{ limit: 1, window: '1m' }], store });
    expect((await l.limit({ tenant: 't', key: 'attacker' })).allowed).toBe(true);
    for (let i = 0; i < 9; i++) await l.limit({ tenant: 't', key: `flood-${i}` });
    // The store refuses; the limiter's failure mode (closed by default) turns that into a denial.
    const refused = await l.limit({ tenant: 't', key: 'flood-10' });
    expect([refused.allowed, refused.reason, refused.path]).toEqual([
      false,
      'store_unavailable',
      'fail-closed',
    ]);
    expect(refused.storeError?.code).toBe('ERR_SLUICE_STORE_FULL');
    await expect(store.decide({ ...planFor('flood-11') })).rejects.toBeInstanceOf(StoreError);
    // The attacker's own counter survived the flood.
    expect((await l.limit({ tenant: 't', key: 'attacker' })).allowed).toBe(false);
    // Rejections and peeks need no room.
    expect((await l.peek({ tenant: 't', key: 'someone-new' })).remaining).toBe(1);
    clock.advance(60_000);
    expect((await l.limit({ tenant: 't', key: 'flood-10' })).allowed).toBe(true);
    expect(store.keyCount).toBe(1);
  });
});
