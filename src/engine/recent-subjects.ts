import type { Subject } from './plan.js';

/** Subjects kept at most (about 400 bytes each for one limit): a generation of the cache. */
export const RECENT_CAPACITY = 16_384;
/** Lookups skipped after a generation that did not pay for itself, before the cache is tried again. */
export const RECENT_COOLDOWN = 64 * RECENT_CAPACITY;

/**
 * The subjects of keys laid out lately, for traffic that comes back to its keys (up to ~16,000 of them,
 * or a hot few among many): a decision then reuses its key's subject rather than laying it out again
 * (its strings and arrays are what a memory-store decision allocates most). A generation ends when the
 * cache is full: it is cleared (never scanned), and if fewer than half its lookups found a subject (keys
 * spread wider than it holds), the cache stays off for RECENT_COOLDOWN lookups, so that spread traffic
 * pays almost nothing for it (`capacity` and `cooldown`: for tests). Bounded; the subjects are the layout's own (immutable once laid out).
 */
export class RecentSubjects {
  private readonly kept = new Map<string, Subject>();
  /** Lookups of this generation that found a subject. */
  private hits = 0;
  /** Lookups left before the cache is tried again (0: on). */
  private off = 0;
  /** Generations that ended off: for tests and tuning. */
  cooldowns = 0;

  constructor(
    private readonly capacity = RECENT_CAPACITY,
    private readonly cooldown = RECENT_COOLDOWN,
  ) {}

  get size(): number {
    return this.kept.size;
  }

  /** The subject kept for the tenant's key, if any. */
  get(tenant: string, key: string): Subject | undefined {
    if (this.off > 0) {
      this.off--;
      return undefined;
    }
    const subject = this.kept.get(key);
    if (subject === undefined || subject.tenant !== tenant) return undefined;
    this.hits++;
    return subject;
  }

  /** Keeps a subject just laid out (after `get` found none). */
  keep(key: string, subject: Subject): void {
    if (this.off > 0) return;
    const kept = this.kept.size;
    if (kept >= this.capacity) {
      // Each subject kept is one lookup that missed: fewer hits than that, under half found one.
      const paid = this.hits >= kept;
      this.kept.clear();
      this.hits = 0;
      if (!paid) {
        this.off = this.cooldown;
        this.cooldowns++;
        return;
      }
    }
    this.kept.set(key, subject);
  }
}
