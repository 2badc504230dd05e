import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { AlgorithmName, LimitDefinition } from '../../src/core/types.js';
import { createLimiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

/**
 * Property-based tests over random configurations at real epoch instants (fast-check): the promises
 * of the Decisions section hold for every (limit, window, burst, cost) that validation accepts, not
 * only for hand-picked ones at clock 0. The differential test carries them over to the Lua half.
 */
const instant = fc.integer({ min: 1_600_000_000_000, max: 4_000_000_000_000 });
const windowMs = fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.constantFrom(1000, 1500, 60_000, 3_600_000));
const quantity = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 1_000_000_000 }));

/** A token bucket that validation accepts: it refills within 10 years. */
const bucket = fc
  .record({ limit: quantity, window: windowMs, burst: fc.option(quantity, { nil: undefined }) })
  .filter(({ limit, window, burst }) => ((burst ?? limit) / limit) * window <= 3650 * 86_400_000);

function limiterAt(at: number, limits: LimitDefinition[]) {
  const clock = new ManualClock(at);
  return { clock, l: createLimiter({ store: new MemoryStore({ clock: clock.now }), limits }) };
}

describe('properties: token bucket at epoch instants', () => {
  it('a full bucket admits its whole burst in unit requests at one instant, and not one more', async () => {
    await fc.assert(
      fc.asyncProperty(instant, bucket, async (at, { limit, window, burst }) => {
        const capacity = burst ?? limit;
        fc.pre(capacity <= 300);
        const { l } = limiterAt(at, [{ algorithm: 'token-bucket', limit, window, burst }]);
        for (let i = 0; i < capacity; i++)
          expect((await l.limit({ tenant: 't', key: 'k' })).allowed).toBe(true);
        const extra = await l.limit({ tenant: 't', key: 'k' });
        // Only a refill of a token per ms or faster could admit it at the same instant: never, same ms.
        expect(extra.allowed).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a cost equal to the burst fits a full bucket; one more unit never fits', async () => {
    await fc.assert(
      fc.asyncProperty(instant, bucket, async (at, { limit, window, burst }) => {
        const capacity = burst ?? limit;
        const { l } = limiterAt(at, [{ algorithm: 'token-bucket', limit, window, burst }]);
        const whole = await l.limit({ tenant: 't', key: 'k', cost: capacity });
        expect([whole.allowed, whole.remaining]).toEqual([true, 0]);
        if (capacity < 1_000_000_000) {
          const over = await l.limit({ tenant: 't', key: 'k2', cost: capacity + 1 });
          expect([over.reason, over.retryAfterMs]).toEqual(['cost_exceeds_limit', Number.POSITIVE_INFINITY]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('at retryAfterMs a rejected request fits, 1 ms earlier it does not; resetAt is exact', async () => {
    await fc.assert(
      fc.asyncProperty(
        instant,
        bucket,
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (at, cfg, share) => {
          const capacity = cfg.burst ?? cfg.limit;
          const { l, clock } = limiterAt(at, [{ algorithm: 'token-bucket', ...cfg }]);
          const first = await l.limit({ tenant: 't', key: 'k', cost: capacity });
          const cost = Math.max(1, Math.floor(share * capacity));
          const rejected = await l.limit({ tenant: 't', key: 'k', cost });
          expect(rejected.allowed).toBe(false);
          const wait = rejected.retryAfterMs;
          expect(Number.isInteger(wait) && wait >= 1).toBe(true);
          // The bucket is full again exactly at the first decision's resetAt (time only moves forward).
          const checks = [
            { at: first.at + wait - 1, atLeast: 0, below: cost },
            { at: first.at + wait, atLeast: cost, below: Number.POSITIVE_INFINITY },
            { at: first.resetAt - 1, atLeast: 0, below: capacity },
            { at: first.resetAt, atLeast: capacity, below: capacity + 1 },
          ].sort((x, y) => x.at - y.at);
          for (const { at: when, atLeast, below } of checks) {
            clock.set(when);
            const { remaining } = await l.peek({ tenant: 't', key: 'k' });
            expect(remaining).toBeGreaterThanOrEqual(atLeast);
            expect(remaining).toBeLessThan(below);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('properties: every algorithm at epoch instants', () => {
  const algorithms: AlgorithmName[] = [
    'sliding-log',
    'fixed-window',
    'sliding-window',
    'concurrency',
    'token-bucket',
  ];
  const scenario = fc.record({
    algorithm: fc.constantFrom(...algorithms),
    limit: fc.integer({ min: 1, max: 50 }),
    window: windowMs,
    at: instant,
    steps: fc.array(
      fc.record({ cost: fc.integer({ min: 0, max: 60 }), gap: fc.integer({ min: 0, max: 3000 }) }),
      {
        maxLength: 30,
      },
    ),
  });

  it('retryAfterMs is exact: one ms earlier still rejected, at it admitted (when nothing else changes)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ algorithm, limit, window, at, steps }) => {
        const { l, clock } = limiterAt(at, [{ algorithm, limit, window }]);
        for (const { cost, gap } of steps) {
          clock.advance(gap);
          const d = await l.limit({ tenant: 't', key: 'k', cost });
          if (d.allowed || d.reason !== 'rate_limited') continue;
          // Time only moves forward: the scenario goes on from the instant it fits.
          clock.advance(d.retryAfterMs - 1);
          expect((await l.peek({ tenant: 't', key: 'k' })).remaining).toBeLessThan(cost);
          clock.advance(1);
          expect((await l.peek({ tenant: 't', key: 'k' })).remaining).toBeGreaterThanOrEqual(cost);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refunds never give back more than a decision took: refunding everything restores at most capacity', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ algorithm, limit, window, at, steps }) => {
        fc.pre(algorithm !== 'concurrency');
        const { l, clock } = limiterAt(at, [{ algorithm, limit, window }]);
        const admitted = [];
        let taken = 0;
        for (const { cost, gap } of steps) {
          clock.advance(gap % 50);
          const d = await l.limit({ tenant: 't', key: 'k', cost });
          if (d.allowed && cost > 0) {
            admitted.push(d);
            taken += cost;
          }
        }
        const before = (await l.peek({ tenant: 't', key: 'k' })).remaining;
        for (const d of admitted) {
          await l.refund(d);
          await l.refund(d); // twice: the ledger gives nothing more
        }
        const after = (await l.peek({ tenant: 't', key: 'k' })).remaining;
        expect(after).toBeLessThanOrEqual(limit);
        expect(after - before).toBeLessThanOrEqual(taken);
      }),
      { numRuns: 300 },
    );
  });
});

describe('properties: costs per limit (checks[].cost)', () => {
  const algorithm = fc.constantFrom<AlgorithmName>(
    'fixed-window',
    'sliding-window',
    'sliding-log',
    'token-bucket',
    'concurrency',
  );
  const limitsOf = fc
    .array(fc.record({ algorithm, limit: fc.integer({ min: 1, max: 12 }), window: windowMs }), {
      minLength: 1,
      maxLength: 4,
    })
    .map((ls) => ls.map((l, i) => ({ ...l, name: `l${i}` }) as LimitDefinition));
  const step = fc.record({
    costs: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 4, maxLength: 4 }),
    advance: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })),
  });
  const without = (d: { id: string; lease?: { id: string } }) => ({
    ...d,
    id: 'x',
    lease: d.lease && { ...d.lease, id: 'x' },
  });

  it('asking every limit the same cost is exactly the decision of that one cost', async () => {
    await fc.assert(
      fc.asyncProperty(instant, limitsOf, fc.array(step, { maxLength: 25 }), async (at, limits, steps) => {
        const clock = new ManualClock(at);
        const weighted = createLimiter({ store: new MemoryStore({ clock: clock.now }) });
        const single = createLimiter({ store: new MemoryStore({ clock: clock.now }) });
        for (const { costs, advance } of steps) {
          const cost = costs[0] as number;
          const a = await weighted.decide({
            tenant: 't',
            checks: limits.map((limit) => ({ limit, key: 'k', cost })),
          });
          const b = await single.decide({
            tenant: 't',
            cost,
            checks: limits.map((limit) => ({ limit, key: 'k' })),
          });
          const plain = { ...a, limits: a.limits.map(({ cost: _c, ...l }) => l), binding: { ...a.binding } };
          delete (plain.binding as { cost?: number }).cost;
          expect(without(plain)).toEqual(without(b));
          clock.advance(advance);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('admitted iff every limit has room for its own cost; then each is charged exactly that, else none', async () => {
    await fc.assert(
      fc.asyncProperty(instant, limitsOf, fc.array(step, { maxLength: 25 }), async (at, limits, steps) => {
        const clock = new ManualClock(at);
        const l = createLimiter({ store: new MemoryStore({ clock: clock.now }) });
        const peek = () =>
          l.decide({ tenant: 't', checks: limits.map((limit) => ({ limit, key: 'k', cost: 0 })) });
        for (const { costs, advance } of steps) {
          const before = (await peek()).limits.map((x) => x.remaining);
          const d = await l.decide({
            tenant: 't',
            checks: limits.map((limit, i) => ({ limit, key: 'k', cost: costs[i] as number })),
          });
          const room = before.map((r, i) => r >= (costs[i] as number));
          expect(d.limits.map((x) => x.allowed)).toEqual(room);
          expect(d.allowed).toBe(room.every(Boolean));
          const after = (await peek()).limits.map((x) => x.remaining);
          expect(after).toEqual(before.map((r, i) => (d.allowed ? r - (costs[i] as number) : r)));
          expect(d.limits.map((x) => x.cost)).toEqual(limits.map((_, i) => costs[i]));
          clock.advance(advance);
        }
      }),
      { numRuns: 150 },
    );
  });
});
