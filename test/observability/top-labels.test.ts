import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { OTHER_LABEL, TopLabels } from '../../src/observability/top-labels.js';

/** TopLabels as it was before it kept the least count: every replacement walks all counted tenants. */
class ReferenceTopLabels {
  private counts = new Map<string, number>();
  private labeled = new Set<string>();
  private intervalStart: number;
  private calls = 0;
  readonly dropped: string[][] = [];

  constructor(
    private readonly top: number,
    private readonly intervalMs: number,
    private readonly clock: () => number,
  ) {
    this.intervalStart = clock();
  }

  label(tenant: string): string {
    if ((++this.calls & 63) === 0) {
      const now = this.clock();
      if (now - this.intervalStart >= this.intervalMs) this.rotate(now);
    }
    const count = this.counts.get(tenant);
    if (count !== undefined) this.counts.set(tenant, count + 1);
    else if (this.counts.size < this.top * 8) this.counts.set(tenant, 1);
    else {
      let least: string | undefined;
      let min = Number.POSITIVE_INFINITY;
      for (const [t, c] of this.counts) {
        if (c < min) {
          min = c;
          least = t;
        }
      }
      this.counts.delete(least as string);
      this.counts.set(tenant, min + 1);
    }
    if (this.labeled.has(tenant)) return tenant;
    if (this.labeled.size < this.top) {
      this.labeled.add(tenant);
      return tenant;
    }
    return OTHER_LABEL;
  }

  tenants(): string[] {
    return [...this.labeled];
  }

  private rotate(now: number): void {
    const ranked = [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, this.top);
    const next = new Set(ranked.map(([tenant]) => tenant));
    const dropped = [...this.labeled].filter((t) => !next.has(t));
    this.labeled = next;
    this.counts = new Map();
    this.intervalStart = now;
    if (dropped.length > 0) this.dropped.push(dropped);
  }
}

describe('TopLabels', () => {
  it('labels exactly as the walk over every counted tenant did, rotations included (property)', () => {
    const step = fc.record({
      tenant: fc.integer({ min: 0, max: 60 }),
      advanceMs: fc.constantFrom(0, 0, 0, 7),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 1500 }), (top, steps) => {
        const clock = new ManualClock(1_800_000_000_000);
        const dropped: string[][] = [];
        const fast = new TopLabels(top, 100, clock.now, (d) => dropped.push(d));
        const reference = new ReferenceTopLabels(top, 100, clock.now);
        for (const { tenant, advanceMs } of steps) {
          clock.advance(advanceMs);
          expect(fast.label(`t${tenant}`)).toBe(reference.label(`t${tenant}`));
        }
        expect(fast.tenants()).toEqual(reference.tenants());
        expect(dropped).toEqual(reference.dropped);
      }),
      { numRuns: 200 },
    );
  });

  it('minted tenants in turn: a busy tenant arriving after them still takes a label at the next interval', () => {
    const clock = new ManualClock(1_800_000_000_000);
    const labels = new TopLabels(2, 1000, clock.now, () => undefined);
    for (let i = 0; i < 5000; i++) labels.label(`minted${i}`);
    for (let i = 0; i < 700; i++) labels.label('big');
    clock.advance(1000);
    for (let i = 0; i < 64; i++) labels.label('next');
    // 5,000 minted over 16 counted places: every place at 312 or 313; big replaced one and climbed past.
    expect(labels.tenants()[0]).toBe('big');
    expect(labels.label('big')).toBe('big');
  });
});
