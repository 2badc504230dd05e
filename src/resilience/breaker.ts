import type { Clock } from '../core/clock.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit (the tenant-tier limiter's ..._CIRCUIT_THRESHOLD). Default 5. */
  threshold?: number;
  /** How long it stays open before one probe is let through (..._RESET_TIMEOUT). Default 30 s. */
  resetTimeoutMs?: number;
}

/**
 * Circuit breaker in front of the store: closed (calls go through), open (no call waits on the store:
 * the failure mode decides at once), half-open (one probe at a time; success closes, failure re-opens).
 * An operator can force it open or closed.
 */
export class CircuitBreaker {
  state: CircuitState = 'closed';
  forced: 'open' | 'closed' | undefined;
  consecutiveFailures = 0;
  openedAt = 0;
  /** Totals since start, for health and metrics. */
  opened = 0;
  private probing = false;
  readonly threshold: number;
  readonly resetTimeoutMs: number;

  constructor(
    options: BreakerOptions,
    private readonly clock: Clock,
  ) {
    this.threshold = options.threshold ?? 5;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 30_000;
  }

  /** Whether a call may go to the store now. In half-open, only one probe at a time. */
  allows(): boolean {
    if (this.forced) return this.forced === 'closed';
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (this.clock() - this.openedAt < this.resetTimeoutMs) return false;
      this.state = 'half-open';
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  /** Whether calls are being refused right now, without moving the breaker (no probe is claimed). */
  refusing(): boolean {
    if (this.forced) return this.forced === 'open';
    return this.state === 'open' && this.clock() - this.openedAt < this.resetTimeoutMs;
  }

  success(): void {
    this.consecutiveFailures = 0;
    this.probing = false;
    this.state = 'closed';
  }

  /**
   * A call that the guard had counted as failed (past its budget) was answered after all: the store is
   * alive, so the failures counted so far are forgotten while closed. It does not close an open circuit
   * (only a probe does).
   */
  lateSuccess(): void {
    if (this.state === 'closed') this.consecutiveFailures = 0;
  }

  /**
   * A call that never reached the store (not sent): neither a success nor a failure. A half-open probe
   * is given back, so that the next call probes.
   */
  skip(): void {
    this.probing = false;
  }

  failure(): void {
    this.consecutiveFailures++;
    const probeFailed = this.state === 'half-open';
    this.probing = false;
    if (probeFailed || (this.state === 'closed' && this.consecutiveFailures >= this.threshold)) {
      if (this.state !== 'open') this.opened++;
      this.state = 'open';
      this.openedAt = this.clock();
    }
  }

  /** Operator control: force open or closed, or null to hand control back. */
  force(state: 'open' | 'closed' | null): void {
    this.forced = state ?? undefined;
  }

  /** Back to closed, failures forgotten. */
  reset(): void {
    this.forced = undefined;
    this.success();
  }

  snapshot() {
    return {
      state: this.forced ? (this.forced === 'open' ? 'open' : 'closed') : this.state,
      forced: this.forced ?? null,
      consecutiveFailures: this.consecutiveFailures,
      opened: this.opened,
      openedAt: this.state === 'closed' ? null : this.openedAt,
      threshold: this.threshold,
      resetTimeoutMs: this.resetTimeoutMs,
    } as const;
  }
}
