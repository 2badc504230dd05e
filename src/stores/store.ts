import type { Algorithm } from '../algorithms/index.js';
import type { NormalizedLimit } from '../core/types.js';
import type { BoardEntry, BoardWrite } from './boards.js';
import type { UsageRead, UsageSums, UsageWrite, UsageWritten } from './usage.js';

/** One limit of a plan: which algorithm, with which parameters, on which storage key. */
export interface PlannedLimit {
  readonly key: string;
  readonly algorithm: Algorithm;
  readonly limit: NormalizedLimit;
  /**
   * Optional: the encoded key `key` counts (`*` for a tenant-wide limit), when `key` is the plan's
   * `stateKey(prefix, tenant, subject, limit.id)` (its meta key being `metaKey(prefix, tenant)`). A
   * store may index its keys by it instead of by `key` (the memory store does: no long string to hash
   * per decision); it names the same state.
   */
  readonly subject?: string;
}

/** A call that can be expired: what a store hands a DeadlineKeeper. */
export interface Expirable {
  /** Epoch ms after which the call is overdue (set by the keeper's `track`). */
  at: number;
  /** Settled already (answered or expired): the keeper skips it. */
  settled: boolean;
  /** Fails the call with the keeper's timeout error. */
  expire(error: Error): void;
}

/** Keeps the deadlines of calls in flight (resilience/deadline.ts's Deadlines). */
export interface DeadlineKeeper {
  /** Sets `entry.at` to now + the budget and expires the entry then, unless it has settled. */
  track(entry: Expirable): void;
  /**
   * Expires a tracked entry now, with the keeper's timeout error (unless it has settled): for a store
   * that finds the entry overdue (`at <= Date.now()`) before it sends the call, which is then not sent.
   */
  expireNow(entry: Expirable): void;
  /**
   * A tracked entry the keeper expired was answered after all (the store's reply came late): the store
   * is alive. Optional.
   */
  answeredLate?(): void;
}

/** Everything a store needs to decide one request atomically. Built by engine/plan.ts. */
export interface DecisionPlan {
  /** Encoded tenant: groups the keys (and is the Cluster hash tag). */
  readonly tenant: string;
  readonly metaKey: string;
  /** Block markers to honour (one per distinct key of the decision). */
  readonly blockKeys: readonly string[];
  readonly limits: readonly PlannedLimit[];
  /** Units asked of every limit; with `costs`, the largest of them (0: nothing is charged, a peek). */
  readonly cost: number;
  /**
   * Per limit (parallel to `limits`), units asked of that limit instead of `cost`: a decision whose
   * limits count different things (an LLM call's requests, tokens and money). A limit asked 0 is
   * checked as a peek would check it, and not charged.
   */
  readonly costs?: readonly number[];
  /** Charge the limits that had room even when the decision is rejected. */
  readonly penalty: boolean;
  /** Unique per decision: members of log entries and the lease id. */
  readonly id: string;
}

/** What a store answers; the engine turns it into a Decision. Times in epoch ms, integers. */
export interface RawDecision {
  readonly admitted: boolean;
  /** 0 when not blocked. */
  readonly blockedUntil: number;
  readonly now: number;
  readonly limits: ReadonlyArray<RawLimit>;
}

/** One limit of a RawDecision, in the plan's order. */
export interface RawLimit {
  readonly fits: boolean;
  readonly remaining: number;
  readonly resetAt: number;
  /** -1: the cost can never fit. */
  readonly retryAfterMs: number;
  /** The algorithm's mark after the decision (token bucket: its TAT's ticks; see Receipt). */
  readonly mark: number;
}

/** A versioned document held by a store. */
export interface StoredDocument {
  /** NaN when the stored value carries no valid version (a broken document: see writeDocument). */
  version: number;
  body: string;
}

/** What a store reads of a document before its body: its version and its size. */
export interface DocumentHead {
  /** NaN when the stored value carries no valid version. */
  version: number;
  /** Bytes of the stored value (version header included). */
  size: number;
  body?: undefined;
}

/** How to read a document. */
export interface ReadDocumentOptions {
  /**
   * Asked with the document's head before its body is transferred: true answers the head alone (a
   * poll whose version did not change, or a document too large to accept, costs a few bytes). Stores
   * that hold documents in process may skip the question and answer the whole document.
   */
  skipBody?(head: DocumentHead): boolean;
}

/**
 * Plan of a refund: the refundable (not lease-based) limits of one admitted decision, and what the
 * decision reported for each, so that each algorithm gives back what that decision took, where it took
 * it, never more (see Algorithm.refund).
 */
