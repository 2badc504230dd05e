/**
 * Which tenants (or identities) get their own label: the `top` busiest of the last interval, every
 * other one `other`, so that an attacker minting tenants cannot grow the number of time series. Counting is bounded too:
 * `top * 8` tenants at most are counted in an interval (Space-Saving, see replaceLeast).
 */
export const OTHER_LABEL = 'other';

export class TopLabels {
  private counts = new Map<string, number>();
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
    if (count !== undefined) this.counts.set(tenant, count + 1);
    else if (this.counts.size < this.capacity) this.counts.set(tenant, 1);
    else this.replaceLeast(tenant);
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
   * Space-Saving: a newcomer takes the place of the least counted tenant, with its count plus one, so
   * that a busy tenant arriving after a flood of minted ones still climbs to the top.
   */
  private replaceLeast(tenant: string): void {
    let least: string | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const [t, c] of this.counts) {
      if (c < min) {
        min = c;
        least = t;
      }
    }
    if (least === undefined) return;
    this.counts.delete(least);
    this.counts.set(tenant, min + 1);
  }

  private rotate(now: number): void {
    const ranked = [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, this.top);
    const next = new Set(ranked.map(([tenant]) => tenant));
    const dropped = [...this.labeled].filter((t) => !next.has(t));
    this.labeled = next;
    this.counts = new Map();
    this.intervalStart = now;
    if (dropped.length > 0) this.onDropped(dropped);
  }
}
