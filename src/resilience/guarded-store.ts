import { type Clock, systemClock } from '../core/clock.js';
import { StoreError } from '../core/errors.js';
import type { BoardEntry, BoardWrite } from '../stores/boards.js';
import type {
  DecisionPlan,
  DocumentHead,
  RawDecision,
  ReadDocumentOptions,
  RefundPlan,
  ReleasePlan,
  RenewAnswer,
  Store,
  StoredDocument,
} from '../stores/store.js';
import type { UsageRead, UsageSums, UsageWrite, UsageWritten } from '../stores/usage.js';
import { type BreakerOptions, CircuitBreaker } from './breaker.js';
import { BudgetTimeout, Deadlines } from './deadline.js';

type Identity<T> = (value: T) => T;

export interface GuardOptions {
  /** Time budget of one store call in ms (default 50): past it, the call is abandoned. */
  budgetMs?: number;
  breaker?: BreakerOptions;
  clock?: Clock;
}

/**
 * A store behind a time budget and a circuit breaker. Store failures (errors, and calls the store left
 * unanswered past the budget while the event loop was responsive: see Deadlines) count towards opening
 * the circuit; calls that never reached the store (not connected, or overdue before they were sent) do
 * not, and a call answered after its budget ran out proves the store alive (CircuitBreaker.lateSuccess).
 * While the circuit is open, calls fail at once with `ERR_SLUICE_CIRCUIT_OPEN`, so no request waits on a
 * store that is down. Failures are thrown as StoreError: the limiter's failure mode turns them into
 * decisions.
 */
export class GuardedStore implements Store {
  readonly backend: string;
  readonly breaker: CircuitBreaker;
  private readonly deadlines: Deadlines;
  lastError: StoreError | undefined;
  /**
   * When the current outage began (the guard's clock): the instant of its first failure (an error, an
   * unanswered call, or a refusal because the client is not connected), cleared by the first answer
   * (a late one too). Undefined while the store answers. Calls refused by the open circuit, and calls
   * overdue before they were sent, neither start nor end an outage.
   */
  unreachableSince: number | undefined;
  /** Called once when an outage ends (the store answered again), with the instant it began. */
  onReachable: ((since: number) => void) | undefined;
  readonly clock: Clock;
  private readonly circuitOpen: StoreError;

  constructor(
    readonly inner: Store,
    options: GuardOptions = {},
  ) {
    this.backend = inner.backend;
    this.clock = options.clock ?? systemClock;
    this.breaker = new CircuitBreaker(options.breaker ?? {}, this.clock);
    const breaker = this.breaker;
    this.deadlines = new Deadlines(options.budgetMs ?? 50, inner.backend, {
      onLateAnswer: () => {
        breaker.lateSuccess();
        if (this.unreachableSince !== undefined) this.reachable();
      },
    });
    this.circuitOpen = new StoreError(inner.backend, 'circuit open: not calling the store', {
      code: 'ERR_SLUICE_CIRCUIT_OPEN',
    });
  }

  get budgetMs(): number {
    return this.deadlines.budgetMs;
  }

  decide(plan: DecisionPlan): Promise<RawDecision> {
    const inner = this.inner;
    if (!inner.decideWithin) return this.guard(() => inner.decide(plan));
    // A store that keeps deadlines itself spares every decision a wrapper promise (see Store.decideWithin).
    if (!this.breaker.allows()) return Promise.reject(this.circuitOpen);
    return inner
      .decideWithin(plan, this.deadlines)
      .then(this.succeeded as Identity<RawDecision>, this.failed);
  }

  refund(plan: RefundPlan): Promise<void> {
    return this.guard(() => this.inner.refund(plan));
  }

  release(plan: ReleasePlan): Promise<void> {
    return this.guard(() => this.inner.release(plan));
  }

  renew(plan: ReleasePlan): Promise<RenewAnswer> {
    const inner = this.inner;
    if (!inner.renew) return Promise.reject(noRenewal(inner.backend));
    return this.guard(() => (inner.renew as NonNullable<Store['renew']>)(plan));
  }

  deleteKeys(tenant: string, metaKey: string, keys: readonly string[]): Promise<void> {
    return this.guard(() => this.inner.deleteKeys(tenant, metaKey, keys));
  }

  resetTenant(tenant: string, metaKey: string, retainMs: number): Promise<void> {
    return this.guard(() => this.inner.resetTenant(tenant, metaKey, retainMs));
  }

  block(tenant: string, metaKey: string, blockKey: string | null, durationMs: number): Promise<void> {
    return this.guard(() => this.inner.block(tenant, metaKey, blockKey, durationMs));
  }

  unblock(tenant: string, metaKey: string, blockKey: string | null): Promise<void> {
    return this.guard(() => this.inner.unblock(tenant, metaKey, blockKey));
  }

