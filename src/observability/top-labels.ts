/**
 * Which tenants (or identities) get their own label: the `top` busiest of the last interval, every
 * other one `other`, so that an attacker minting tenants cannot grow the number of time series. Counting is bounded too:
 * `top * 8` tenants at most are counted in an interval (Space-Saving, see replaceLeast).
 */
export const OTHER_LABEL = 'other';

export class TopLabels {
  private counts = new Map<string, number>();
  /** How many counted tenants have each count, and the least count: replaceLeast stops at the first such. */
  private histogram = new Map<number, number>();
  private least = 0;
  private labeled = new Set<string>();
  private intervalStart: number;
  private calls = 0;
  private readonly capacity: number;

  constructor(
    readonly top: number,
    private readonly intervalMs: number,
    private readonly clock: () => number,
    /** Called with the tenants that lost their label, so their series can be removed. */
    private readonly onDropped: (tenants: string[]) => void,
  ) {
    this.capacity = top * 8;
    this.intervalStart = clock();
  }

  /** Counts one decision of `tenant` and returns its label. */
  label(tenant: string): string {
    // The clock is read every 64 calls: an interval ends at most 64 decisions late.
    if ((++this.calls & 63) === 0) {
      const now = this.clock();
      if (now - this.intervalStart >= this.intervalMs) this.rotate(now);
    }
    const count = this.counts.get(tenant);
    if (count !== undefined) {
      this.counts.set(tenant, count + 1);
      this.uncount(count);
      this.count(count + 1);
      this.raiseLeast(count);
    } else if (this.counts.size < this.capacity) {
      this.counts.set(tenant, 1);
      this.count(1);
    } else this.replaceLeast(tenant);
    if (this.labeled.has(tenant)) return tenant;
    // Until the first interval ends, the first `top` tenants seen are labeled.
    if (this.labeled.size < this.top) {
      this.labeled.add(tenant);
      return tenant;
    }
    return OTHER_LABEL;
  }

  /** The labeled tenants now. */
  tenants(): string[] {
    return [...this.labeled];
  }

  /**
   * Space-Saving: a newcomer takes the place of the least counted tenant (the first counted of them),
   * with its count plus one, so that a busy tenant arriving after a flood of minted ones still climbs
   * to the top. The least count is known: the walk stops at the first tenant that has it (with
   * tenants minted in turn, the first one), instead of visiting every counted tenant.
   */
  private replaceLeast(tenant: string): void {
    const min = this.least;
    for (const [t, c] of this.counts) {
      if (c !== min) continue;
      this.counts.delete(t);
      this.uncount(min);
      this.counts.set(tenant, min + 1);
      this.count(min + 1);
      this.raiseLeast(min);
      return;
    }
  }

  /** Counted tenants per count: a newcomer starts at 1, a count only ever grows by one. */
  private count(value: number): void {
    this.histogram.set(value, (this.histogram.get(value) ?? 0) + 1);
    if (value === 1) this.least = 1;
  }

  private uncount(value: number): void {
    const left = (this.histogram.get(value) as number) - 1;
    if (left === 0) this.histogram.delete(value);
    else this.histogram.set(value, left);
  }

  /** After a tenant left count `from` for `from + 1`: with none left at the least, `from + 1` is. */
  private raiseLeast(from: number): void {
    if (from === this.least && !this.histogram.has(from)) this.least = from + 1;
  }

  private rotate(now: number): void {
    const ranked = [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, this.top);
    const next = new Set(ranked.map(([tenant]) => tenant));
    const dropped = [...this.labeled].filter((t) => !next.has(t));
    this.labeled = next;
    this.counts = new Map();
    this.histogram = new Map();
    this.least = 0;
    this.intervalStart = now;
    if (dropped.length > 0) this.onDropped(dropped);
  }
}
