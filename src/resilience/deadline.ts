import { StoreError } from '../core/errors.js';
import type { DeadlineKeeper, Expirable } from '../stores/store.js';

/**
 * Time budgets for store calls without a timer per call: calls are queued in deadline order (one
 * budget, so arrival order), and one interval — running only while calls are pending — rejects the
 * overdue ones. A call that misses its budget is abandoned, never re-sent: if its script still runs,
 * it runs once.
 */
export class Deadlines implements DeadlineKeeper {
  private readonly queue: Expirable[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  constructor(
    readonly budgetMs: number,
    private readonly backend: string,
  ) {
    this.tickMs = Math.max(1, Math.min(10, Math.floor(budgetMs / 5)));
  }

  /** Resolves as `work` does, or rejects with StoreError `ERR_SLUICE_STORE_TIMEOUT` past the budget. */
  run<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = new Pending(resolve as (value: unknown) => void, reject);
      this.track(entry);
      work.then(entry.resolve, entry.reject);
    });
  }

  /**
   * Expires `entry` (with StoreError `ERR_SLUICE_STORE_TIMEOUT`) once the budget is over, unless it
   * has settled by then: for stores that own their calls' promises (Store.decideWithin).
   */
  track(entry: Expirable): void {
    entry.at = Date.now() + this.budgetMs;
    this.queue.push(entry);
    this.arm();
  }

  expireNow(entry: Expirable): void {
    if (!entry.settled) entry.expire(this.timeout());
  }

  /** The error of a call past its budget. */
  private timeout(): StoreError {
    return new StoreError(this.backend, `no answer within the ${this.budgetMs} ms budget`, {
      code: 'ERR_SLUICE_STORE_TIMEOUT',
    });
  }

  private arm(): void {
    if (this.timer) return;
    // Expiry runs in the check phase (setImmediate), after the poll phase has read the sockets: after an
    // event-loop stall, replies that arrived in time are delivered before anything is declared late.
    this.timer = setInterval(() => setImmediate(() => this.tick()), this.tickMs);
    this.timer.unref();
  }

  private tick(): void {
    const now = Date.now();
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head] as Expirable;
      if (!entry.settled && entry.at > now) break;
      if (!entry.settled) entry.expire(this.timeout());
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.head >= this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** A call waiting for its answer or its deadline, whichever comes first (the other is then ignored). */
class Pending implements Expirable {
  at = 0;
  settled = false;
  constructor(
    private readonly onValue: (value: unknown) => void,
    private readonly onError: (error: Error) => void,
  ) {}

  expire(error: Error): void {
    this.reject(error);
  }

  readonly resolve = (value: unknown): void => {
    if (this.settled) return;
    this.settled = true;
    this.onValue(value);
  };

  readonly reject = (error: Error): void => {
    if (this.settled) return;
    this.settled = true;
    this.onError(error);
  };
}
