import type { AlgorithmName, NormalizedLimit } from '../core/types.js';

/**
 * One rate-limiting algorithm, written twice side by side: as TypeScript step functions over an
 * in-memory state (used by the memory store) and as a Lua fragment (used by the Redis script).
 * The two halves must agree; the conformance suite runs the same scenarios against both.
 *
 * Protocol, per limit of a decision: `load` the state (dropping whatever has expired), ask `fits`
 * for every limit, `commit` on every limit only if all fit, then `view` what the caller sees.
 * Time is in milliseconds and may be fractional (Redis `TIME` has microseconds).
 */
export interface Algorithm<S = unknown> {
  readonly name: AlgorithmName;
  /** Two-letter code used in Redis keys and to dispatch inside the Lua script. */
  readonly code: string;
  /** Holds leases that callers release (concurrency). Refunds skip such limits. */
  readonly leases: boolean;
  /** Whether the definition may carry `burst`. */
  readonly acceptsBurst: boolean;
  /** Capacity of a limit: the largest cost it can ever admit. */
  capacity(limit: number, burst: number | undefined): number;
  /** Working state from what the store holds (undefined: nothing stored or expired). */
  load(stored: S | undefined, now: number, limit: NormalizedLimit): S;
  /** Whether `cost` fits now; if not, ms until it would (-1: never). */
  fits(state: S, now: number, limit: NormalizedLimit, cost: number): { fits: boolean; retryAfterMs: number };
  /** Consumes `cost`. `id` is unique per decision (members of log-based states). */
  commit(state: S, now: number, limit: NormalizedLimit, cost: number, id: string): void;
  /** Gives back `cost` previously admitted, never beyond capacity. */
  refund(state: S, now: number, limit: NormalizedLimit, cost: number): void;
  /** Remaining units (may be fractional; rounded down by the store) and the full-reset instant. */
  view(state: S, now: number, limit: NormalizedLimit): { remaining: number; resetAt: number };
  /** Epoch ms after which the state holds nothing (its key TTL); <= now if it is empty. */
  expiresAt(state: S, now: number, limit: NormalizedLimit): number;
}
