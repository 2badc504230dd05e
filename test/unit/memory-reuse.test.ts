import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { LimitDefinition } from '../../src/core/types.js';
import { normalizeLimits } from '../../src/engine/limits.js';
import { type Check, planDecision, resolveSubject, type Subject } from '../../src/engine/plan.js';
import { createLimiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { RawDecision } from '../../src/stores/store.js';

const EPOCH = 1_800_000_000_123;

/** Limit sets of 1 to 3 limits, every algorithm, per key and tenant-wide. */
const LIMIT_SETS: LimitDefinition[][] = [
  [{ name: 'fw', algorithm: 'fixed-window', limit: 3, window: '1s' }],
  [
    { name: 'sl', algorithm: 'sliding-log', limit: 2, window: '2s' },
    { name: 'tb', algorithm: 'token-bucket', limit: 4, window: '1s', burst: 2 },
  ],
  [
    { name: 'sw', algorithm: 'sliding-window', limit: 5, window: '3s' },
    { name: 'cc', algorithm: 'concurrency', limit: 2, window: '1s' },
    { name: 'wide', algorithm: 'fixed-window', limit: 6, window: '2s', scope: 'tenant' },
  ],
];

function subjectOf(set: number, key: string): Subject {
  const limits = normalizeLimits(LIMIT_SETS[set] as LimitDefinition[]);
  const checks: Check[] = limits.map((limit) => ({ limit, key }));
  return resolveSubject('p', 't', checks);
}

/** What an answer says, copied (a reused answer is refilled by the next decision). */
function copyOf(raw: RawDecision) {
  return {
    admitted: raw.admitted,
    blockedUntil: raw.blockedUntil,
    now: raw.now,
    limits: raw.limits.map((l) => ({
      fits: l.fits,
      remaining: l.remaining,
      resetAt: l.resetAt,
      retryAfterMs: l.retryAfterMs,
      mark: l.mark,
    })),
  };
}

const step = fc.record({
  set: fc.integer({ min: 0, max: LIMIT_SETS.length - 1 }),
  key: fc.constantFrom('a', 'b', 'c'),
  cost: fc.integer({ min: 0, max: 3 }),
  penalty: fc.boolean(),
  advanceMs: fc.integer({ min: 0, max: 1500 }),
  block: fc.boolean(),
});

describe('memory store: decideReusing answers as decideSync', () => {
  it('for any sequence of plans of 1-3 limits (every algorithm), blocks, a full store and time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const clock = new ManualClock(EPOCH);
        // Small enough that some decisions need a key the store has no room for (StoreError).
        const reusing = new MemoryStore({ clock: clock.now, maxKeys: 6, maxKeysPerTenant: 6 });
        const fresh = new MemoryStore({ clock: clock.now, maxKeys: 6, maxKeysPerTenant: 6 });
        let n = 0;
        for (const s of steps) {
          clock.advance(s.advanceMs);
          const subject = subjectOf(s.set, s.key);
          if (s.block && s.cost === 0) {
            const marker = subject.blockKeys[0] as string;
            // A full store refuses a new block marker too: both stores alike.
            const blocked = async (store: MemoryStore) =>
              store.block('t', subject.metaKey, marker, 700).then(
                () => 'ok',
                (error: unknown) => String(error),
              );
            expect(await blocked(reusing)).toBe(await blocked(fresh));
          }
          const plan = { ...planDecision(subject, s.cost, s.penalty), id: `d${n++}` };
          let got: ReturnType<typeof copyOf> | string;
          let want: ReturnType<typeof copyOf> | string;
          try {
            got = copyOf(reusing.decideReusing(plan));
          } catch (error) {
            got = String(error);
          }
          try {
            want = copyOf(fresh.decideSync(plan));
          } catch (error) {
            want = String(error);
          }
          expect(got).toEqual(want);
          expect(reusing.keyCount).toBe(fresh.keyCount);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a decision the Limiter returned does not change with the decisions after it', async () => {
    const clock = new ManualClock(EPOCH);
    const limiter = createLimiter({
      limits: LIMIT_SETS[2] as LimitDefinition[],
      store: new MemoryStore({ clock: clock.now }),
    });
    const first = await limiter.limit({ tenant: 't', key: 'a' });
    const copy = JSON.stringify(first);
    for (let i = 0; i < 5; i++) {
      clock.advance(100);
      await limiter.limit({ tenant: 't', key: i % 2 === 0 ? 'b' : 'a', cost: 1 });
    }
    expect(JSON.stringify(first)).toBe(copy);
    expect(first.limits.map((l) => l.remaining)).toEqual([4, 1, 5]);
  });
});
