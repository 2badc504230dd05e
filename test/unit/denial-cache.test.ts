import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ValidationError } from '../../src/core/errors.js';
import type { AlgorithmName, Decision, LimitDefinition } from '../../src/core/types.js';
import { createLimiter, type Limiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { EPOCH, freshPrefix, useBackends } from '../regressions/support.js';

/** A limiter on its own memory store, on `clock`. */
function memoryLimiter(clock: ManualClock, limits: LimitDefinition[], denialCache?: unknown): Limiter {
  return createLimiter({
    limits,
    store: new MemoryStore({ clock: clock.now }),
    clock: clock.now,
    ...(denialCache === undefined ? {} : { denialCache: denialCache as true }),
  });
}

describe('denial cache: replays the store denials it was given, never admits', () => {
  it('a denied shape is denied from the cache until the retry instant, then decided by the store again', async () => {
    const clock = new ManualClock(EPOCH);
    const limiter = memoryLimiter(clock, [{ algorithm: 'fixed-window', limit: 2, window: '10s' }], true);
    const paths: string[] = [];
    for (let i = 0; i < 5; i++) paths.push((await limiter.limit({ tenant: 't', key: 'k' })).path);
    expect(paths).toEqual(['store', 'store', 'store', 'cache', 'cache']);
    const cached = (await limiter.limit({ tenant: 't', key: 'k' })) as Decision;
    expect([cached.allowed, cached.reason, cached.id, cached.remaining]).toEqual([
      false,
      'rate_limited',
      '',
      0,
    ]);
    // The window ends 10 s after its aligned start: the wait counts down with the clock.
    const wait = cached.retryAfterMs;
    clock.advance(400);
    expect((await limiter.limit({ tenant: 't', key: 'k' })).retryAfterMs).toBe(Math.max(1, wait - 400));
    expect(limiter.denials?.hits).toBe(4);
    // Trusted for maxStaleMs (1 s) at most, however far the window's end.
    clock.advance(600);
    expect((await limiter.limit({ tenant: 't', key: 'k' })).path).toBe('store');
  });

  it('a denial of cost c stands for c and more, not for less', async () => {
    const clock = new ManualClock(EPOCH);
    const limiter = memoryLimiter(clock, [{ algorithm: 'fixed-window', limit: 5, window: '1m' }], true);
    expect((await limiter.limit({ tenant: 't', key: 'k', cost: 3 })).allowed).toBe(true);
    const denied = await limiter.limit({ tenant: 't', key: 'k', cost: 3 });
    expect([denied.allowed, denied.path]).toEqual([false, 'store']);
    expect((await limiter.limit({ tenant: 't', key: 'k', cost: 4 })).path).toBe('cache');
    const small = await limiter.limit({ tenant: 't', key: 'k', cost: 2 });
    expect([small.allowed, small.path, small.remaining]).toEqual([true, 'store', 0]);
  });

  it('refunds, resets and unblocks through this instance forget the tenant at once', async () => {
    const clock = new ManualClock(EPOCH);
    const limiter = memoryLimiter(clock, [{ algorithm: 'sliding-log', limit: 1, window: '1m' }], true);
    const first = await limiter.limit({ tenant: 't', key: 'k' });
    await limiter.limit({ tenant: 't', key: 'k' });
    expect((await limiter.limit({ tenant: 't', key: 'k' })).path).toBe('cache');
    await limiter.refund(first);
    expect((await limiter.limit({ tenant: 't', key: 'k' })).allowed).toBe(true);
    await limiter.limit({ tenant: 't', key: 'k' });
    await limiter.reset({ tenant: 't', key: 'k' });
    expect((await limiter.limit({ tenant: 't', key: 'k' })).allowed).toBe(true);
    await limiter.limit({ tenant: 't', key: 'k' });
    await limiter.resetTenant('t');
    expect((await limiter.limit({ tenant: 't', key: 'k' })).allowed).toBe(true);
    await limiter.block({ tenant: 't', key: 'k' }, '1h');
    expect((await limiter.limit({ tenant: 't', key: 'k' })).reason).toBe('blocked');
    expect((await limiter.limit({ tenant: 't', key: 'k' })).path).toBe('cache');
    await limiter.unblock({ tenant: 't', key: 'k' });
    await limiter.resetTenant('t');
    expect((await limiter.limit({ tenant: 't', key: 'k' })).allowed).toBe(true);
  });

  it('leases, penalty mode and peeks are never served from the cache', async () => {
    const clock = new ManualClock(EPOCH);
    const leases = memoryLimiter(clock, [{ algorithm: 'concurrency', limit: 1, window: '1m' }], true);
    await leases.limit({ tenant: 't', key: 'k' });
    for (let i = 0; i < 3; i++) expect((await leases.limit({ tenant: 't', key: 'k' })).path).toBe('store');
    const penalty = createLimiter({
      limits: [{ algorithm: 'fixed-window', limit: 1, window: '1m' }],
      store: new MemoryStore({ clock: clock.now }),
      clock: clock.now,
      penalty: true,
      denialCache: true,
    });
    for (let i = 0; i < 3; i++) expect((await penalty.limit({ tenant: 't', key: 'k' })).path).toBe('store');
    const plain = memoryLimiter(clock, [{ algorithm: 'fixed-window', limit: 1, window: '1m' }], true);
    await plain.limit({ tenant: 't', key: 'k' });
    await plain.limit({ tenant: 't', key: 'k' });
    const peek = await plain.peek({ tenant: 't', key: 'k' });
    expect([peek.path, peek.remaining]).toEqual(['store', 0]);
  });

  it('a raised limit is another shape: never denied by the smaller limit remembered', async () => {
    const clock = new ManualClock(EPOCH);
    const store = new MemoryStore({ clock: clock.now });
    const limiter = createLimiter({ store, clock: clock.now, denialCache: true });
    const small = { name: 'rpm', algorithm: 'fixed-window' as const, limit: 1, window: '1m' };
    await limiter.decide({ tenant: 't', checks: [{ limit: small, key: 'k' }] });
    await limiter.decide({ tenant: 't', checks: [{ limit: small, key: 'k' }] });
    expect((await limiter.decide({ tenant: 't', checks: [{ limit: small, key: 'k' }] })).path).toBe('cache');
    const raised = await limiter.decide({
      tenant: 't',
      checks: [{ limit: { ...small, limit: 2 }, key: 'k' }],
    });
    expect([raised.allowed, raised.path]).toEqual([true, 'store']);
  });

  // An attacker minting keys evicts entries: that sends a hot key back to the store, where its count is.
  it('regression: flooding the cache never resets a counter (denial-cache-flood-keeps-counts)', async () => {
    const clock = new ManualClock(EPOCH);
    const limiter = memoryLimiter(clock, [{ algorithm: 'fixed-window', limit: 1, window: '1m' }], {
      maxEntries: 4,
    });
    await limiter.limit({ tenant: 't', key: 'hot' });
    await limiter.limit({ tenant: 't', key: 'hot' });
    for (let i = 0; i < 50; i++) {
      await limiter.limit({ tenant: 't', key: `flood${i}` });
      await limiter.limit({ tenant: 't', key: `flood${i}` });
    }
    expect(limiter.denials?.size).toBe(4);
    const hot = await limiter.limit({ tenant: 't', key: 'hot' });
    expect([hot.allowed, hot.path, hot.remaining]).toEqual([false, 'store', 0]);
  });

  it('options are validated strictly', () => {
    const make = (denialCache: unknown) => () =>
      createLimiter({ limits: [{ limit: 1, window: '1s' }], denialCache: denialCache as true });
    const cases: Array<[unknown, string]> = [
      [{ maxEntrys: 5 }, 'denialCache.maxEntrys'],
      [{ maxEntries: 0 }, 'denialCache.maxEntries'],
      [{ maxEntries: 1.5 }, 'denialCache.maxEntries'],
      [{ maxStaleMs: 0 }, 'denialCache.maxStaleMs'],
      [{ maxStaleMs: 120_000 }, 'denialCache.maxStaleMs'],
      ['yes', 'denialCache'],
    ];
    for (const [value, field] of cases) {
      expect(make(value)).toThrow(ValidationError);
      try {
        make(value)();
      } catch (error) {
        expect([(error as ValidationError).code, (error as ValidationError).field]).toEqual([
          'ERR_SLUICE_INVALID_OPTION',
          field,
        ]);
      }
    }
    expect(make(false)().denials).toBeUndefined();
    expect(make({ maxEntries: 3, maxStaleMs: 50 })().denials?.maxEntries).toBe(3);
  });
});

const ALGORITHMS: AlgorithmName[] = ['fixed-window', 'sliding-window', 'sliding-log', 'token-bucket'];

type Op =
  | { kind: 'decide'; key: number; cost: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'refund' }
  | { kind: 'reset'; key: number }
  | { kind: 'resetTenant' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('decide' as const),
      key: fc.nat(2),
      cost: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('refund' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), key: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resetTenant' as const) }) },
);

const limitArb: fc.Arbitrary<LimitDefinition> = fc.record({
  algorithm: fc.constantFrom(...ALGORITHMS),
  limit: fc.integer({ min: 1, max: 8 }),
  window: fc.constantFrom('1s', '2s', '5s', '30s'),
});

describe('denial cache: property over random limits and histories', () => {
  // The cache may only repeat what the store would say: with one instance (nothing changes behind its
  // back) and entries trusted as long as their wait, every decision equals the uncached limiter's.
  it('one instance with the cache decides exactly as one without it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(limitArb, {
          minLength: 1,
          maxLength: 3,
          selector: (l) => `${l.algorithm}${l.window}`,
        }),
        fc.array(opArb, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 999 }),
        async (limits, ops, offset) => {
          const clock = new ManualClock(EPOCH + offset);
          const named = limits.map((l, i) => ({ ...l, name: `l${i}` }));
          const cached = memoryLimiter(clock, named, { maxStaleMs: 60_000 });
          const plain = memoryLimiter(clock, named);
          const admitted: Array<[Decision, Decision]> = [];
          for (const op of ops) {
            if (op.kind === 'advance') clock.advance(op.ms);
            else if (op.kind === 'decide') {
              const request = { tenant: 't', key: `k${op.key}`, cost: op.cost };
              const a = await cached.limit(request);
              const b = await plain.limit(request);
              expect(a.allowed).toBe(b.allowed);
              if (a.allowed) admitted.push([a, b]);
            } else if (op.kind === 'refund') {
              const last = admitted.pop();
              if (last) await Promise.all([cached.refund(last[0]), plain.refund(last[1])]);
            } else if (op.kind === 'reset') {
              const request = { tenant: 't', key: `k${op.key}` };
              await Promise.all([cached.reset(request), plain.reset(request)]);
            } else await Promise.all([cached.resetTenant('t'), plain.resetTenant('t')]);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('denial cache across instances on a real Redis', () => {
  const backends = useBackends();

  it("another instance's reset is seen within maxStaleMs: the under-admission it bounds, measured", async () => {
    const prefix = freshPrefix();
    const clock = new ManualClock(EPOCH);
    const limits: LimitDefinition[] = [{ algorithm: 'fixed-window', limit: 3, window: '1h' }];
    const a = createLimiter({
      limits,
      prefix,
      store: backends.redis().store,
      clock: clock.now,
      denialCache: { maxStaleMs: 200 },
    });
    const b = createLimiter({ limits, prefix, store: backends.redis().store });
    let admitted = 0;
    for (let i = 0; i < 10; i++) if ((await a.limit({ tenant: 't', key: 'k' })).allowed) admitted++;
    expect(admitted).toBe(3);
    expect(a.denials?.hits).toBe(6); // the 4th decision was the store's denial, the next 6 the cache's
    await b.resetTenant('t');
    // Until the entry's 200 ms are over, instance a still denies what the store would now admit.
    const stale = await a.limit({ tenant: 't', key: 'k' });
    expect([stale.allowed, stale.path]).toEqual([false, 'cache']);
    clock.advance(200);
    const fresh = await a.limit({ tenant: 't', key: 'k' });
    expect([fresh.allowed, fresh.path, fresh.remaining]).toEqual([true, 'store', 2]);
    // And the store's count is exact: nothing was admitted by the cache, nothing counted by it.
    const peek = await b.peek({ tenant: 't', key: 'k' });
    expect(peek.remaining).toBe(2);
  });

  it('decisions of many in flight on one hot key: the store sees only what the cache has not answered', async () => {
    const prefix = freshPrefix();
    const limits: LimitDefinition[] = [{ algorithm: 'sliding-log', limit: 5, window: '1h' }];
    const a = createLimiter({ limits, prefix, store: backends.redis().store, denialCache: true });
    const first = await Promise.all(Array.from({ length: 20 }, () => a.limit({ tenant: 't', key: 'k' })));
    expect(first.filter((d) => d.allowed).length).toBe(5);
    const later = await Promise.all(Array.from({ length: 20 }, () => a.limit({ tenant: 't', key: 'k' })));
    expect(later.every((d) => !d.allowed && d.path === 'cache')).toBe(true);
    const peek = await a.peek({ tenant: 't', key: 'k' });
    expect(peek.remaining).toBe(0);
  });
});
