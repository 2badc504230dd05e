import { StoreError } from '../core/errors.js';
import type { DeadlineKeeper, Expirable } from '../stores/store.js';

/**
 * The timeout of a call past its budget. `sent: false`: its budget ran out before the call was sent (the
 * caller's turn stalled; see DeadlineKeeper.expireNow), so the store never saw it — not a store failure.
 */
export class BudgetTimeout extends StoreError {
  constructor(
    backend: string,
    budgetMs: number,
    readonly sent: boolean,
  ) {
    super(
      backend,
      sent
        ? `no answer within the ${budgetMs} ms budget`
        : `the ${budgetMs} ms budget ran out before the call was sent: not sent`,
      { code: 'ERR_SLUICE_STORE_TIMEOUT' },
    );
  }
}

export interface DeadlinesOptions {
  /** A call the keeper expired was answered after all (late): the store is alive. */
  onLateAnswer?: () => void;
}

/**
 * Time budgets for store calls without a timer per call: calls are queued in deadline order (one
 * budget, so arrival order), and one interval — running only while calls are pending — expires the
 * overdue ones. A call that misses its budget is abandoned, never re-sent: if its script still runs,
 * it runs once.
 *
 * The budget measures the store, not the caller's event loop. A reply sits unread in the socket until a
 * poll phase reads it, and a busy or blocked event loop delays that phase; so a call is expired only
 * - once a poll phase has run since its deadline passed: the keeper expires only the calls whose
 *   deadline had passed at its previous tick (ticks run in the check phase of successive event-loop
 *   turns, each after a poll phase): a reply that was in the socket by the deadline has been read by
 *   then, and is never declared late;
 * - with its deadline pushed back by the event-loop lag measured since it was tracked: how much later
 *   than scheduled the interval ran (a blocked loop, GC, a machine too busy to run the process). A call
 *   is a timeout when it waited for the store past the budget while the loop was responsive.
 * A call whose budget ran out before it was even sent (see expireNow) is the caller's lateness: it
 * is expired with `sent: false`, which the guard does not count as a store failure.
 */
export class Deadlines implements DeadlineKeeper {
  private readonly queue: Expirable[] = [];
  /**
   * Per queued call (same index), its deadline on the lag-free clock: `at` minus the lag accrued when
   * it was tracked. The lag-free clock (Date.now() minus the lag measured so far) never runs backwards,
   * so these are in queue order.
   */
  private readonly due: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;
  /** Event-loop lag measured so far, ms: the interval's lateness, summed. */
  private lag = 0;
  /** When the interval last ran (or was armed). */
  private firedAt = 0;
  /** When the last tick ran (or the interval was armed): a poll phase has run since. */
  private tickedAt = 0;
  private readonly onLateAnswer: (() => void) | undefined;

  constructor(
    readonly budgetMs: number,
    private readonly backend: string,
    options: DeadlinesOptions = {},
  ) {
    this.tickMs = Math.max(1, Math.min(10, Math.floor(budgetMs / 5)));
    this.onLateAnswer = options.onLateAnswer;
  }

  /** Resolves as `work` does, or rejects with StoreError `ERR_SLUICE_STORE_TIMEOUT` past the budget. */
  run<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = new Pending(this, resolve as (value: unknown) => void, reject);
      this.track(entry);
      work.then(entry.resolve, entry.reject);
    });
  }

  /**
   * Expires `entry` (with StoreError `ERR_SLUICE_STORE_TIMEOUT`) once the budget is over, unless it
   * has settled by then: for stores that own their calls' promises (Store.decideWithin).
   */
  track(entry: Expirable): void {
    const now = Date.now();
    entry.at = now + this.budgetMs;
    if (this.timer === undefined) this.arm(now);
    // The lag of the interval's current period up to now happened before this call: not its to discount.
    const accrued = now - this.firedAt - this.tickMs;
    this.due.push(entry.at - this.lag - Math.max(0, accrued));
    this.queue.push(entry);
  }

  /** Expires an entry its store found overdue before sending it (it is then not sent): the caller's lateness. */
  expireNow(entry: Expirable): void {
    if (!entry.settled) entry.expire(new BudgetTimeout(this.backend, this.budgetMs, false));
  }

  /** A call expired by this keeper was answered after all (see Expirable / BatchEntry). */
  answeredLate(): void {
    this.onLateAnswer?.();
  }

  /** Event-loop lag measured so far, ms (for tests and health). */
  get measuredLagMs(): number {
    return this.lag;
  }

  private arm(now: number): void {
    this.firedAt = now;
    this.tickedAt = now;
    this.timer = setInterval(this.fire, this.tickMs);
    this.timer.unref();
  }

  // Measures the loop's lag (how late the interval runs), then expires in the check phase (setImmediate),
  // after this turn's poll phase has read the sockets.
  private readonly fire = (): void => {
    const now = Date.now();
    const late = now - this.firedAt - this.tickMs;
    if (late > 0) this.lag += late;
    this.firedAt = now;
    setImmediate(this.tick);
  };

  private readonly tick = (): void => {
    // Only calls whose deadline (lag discounted) had passed at the previous tick: a poll phase has run
    // since, so a reply that reached the socket by the deadline has been read.
    const cutoff = this.tickedAt - this.lag;
    this.tickedAt = Date.now();
    const queue = this.queue;
    while (this.head < queue.length) {
      const entry = queue[this.head] as Expirable;
      if (!entry.settled) {
        if ((this.due[this.head] as number) > cutoff) break;
        entry.expire(new BudgetTimeout(this.backend, this.budgetMs, true));
      }
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > queue.length) {
      queue.splice(0, this.head);
      this.due.splice(0, this.head);
      this.head = 0;
    }
    if (this.head >= queue.length && this.timer !== undefined) {
      queue.length = 0;
      this.due.length = 0;
      this.head = 0;
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}

/** A call waiting for its answer or its deadline, whichever comes first (the other is then ignored). */
class Pending implements Expirable {
  at = 0;
  settled = false;
  private expired = false;
  constructor(
    private readonly keeper: Deadlines,
    private readonly onValue: (value: unknown) => void,
    private readonly onError: (error: Error) => void,
  ) {}

  expire(error: Error): void {
    if (this.settled) return;
    this.expired = true;
    this.reject(error);
  }

  readonly resolve = (value: unknown): void => {
    if (this.settled) {
      if (this.expired) this.keeper.answeredLate();
      return;
    }
    this.settled = true;
    this.onValue(value);
  };

  readonly reject = (error: Error): void => {
    if (this.settled) return;
    this.settled = true;
    this.onError(error);
  };
}
