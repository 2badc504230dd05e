/**
 * Structured log lines of the decisions an operator looks for: rejected, shed, blocked and
 * shadow-rejected (seed 002's fields), written to a pino-compatible logger. Rate-limited by a token
 * bucket of lines, so that an attack cannot flood the logs: lines over the rate are dropped and
 * counted, and the next line written says how many were suppressed since the last one.
 */
import type { DecisionEvent, DecisionObserver } from '../core/observer.js';
import { labelsOf, type Outcome, outcomeOf } from './outcome.js';

/** The part of a logger (pino, console...) decision logs are written to. */
export interface DecisionLogSink {
  warn(object: Record<string, unknown>, message: string): void;
  info?(object: Record<string, unknown>, message: string): void;
}

export interface DecisionLogOptions {
  logger: DecisionLogSink;
  /** Most lines per second, on average (default 10). */
  linesPerSecond?: number;
  /** Most lines in one burst (default 50). */
  burst?: number;
  /** Clock (ms). Default Date.now. */
  clock?: () => number;
}

const LOGGED: ReadonlySet<Outcome> = new Set(['rejected', 'shed', 'blocked', 'shadow_rejected']);
const MESSAGES: Record<string, string> = {
  rejected: 'Rate limit exceeded',
  shed: 'Request shed by platform protection',
  blocked: 'Request blocked',
  shadow_rejected: 'Rate limit would have been exceeded (shadow mode)',
};

export class DecisionLog implements DecisionObserver {
  private readonly logger: DecisionLogSink;
  private readonly rate: number;
  private readonly burst: number;
  private readonly clock: () => number;
  private tokens: number;
  private refilledAt: number;
  /** Lines dropped since the last one written. */
  private suppressed = 0;
  /** Lines dropped in all. */
  suppressedTotal = 0;

  constructor(options: DecisionLogOptions) {
    this.logger = options.logger;
    this.rate = options.linesPerSecond ?? 10;
    this.burst = options.burst ?? 50;
    this.clock = options.clock ?? Date.now;
    this.tokens = this.burst;
    this.refilledAt = this.clock();
  }

  decided(event: DecisionEvent): void {
    if (!LOGGED.has(outcomeOf(event.decision))) return; // most decisions: nothing more to do
    const labels = labelsOf(event.decision);
    if (!this.take()) {
      this.suppressed++;
      this.suppressedTotal++;
      return;
    }
    const line = lineOf(event, labels.policy, labels.scope, labels.outcome);
    if (this.suppressed > 0) line.suppressed = this.suppressed;
    this.suppressed = 0;
    try {
      this.logger.warn(line, MESSAGES[labels.outcome] as string);
    } catch {
      // A logger that fails never fails a decision.
    }
  }

  private take(): boolean {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Seed 002's log fields (snake_case, as its example), plus the outcome and the deciding path. */
function lineOf(
  event: DecisionEvent,
  policy: string,
  scope: string,
  outcome: string,
): Record<string, unknown> {
  const { decision: d, request } = event;
  const extra = d as { violations?: number; adaptiveFactor?: number };
  const line: Record<string, unknown> = {
    event: 'sluice.decision',
    outcome,
    policy_name: policy,
    scope,
    tenant_id: d.tenant,
    remaining: Math.max(0, d.remaining),
    retry_after: Number.isFinite(d.retryAfterMs) ? Math.ceil(d.retryAfterMs / 1000) : null,
    binding_limit: d.binding.name,
    path: d.path,
  };
  if (request?.user !== undefined) line.user_id = request.user;
  if (request?.ip !== undefined) line.client_ip = request.ip;
  if (request?.endpoint !== undefined) line.endpoint = request.endpoint;
  if (extra.violations !== undefined) line.violation_count = extra.violations;
  if (extra.adaptiveFactor !== undefined) line.reputation_score = extra.adaptiveFactor;
  if (request?.correlationId !== undefined) line.correlation_id = request.correlationId;
  return line;
}