  // Configuration documents are read by a background poller: they neither wait on the budget nor
  // move the breaker (an operator must be able to write them while decisions fail over).
  readDocument(key: string): Promise<StoredDocument | null>;
  readDocument(key: string, options: ReadDocumentOptions): Promise<StoredDocument | DocumentHead | null>;
  readDocument(key: string, options?: ReadDocumentOptions): Promise<StoredDocument | DocumentHead | null> {
    // Passed on as given: a poll of an unchanged document transfers no body through the guard either.
    return options ? this.inner.readDocument(key, options) : this.inner.readDocument(key);
  }

  writeDocument(
    key: string,
    body: string,
    expectedVersion: number,
    floorVersion?: number,
  ): Promise<number | null> {
    return this.inner.writeDocument(key, body, expectedVersion, floorVersion);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  // Boards (the tenant index, top limited identities, the audit trail) are written in the background
  // and read by operators: within the budget, but they never move the breaker either.
  addToBoard(key: string, entries: readonly BoardEntry[], write: BoardWrite): Promise<void> {
    if (!this.inner.addToBoard) return Promise.reject(noBoards(this.inner));
    return this.inner.addToBoard(key, entries, write);
  }

  readBoards(
    keys: readonly string[],
    weights: readonly number[],
    count: number,
    minScore?: number,
  ): Promise<BoardEntry[]> {
    if (!this.inner.readBoards) return Promise.reject(noBoards(this.inner));
    return this.inner.readBoards(keys, weights, count, minScore);
  }

  // LLM usage tallies are written when a call settles and read by operators: like boards, they never
  // move the breaker. A write keeps the budget, so that no settlement waits on a store that hangs.
  addUsage(write: UsageWrite): Promise<UsageWritten> {
    if (!this.inner.addUsage) return Promise.reject(noUsage(this.inner));
    return this.deadlines.run(this.inner.addUsage(write));
  }

  readUsage(read: UsageRead): Promise<UsageSums> {
    if (!this.inner.readUsage) return Promise.reject(noUsage(this.inner));
    return this.inner.readUsage(read);
  }

  async ready(timeoutMs?: number, options?: { keepTrying?: boolean }): Promise<void> {
    await this.inner.ready?.(timeoutMs, options);
  }

  // One promise chain per call, with handlers bound once: this wrapper sits on every decision's path.
  private guard<T>(call: () => Promise<T>): Promise<T> {
    // One error object for every call refused while open: building an Error (its stack) per call
    // would cost more than the failure-mode decision it leads to.
    if (!this.breaker.allows()) return Promise.reject(this.circuitOpen);
    return this.deadlines.run(call()).then(this.succeeded as Identity<T>, this.failed);
  }

  private readonly succeeded = (value: unknown): unknown => {
    this.breaker.success();
    if (this.unreachableSince !== undefined) this.reachable();
    return value;
  };

  /** The store answered: the outage (if any) is over. */
  private reachable(): void {
    const since = this.unreachableSince as number;
    this.unreachableSince = undefined;
    this.onReachable?.(since);
  }

  private readonly failed = (error: unknown): never => {
    const failure =
      error instanceof StoreError
        ? error
        : new StoreError(this.backend, String((error as Error)?.message ?? error), { cause: error });
    this.lastError = failure;
    const sent = !(failure instanceof BudgetTimeout && !failure.sent);
    if (sent && this.unreachableSince === undefined) this.unreachableSince = this.clock();
    // Refused at once because the client is not connected (ERR_SLUICE_STORE_UNAVAILABLE): nothing
    // waited on the store, so it does not open the circuit, which would keep decisions off the store
    // for the reset timeout once it is connected again. A half-open probe still fails as a probe.
    if (failure.code === 'ERR_SLUICE_STORE_UNAVAILABLE' && this.breaker.state === 'closed') throw failure;
    // Overdue before it was sent (the caller's turn stalled past the budget): the store never saw it.
    if (failure instanceof BudgetTimeout && !failure.sent) {
      this.breaker.skip();
      throw failure;
    }
    this.breaker.failure();
    throw failure;
  };
}

function noBoards(store: Store): StoreError {
  return new StoreError(
    store.backend,
    `the ${store.backend} store keeps no boards (tenant index, top limited)`,
    {
      code: 'ERR_SLUICE_STORE_UNSUPPORTED',
    },
  );
}

function noRenewal(backend: string): StoreError {
  return new StoreError(backend, `the ${backend} store cannot renew leases`, {
    code: 'ERR_SLUICE_STORE_UNSUPPORTED',
  });
}

function noUsage(store: Store): StoreError {
  return new StoreError(store.backend, `the ${store.backend} store keeps no LLM usage tallies`, {
    code: 'ERR_SLUICE_STORE_UNSUPPORTED',
  });
}
