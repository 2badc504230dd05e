import type { AlgorithmName, NormalizedLimit } from '../core/types.js';

/**
 * What a refund knows of the admitted decision it gives units back for: enough for each algorithm to
 * find where that decision took its units, and to give back no more than it took there.
 */
export interface Receipt {
  /** The decision's id (log entries and leases are named by it). */
  readonly id: string;
  /** The instant the decision was made (ms). */
  readonly at: number;
  /** Units the decision took. */
  readonly cost: number;
  /** Units of this decision already refunded on this limit (the store's ledger). */
  readonly refunded: number;
  /** This limit's reset instant right after the decision (ms, rounded up). */
  readonly resetAt: number;
  /** This limit's own mark right after the decision (token bucket: ticks of its TAT; else 0). */
  readonly mark: number;
}

/**
 * One rate-limiting algorithm, written twice side by side: as TypeScript step functions over an
 * in-memory state (used by the memory store) and as a Lua fragment (used by the Redis script).
 * The two halves must agree; the conformance and differential suites run the same scenarios on both.
 *
 * Protocol, per limit of a decision: `load` the state (dropping whatever has expired), ask `fits`
 * for every limit, `commit` on every limit only if all fit, then `view` what the caller sees.
 * Time is in whole milliseconds (Redis `TIME`, truncated).
 */
export interface Algorithm<S = unknown> {
  readonly name: AlgorithmName;
  /** Two-letter code used in Redis keys and to dispatch inside the Lua script. */
  readonly code: string;
  /** Holds leases that callers release (concurrency). Refunds and penalties skip such limits. */
  readonly leases: boolean;
  /**
   * Refunds of this algorithm are counted in a ledger per decision (string states, whose units are
   * not tied to a decision); log-based states find the decision's own entry instead.
   */
  readonly ledger: boolean;
  /** Whether the definition may carry `burst`. */
  readonly acceptsBurst: boolean;
  /** Capacity of a limit: the largest cost it can ever admit. */
  capacity(limit: number, burst: number | undefined): number;
  /** Working state from what the store holds (undefined: nothing stored or expired). */
  load(stored: S | undefined, now: number, limit: NormalizedLimit): S;
  /** Whether `cost` fits now; if not, ms until it would (-1: never). */
  fits(state: S, now: number, limit: NormalizedLimit, cost: number): { fits: boolean; retryAfterMs: number };
  /** Consumes `cost`. `id` is unique per decision (names log entries). */
  commit(state: S, now: number, limit: NormalizedLimit, cost: number, id: string): void;
  /** The mark reported with the decision (see Receipt.mark). */
  mark(state: S): number;
  /**
   * Gives back up to `units` of what the receipt's decision took, where it took them (its window, its
   * log entry, its share of the bucket's debt), never more. `units` is already capped by the ledger.
   */
  refund(state: S, now: number, limit: NormalizedLimit, units: number, receipt: Receipt): void;
  /** Until when a refund of the receipt's decision can still change this limit (the ledger's TTL). */
  refundableUntil(receipt: Receipt, limit: NormalizedLimit): number;
  /** Lease-based algorithms: frees the lease of decision `id` made at `at` (nothing if not held). */
  release?(state: S, id: string, at: number): void;
  /** Lease-based algorithms: re-times the lease of `id` made at `at` to `now`; false if not held. */
  renew?(state: S, id: string, at: number, now: number): boolean;
  /** Remaining units (may be fractional; rounded down by the store) and the full-reset instant. */
  view(state: S, now: number, limit: NormalizedLimit): { remaining: number; resetAt: number };
  /** Epoch ms after which the state holds nothing (its key TTL); <= now if it is empty. */
  expiresAt(state: S, now: number, limit: NormalizedLimit): number;
}
