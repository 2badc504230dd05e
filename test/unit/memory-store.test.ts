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

describe('memory store expiry heap', () => {
  interface HeapEntry {
    home: string;
    bucket: { tenant: string; size: number; homes: Map<string, HeapEntry> };
    next: HeapEntry | undefined;
    expiresAt: number;
    due: number;
    slot: number;
  }
  /** The heap's invariants, read from the store's internals (see stores/memory/keyspace.ts). */
  function checkHeap(store: MemoryStore, now: number, swept: boolean): void {
    const inner = (
      store as unknown as {
        keys: { heap: HeapEntry[]; buckets: Map<string, HeapEntry['bucket']> };
      }
    ).keys;
    expect(inner.heap.length).toBe(store.keyCount);
    inner.heap.forEach((entry, i) => {
      expect(entry.slot).toBe(i);
      // The heap key is a lower bound of the real expiry, and the heap is ordered on it.
      expect(entry.due).toBeLessThanOrEqual(entry.expiresAt);
      if (i > 0) expect((inner.heap[(i - 1) >> 1] as HeapEntry).due).toBeLessThanOrEqual(entry.due);
      // Listed in its tenant's bucket, chained under its home.
      expect(inner.buckets.get(entry.bucket.tenant)).toBe(entry.bucket);
      let chained = entry.bucket.homes.get(entry.home);
      while (chained !== undefined && chained !== entry) chained = chained.next;
      expect(chained).toBe(entry);
      if (swept) expect(entry.expiresAt).toBeGreaterThan(now);
    });
    let held = 0;
    for (const bucket of inner.buckets.values()) {
      expect(bucket.size).toBeGreaterThan(0);
      let chainedEntries = 0;
      for (const first of bucket.homes.values()) {
        for (let e: HeapEntry | undefined = first; e !== undefined; e = e.next) chainedEntries++;
      }
      expect(chainedEntries).toBe(bucket.size);
      held += bucket.size;
    }
    expect(held).toBe(store.keyCount);
  }

  it('keeps its invariants through random decisions, deletes, resets and blocks', async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const store = new MemoryStore({ clock: clock.now });
    const algorithms = [
      'sliding-log',
      'fixed-window',
      'sliding-window',
      'token-bucket',
      'concurrency',
    ] as const;
    const limiters = algorithms.map((algorithm, i) =>
      createLimiter({
        store,
        prefix: `p${i}`,
        limits: [
          { algorithm, limit: 3, window: `${(i + 1) * 700}ms` },
          { algorithm: 'fixed-window', limit: 5, window: '3s', name: 'long' },
        ],
      }),
    );
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    for (let step = 0; step < 4000; step++) {
      const l = limiters[random(limiters.length)] as (typeof limiters)[number];
      const tenant = `t${random(6)}`;
      const key = `k${random(40)}`;
      const op = random(100);
      if (op < 80) await l.limit({ tenant, key, cost: 1 + random(2) });
      else if (op < 88) await l.reset({ tenant, key });
      else if (op < 91) await l.resetTenant(tenant);
      else if (op < 95) await l.block({ tenant, key }, 200 + random(2000));
      else await l.unblock({ tenant, key });
      clock.advance(random(60));
      if (step % 250 === 0) checkHeap(store, clock.now(), false);
    }
    checkHeap(store, clock.now(), false);
    store.sweep();
    checkHeap(store, clock.now(), true);
    // Reset markers live for 20 years; everything else is gone after a while.
    clock.advance(10_000);
    store.sweep();
    checkHeap(store, clock.now(), true);
    const left = store.keyCount;
    expect(left).toBeGreaterThan(0);
    expect(store.sweep(clock.now() + 30 * 365 * 86_400_000)).toBe(left);
    expect(store.keyCount).toBe(0);
    checkHeap(store, clock.now(), true);
  });
});
