import { ManualClock } from '../../src/core/clock.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { Store } from '../../src/stores/store.js';

/**
 * What the conformance suite needs from a store under test. The memory store runs on a ManualClock,
 * so every time value is exact (tolerance 0); Redis stores run on the server's clock, so the suite
 * sleeps instead of advancing and compares time values within `tolerance` ms.
 */
export interface Harness {
  readonly name: string;
  readonly store: Store;
  /** Allowed error on time values (reset instants, waits), in ms. */
  readonly tolerance: number;
  /** Whether time is driven exactly (memory) or real (Redis). */
  readonly exactTime: boolean;
  /** The store's notion of now (approximate for Redis). */
  now(): number;
  /** Lets `ms` pass. */
  advance(ms: number): Promise<void>;
  /** Moves to just after the start of a window of `windowMs` (epoch-aligned), for window-aligned algorithms. */
  alignTo(windowMs: number): Promise<void>;
}

export function memoryHarness(): Harness & { clock: ManualClock } {
  const clock = new ManualClock(1_700_000_000_000);
  return {
    name: 'memory',
    clock,
    store: new MemoryStore({ clock: clock.now }),
    tolerance: 0,
    exactTime: true,
    now: clock.now,
    advance: async (ms) => clock.advance(ms),
    alignTo: async (windowMs) => clock.set((Math.floor(clock.now() / windowMs) + 1) * windowMs),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A harness over a Redis-backed store: real time, `tolerance` ms of slack. */
export function realTimeHarness(name: string, store: Store, tolerance = 60): Harness {
  return {
    name,
    store,
    tolerance,
    exactTime: false,
    now: () => Date.now(),
    advance: async (ms) => {
      await sleep(ms);
    },
    async alignTo(windowMs) {
      // Short windows: start just after a boundary, so the suite's expected waits hold. Long ones:
      // only make sure the burst of calls that follows cannot straddle a boundary.
      const left = windowMs - (Date.now() % windowMs);
      if (windowMs <= 2000 || left < 2000) await sleep(left + 5);
    },
  };
}