export interface RefundPlan {
  readonly tenant: string;
  readonly metaKey: string;
  readonly limits: readonly PlannedLimit[];
  /** Per limit: its ledger key (units of this decision refunded so far), parallel to `limits`. */
  readonly ledgerKeys: readonly string[];
  /** Per limit: its reset instant and mark right after the decision. */
  readonly marks: ReadonlyArray<{ readonly resetAt: number; readonly mark: number }>;
  /** The decision: its id, instant and cost. */
  readonly id: string;
  readonly at: number;
  readonly cost: number;
  /** Units to give back (1 to cost). */
  readonly units: number;
  /** Per limit (parallel to `limits`): the decision's cost there and the units to give back there. */
  readonly perLimit?: ReadonlyArray<{ readonly cost: number; readonly units: number }>;
}

/** What a lease renewal found: the store's instant, and per limit whether the lease still held its slot. */
export interface RenewAnswer {
  readonly now: number;
  readonly held: readonly boolean[];
}

/** Plan of a lease release: the lease-based limits of the decision that acquired it. */
export interface ReleasePlan {
  readonly tenant: string;
  readonly metaKey: string;
  readonly limits: readonly PlannedLimit[];
  /** The lease (decision) id, and the instant it was acquired: together they name its entries. */
  readonly leaseId: string;
  readonly at: number;
}

/**
 * A store executes plans atomically. It knows nothing of tenants' meaning, tiers or HTTP: only keys,
 * algorithms and costs. Failures are thrown as StoreError, never reported as rejections.
 */
export interface Store {
  /** Short name reported in decisions, e.g. "memory" or "redis". */
  readonly backend: string;
  decide(plan: DecisionPlan): Promise<RawDecision>;
  /**
   * Optional: `decide`, with the call's deadline kept by the store itself. The store hands `deadlines`
   * an entry that rejects its pending call when the time is up, sparing the caller a wrapper promise
   * per decision (the guard's budget on every decision's path; see resilience/deadline.ts).
   */
  decideWithin?(plan: DecisionPlan, deadlines: DeadlineKeeper): Promise<RawDecision>;
  /** Gives back what an admitted decision took (see RefundPlan). */
  refund(plan: RefundPlan): Promise<void>;
  /** Removes a lease's entries from the lease-based limits. */
  release(plan: ReleasePlan): Promise<void>;
  /**
   * Renews a lease where it still holds its slots: its entries timestamped now (their TTL runs again
   * from now). Optional (the Limiter's `renew` needs it).
   */
  renew?(plan: ReleasePlan): Promise<RenewAnswer>;
  /** Deletes keys (state and block markers) of one tenant. */
  deleteKeys(tenant: string, metaKey: string, keys: readonly string[]): Promise<void>;
  /** Forgets every state of a tenant, without scanning keys. `retainMs`: how long the reset marker must live. */
  resetTenant(tenant: string, metaKey: string, retainMs: number): Promise<void>;
  /** Blocks a key (blockKey) or, with blockKey null, the whole tenant, until now + durationMs. */
  block(tenant: string, metaKey: string, blockKey: string | null, durationMs: number): Promise<void>;
  /** Removes a block. */
  unblock(tenant: string, metaKey: string, blockKey: string | null): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;
  /**
   * Optional (memory and Redis have it): adds scores to the members of a board (stores/boards.ts), in
   * one atomic call, trims it to `write.maxMembers` highest and sets its TTL.
   */
  addToBoard?(key: string, entries: readonly BoardEntry[], write: BoardWrite): Promise<void>;
  /**
   * Optional: the `count` highest members of the weighted sum of boards (`weights[i]` for `keys[i]`,
   * all of one hash tag), members scoring less than `minScore` left out; highest first.
   */
  readBoards?(
    keys: readonly string[],
    weights: readonly number[],
    count: number,
    minScore?: number,
  ): Promise<BoardEntry[]>;
  /**
   * Optional (memory and Redis have it): adds one settled LLM call's usage to an hour's tallies
   * (stores/usage.ts) in one atomic call: the tenant's totals, the identities index and the
   * identity's own counters, each bounded, each with its TTL.
   */
  addUsage?(write: UsageWrite): Promise<UsageWritten>;
  /** Optional: sums tallies over several hours' keys (all of one hash tag). */
  readUsage?(read: UsageRead): Promise<UsageSums>;
  /** Resolves once the store can take calls (a network store has connected). */
  ready?(timeoutMs?: number, options?: { keepTrying?: boolean }): Promise<void>;
  /** Reads a small versioned document (the runtime configuration); null when there is none. */
  readDocument(key: string): Promise<StoredDocument | null>;
  /** The same, asking `options.skipBody` before the body is transferred (see ReadDocumentOptions). */
  readDocument(key: string, options: ReadDocumentOptions): Promise<StoredDocument | DocumentHead | null>;
  /**
   * Writes a document if its version is still `expectedVersion` (0: none yet; -1: a document without a
   * valid version, which is replaced if it still has none, at version `floorVersion` + 1). Returns the
   * new version, or null when someone else wrote first (read again and retry).
   */
  writeDocument(
    key: string,
    body: string,
    expectedVersion: number,
    floorVersion?: number,
  ): Promise<number | null>;
}
