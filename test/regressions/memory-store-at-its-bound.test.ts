import { describe, expect, it } from 'vitest';
import { ALGORITHMS } from '../../src/algorithms/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { StoreError, ValidationError } from '../../src/core/errors.js';
import { normalizeLimit } from '../../src/engine/limits.js';
import { createLimiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { DecisionPlan } from '../../src/stores/store.js';
import { EPOCH } from './support.js';

/**
 * Issue 11: a full memory store swept every key on every decision that needed a new key (about 170 ms
 * at 10^6 keys), and one tenant could fill it for all the others. Expiry now visits only keys that are
 * due (a min-heap by expiry instant), and each tenant holds at most `maxKeysPerTenant` keys.
 */
const minute = normalizeLimit({ limit: 1, window: '1m' }, 'limit');

function planFor(tenant: string, key: string): DecisionPlan {
  return {
    tenant,
    metaKey: `sluice:{${tenant}}:m`,
    blockKeys: [],
    limits: [
      { key: `sluice:{${tenant}}:s:${key}:x`, algorithm: ALGORITHMS[minute.algorithm], limit: minute },
    ],
    cost: 1,
    penalty: false,
    id: `d-${tenant}-${key}`,
  };
}

/** Calls of Map iteration (what a sweep of every key does) while `run` runs. */
async function mapIterations(run: () => Promise<void>): Promise<number> {
  const proto = Map.prototype as unknown as Record<symbol | string, (...args: unknown[]) => unknown>;
  const originals = {
    iterator: proto[Symbol.iterator] as (...args: unknown[]) => unknown,
    entries: proto.entries as (...args: unknown[]) => unknown,
    values: proto.values as (...args: unknown[]) => unknown,
    keys: proto.keys as (...args: unknown[]) => unknown,
  };
  let calls = 0;
  const counting = (original: (...args: unknown[]) => unknown) =>
    function (this: unknown, ...args: unknown[]) {
      calls++;
      return original.apply(this, args);
    };
  proto[Symbol.iterator] = counting(originals.iterator);
  proto.entries = counting(originals.entries);
  proto.values = counting(originals.values);
  proto.keys = counting(originals.keys);
  try {
    await run();
  } finally {
    proto[Symbol.iterator] = originals.iterator;
    proto.entries = originals.entries;
    proto.values = originals.values;
    proto.keys = originals.keys;
  }
  return calls;
}

describe('regression: the memory store at its bound', () => {
  it('a full store refuses newcomers without visiting a single key', async () => {
    const clock = new ManualClock(EPOCH);
    const store = new MemoryStore({ clock: clock.now, maxKeys: 1000, maxKeysPerTenant: 1000 });
    for (let i = 0; i < 1000; i++) await store.decide(planFor('t', `k${i}`));
    expect(store.keyCount).toBe(1000);
    let refused = 0;
    const iterations = await mapIterations(async () => {
      for (let i = 0; i < 1000; i++) {
        await store.decide(planFor('t', `new${i}`)).catch((error: StoreError) => {
          if (error.code === 'ERR_SLUICE_STORE_FULL') refused++;
        });
      }
    });
    expect(refused).toBe(1000);
    // Before: each refusal swept the whole store (iterating every tenant's map).
    expect(iterations).toBe(0);
    expect(store.expiryVisits).toBe(0);
    expect(store.keyCount).toBe(1000);
  });

  it('expiry visits only the keys that came due', async () => {
    const clock = new ManualClock(EPOCH);
    const store = new MemoryStore({ clock: clock.now });
    const l = createLimiter({ limits: [{ limit: 5, window: '1s' }], store });
    const long = createLimiter({ limits: [{ limit: 5, window: '1h' }], store, prefix: 'long' });
    for (let i = 0; i < 500; i++) await l.limit({ tenant: 't', key: `k${i}` });
    for (let i = 0; i < 100; i++) await long.limit({ tenant: 't', key: `k${i}` });
    expect(store.keyCount).toBe(600);
    clock.advance(5_000);
    const iterations = await mapIterations(async () => {
      await l.limit({ tenant: 't', key: 'fresh' });
    });
    // The 500 one-second keys are dropped; the 100 one-hour keys are not even looked at.
    expect(store.expiryVisits).toBe(500);
    expect(iterations).toBe(0);
    expect(store.keyCount).toBe(101);
    // A key written again and again is not visited per write: only when the expiry it was filed
    // under comes due (then refiled at its real one). Ten writes 500 ms apart: two refiles.
    for (let i = 0; i < 10; i++) {
      await l.limit({ tenant: 't', key: 'fresh' });
      clock.advance(500);
    }
    expect(store.expiryVisits).toBe(500 + 2);
    expect(store.sweep(clock.now() + 3_600_000)).toBe(101);
    expect(store.keyCount).toBe(0);
  });

  it('one tenant cannot fill the store for the others (maxKeysPerTenant)', async () => {
    const clock = new ManualClock(EPOCH);
    const store = new MemoryStore({ clock: clock.now, maxKeys: 100, maxKeysPerTenant: 10 });
    const l = createLimiter({ limits: [{ limit: 1, window: '1m' }], store });
    let admitted = 0;
    for (let i = 0; i < 50; i++) {
      const d = await l.limit({ tenant: 'rotating', key: `id${i}` });
      if (d.allowed) admitted++;
      else {
        expect([d.reason, d.path, d.storeError?.code]).toEqual([
          'store_unavailable',
          'fail-closed',
          'ERR_SLUICE_STORE_FULL',
        ]);
        expect(d.storeError?.message).toBe(
          'memory store: tenant rotating full: 10 live keys (maxKeysPerTenant 10); other tenants are unaffected',
        );
      }
    }
    expect(admitted).toBe(10);
    expect(store.tenantKeyCount('rotating')).toBe(10);
    // Another tenant is served; the refused tenant's existing keys still count.
    expect((await l.limit({ tenant: 'other', key: 'x' })).allowed).toBe(true);
    expect((await l.limit({ tenant: 'rotating', key: 'id0' })).reason).toBe('rate_limited');
    // An operator can still block within a full tenant (markers are bounded by maxKeys only).
    await l.block({ tenant: 'rotating', key: 'id42' }, '1m');
    expect((await l.limit({ tenant: 'rotating', key: 'id42' })).reason).toBe('blocked');
    expect(store.tenantKeyCount('rotating')).toBe(11);
    // Once its keys expire, the tenant gets room again.
    clock.advance(60_000 + 1_000);
    expect((await l.limit({ tenant: 'rotating', key: 'id49' })).allowed).toBe(true);
  });

  it('at maxKeys, any tenant is refused a new key; room comes back as keys expire', async () => {
    const clock = new ManualClock(EPOCH);
    const store = new MemoryStore({ clock: clock.now, maxKeys: 50 });
    expect(store.maxKeysPerTenant).toBe(5);
    const l = createLimiter({ limits: [{ limit: 1, window: '1m', scope: 'tenant' }], store });
    for (let i = 0; i < 50; i++) expect((await l.limit({ tenant: `t${i}` })).allowed).toBe(true);
    const refused = await l.limit({ tenant: 'newcomer' });
    expect([refused.allowed, refused.storeError?.code, refused.storeError?.message]).toEqual([
      false,
      'ERR_SLUICE_STORE_FULL',
      'memory store: full: 50 live keys (maxKeys 50); refused a new key of tenant newcomer',
    ]);
    await expect(store.decide(planFor('newcomer', 'k'))).rejects.toBeInstanceOf(StoreError);
    expect(store.expiryVisits).toBe(0);
    clock.advance(60_000);
    // At the bound, an expired key is reclaimed at once (one visit), without waiting for the grace.
    expect((await l.limit({ tenant: 'newcomer' })).allowed).toBe(true);
    expect(store.expiryVisits).toBe(1);
    expect(store.keyCount).toBe(50);
  });

  it('validates the bounds, and defaults maxKeysPerTenant to a tenth of maxKeys', () => {
    expect(new MemoryStore().maxKeysPerTenant).toBe(100_000);
    expect(new MemoryStore({ maxKeys: 7 }).maxKeysPerTenant).toBe(1);
    expect(() => new MemoryStore({ maxKeys: 10, maxKeysPerTenant: 11 })).toThrow(ValidationError);
    try {
      new MemoryStore({ maxKeysPerTenant: 0 });
    } catch (error) {
      expect((error as ValidationError).field).toBe('maxKeysPerTenant');
    }
    expect(() => new MemoryStore({ maxKeysPerTenant: 1.5 })).toThrow(/maxKeysPerTenant/);
  });
});
