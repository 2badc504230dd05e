import type { Duration } from './duration.js';

/** What a decision is when the store cannot decide: deny, allow, or decide locally with this instance's share. */
export const FAILURE_MODES = ['closed', 'open', 'local'] as const;
export type FailureMode = (typeof FAILURE_MODES)[number];

/**
 * Which path decided: the store, this instance's remembered denial of the store (`cache`, see
 * `LimiterOptions.denialCache`), the local fallback limiter, or a failure mode without one.
 */
export type DecisionPath = 'store' | 'cache' | 'local' | 'fail-open' | 'fail-closed';

/** Names of the built-in algorithms. */
export type AlgorithmName =
  | 'fixed-window'
  | 'sliding-window'
  | 'sliding-log'
  | 'token-bucket'
  | 'concurrency';

/** One limit, as a user writes it. */
export interface LimitDefinition {
  /**
   * Name shown in decisions and headers (for example "per-second"). Unique within a decision.
   * Defaults to `<algorithm>-<window>`, e.g. "sliding-log-1m".
   */
  name?: string;
  /** How requests are counted. Default `sliding-log` (exact). */
  algorithm?: AlgorithmName;
  /**
   * Requests (cost units) admitted per window. For `token-bucket` the refill rate is `limit` per
   * `window`; for `concurrency` it is the number of leases that may be held at once.
   */
  limit: number;
  /**
   * Window length: ms or a string such as "1500ms", "90s", "1h", "1d". For `concurrency` it is the
   * lease time-to-live: a holder that crashes frees its slot after this long.
   */
  window: Duration;
  /** `token-bucket` only: bucket capacity (the largest burst). Defaults to `limit`. */
  burst?: number;
  /**
   * `key` (default): one counter per key of the tenant (per user, per route...). `tenant`: one counter
   * shared by the whole tenant, whatever the key.
   */
  scope?: 'key' | 'tenant';
}

/** A validated limit with everything the stores need. */
export interface NormalizedLimit {
  readonly name: string;
  readonly algorithm: AlgorithmName;
  readonly limit: number;
  readonly windowMs: number;
  /** Largest cost this limit can ever admit (`burst` for token buckets, else `limit`). */
  readonly capacity: number;
  readonly scope: 'key' | 'tenant';
  /** Key segment for this limit: `<encoded name>:<algorithm code><windowMs>`. */
  readonly id: string;
}

/** Why a decision came out the way it did. */
export type DecisionReason =
  /** Every limit had room; the cost was consumed everywhere (or nothing, for a peek). */
  | 'allowed'
  /** At least one limit had no room; nothing was consumed (unless penalty mode is on). */
  | 'rate_limited'
  /** The key or the tenant is blocked (see `Limiter.block`); nothing was consumed. */
  | 'blocked'
  /** The cost is larger than some limit's capacity: it can never be admitted. */
  | 'cost_exceeds_limit'
  /** Platform protection is shedding this request's tier while total traffic is over its threshold. */
  | 'shed'
  /** The store could not decide and the failure mode is `closed`: denied (HTTP: 503, not 429). */
  | 'store_unavailable'
  /** The store could not decide and the failure mode is `open`: allowed without counting. */
  | 'fail_open';

/** The state of one limit after a decision. */
export interface LimitResult {
  name: string;
  /** The limit's state id (`<encoded name>:<algorithm code><window ms>`): what its counters are keyed by. */
  id: string;
  algorithm: AlgorithmName;
  /** The key this limit counted (absent for tenant-wide limits). */
  key?: string;
  /** Capacity: the limit, or the burst of a token bucket. */
  limit: number;
  /** Token buckets: tokens refilled per `windowMs` (the sustained rate; `limit` is the burst). */
  refill?: number;
  /** Window (or lease TTL, or token-bucket refill period) in ms. */
  windowMs: number;
  /**
   * Units asked of this limit, present only when the decision gave its limits costs of their own
   * (`checks[].cost` of `decide`); otherwise every limit was asked the decision's `cost`.
   */
  cost?: number;
  /** Whether this limit had room for the cost. */
  allowed: boolean;
  /** Cost units still available after this decision. */
  remaining: number;
  /** Epoch ms at which this limit is back to full capacity if nothing else is consumed. */
  resetAt: number;
  /** Ms until this request's cost would fit in this limit: 0 if it fits, Infinity if it never can. */
  retryAfterMs: number;
  /**
   * Token buckets: the exact reset instant is `resetAt` when this is 0, else `resetAt - 1` plus this
   * many 1/refill ms (what `refund` needs to give back exactly this decision's share of the bucket).
   */
  resetTicks?: number;
}

/** A concurrency lease: pass it to `release` when the work is done (or let it expire). */
export interface Lease {
  /** Unguessable: the lease is named by it (and by `acquiredAt`), not by anything a caller states. */
  id: string;
  tenant: string;
  cost: number;
  /** Epoch ms at which the slots were taken. */
  acquiredAt: number;
  /** Epoch ms after which the slots free themselves (the shortest lease TTL of the decision). */
  expiresAt: number;
  /** The concurrency limits holding a slot: limit id and the key it counted (absent: tenant-wide). */
  slots: Array<{ limit: string; key?: string }>;
  /** Granted by the local fallback (failure mode `local`): released there too. */
  local?: true;
}

/** The outcome of one call: one verdict for all limits of the request. */
export interface Decision {
  /** Unique and unguessable: names this decision's log entries, lease and refunds. */
  id: string;
  /** Epoch ms at which the store decided (its clock). */
  at: number;
  allowed: boolean;
  reason: DecisionReason;
  tenant: string;
  key?: string;
  cost: number;
  /** The limit that decided: the one that rejected with the longest wait, else the one with least room. */
  binding: LimitResult;
  /** Every limit of the decision, in the order given. */
  limits: LimitResult[];
  /** `binding.remaining`. */
  remaining: number;
  /** `binding.resetAt`. */
  resetAt: number;
  /** Ms to wait before retrying: 0 when allowed, Infinity when the cost can never fit. */
  retryAfterMs: number;
  /** Epoch ms until which the key or tenant is blocked, when `reason` is `blocked`. */
  blockedUntil?: number;
  /** Present when the decision was admitted and holds concurrency slots. */
  lease?: Lease;
  /** The store that decided, e.g. "memory" or "redis". */
  backend: string;
  /**
   * Which path decided: `store`; `cache`, a denial the store gave this instance for the same request
   * shape, replayed until its retry instant (`denialCache`; its `id` is empty); or a failure mode's
   * (`local`, `fail-open`, `fail-closed`).
   */
  path: DecisionPath;
  /** Why the store could not decide, when a failure mode did. */
  storeError?: { code: string; message: string };
}
