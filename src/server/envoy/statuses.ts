import type { Decision, LimitResult } from '../../index.js';
import type { CheckPlan } from './checks.js';
import type { EnvoyRule } from './config.js';
import { type GroupOutcome, resultOf } from './decide.js';
import type { Target } from './match.js';
import { MAX_UINT32, type RlsStatus } from './types.js';
import { msUntilWindowEnd, UNIT_SECONDS } from './units.js';

/** What the statuses are made of: the targets, the plan, and the enforced and shadow outcomes. */
export interface Decided {
  targets: readonly Target[];
  plan: CheckPlan;
  enforced: GroupOutcome[];
  shadow: GroupOutcome[];
  /** The instant the request was decided at (the store's, when it decided). */
  now: number;
  /** The request's blocks, read alone when no enforced counter was decided (see decideBlocksOnly). */
  blocks?: Decision | undefined;
}

/** One status per descriptor, in the request's order (envoyproxy/ratelimit's numbers for the others). */
export function statusesOf(d: Decided): RlsStatus[] {
  const statuses: RlsStatus[] = d.targets.map((t) =>
    t.kind === 'unlimited' ? { code: 'OK', limitRemaining: MAX_UINT32 } : { code: 'OK', limitRemaining: 0 },
  );
  for (const { rule, descriptor } of d.plan.refused) {
    statuses[descriptor] = statusOf(rule, { allowed: false, remaining: 0, resetAt: d.now }, d.now, false);
  }
  for (const outcome of d.enforced) fill(statuses, outcome, d.now, false);
  for (const outcome of d.shadow) fill(statuses, outcome, d.now, true);
  // Shadow rules with requests_per_unit 0: over their limit, reported OK.
  for (const [i, t] of d.targets.entries()) {
    if (t.kind === 'limit' && t.rule.shadowMode && t.rule.requestsPerUnit === 0) {
      statuses[i] = statusOf(t.rule, { allowed: false, remaining: 0, resetAt: d.now }, d.now, true);
    }
  }
  // A blocked user or IP: every descriptor is over its limit until the block ends (its rule kept).
  const block = blockOf(d);
  if (block === undefined) return statuses;
  return statuses.map(({ currentLimit }) => ({
    code: 'OVER_LIMIT',
    ...(currentLimit ? { currentLimit } : {}),
    limitRemaining: 0,
    durationUntilResetMs: block.retryAfterMs,
  }));
}

/** The decision that found the request blocked: its enforced counters', or its blocks read alone. */
function blockOf(d: Decided): Decision | undefined {
  if (d.blocks?.reason === 'blocked') return d.blocks;
  return d.enforced.find((o) => o.decision.reason === 'blocked')?.decision;
}

function fill(statuses: RlsStatus[], outcome: GroupOutcome, now: number, shadow: boolean): void {
  for (const [j, check] of outcome.checks.entries()) {
    const result = resultOf(outcome, j);
    for (const i of check.descriptors)
      statuses[i] = statusOf(check.rule, result, outcome.decision.at || now, shadow);
  }
}

type LimitState = Pick<LimitResult, 'allowed' | 'remaining' | 'resetAt'>;

function statusOf(rule: EnvoyRule, result: LimitState, now: number, shadow: boolean): RlsStatus {
  const unit = rule.unit ?? 'SECOND';
  // Fixed windows end at the unit's boundary, as envoyproxy/ratelimit reports it even for an unused
  // counter; the other algorithms say when they are back to full.
  const untilReset =
    rule.algorithm === 'fixed-window' ? msUntilWindowEnd(unit, now) : Math.max(0, result.resetAt - now);
  return {
    code: result.allowed || shadow ? 'OK' : 'OVER_LIMIT',
    currentLimit: { name: rule.name ?? rule.fullKey, requestsPerUnit: rule.requestsPerUnit, unit },
    limitRemaining: Math.min(MAX_UINT32, Math.max(0, result.remaining)),
    durationUntilResetMs: Math.min(untilReset, UNIT_SECONDS[unit] * 1000),
  };
}

/**
 * The enforced outcome as one decision, for the response headers: every counted limit, allowed only
 * if the request was. Undefined when nothing enforced was counted.
 */
export function combinedDecision(d: Decided, allowed: boolean): Decision | undefined {
  const first = d.enforced[0]?.decision;
  if (first === undefined) return undefined;
  const limits = d.enforced.flatMap((o) => o.decision.limits.map((_, j) => resultOf(o, j)));
  const rejecting = d.enforced.map((o) => o.decision).filter((x) => !x.allowed);
  const binding =
    rejecting.length > 0
      ? rejecting.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a)).binding
      : limits.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  const retryAfterMs = allowed ? 0 : Math.max(0, ...rejecting.map((x) => x.retryAfterMs), refusedRetry(d));
  return {
    ...first,
    allowed,
    limits,
    binding,
    remaining: binding.remaining,
    resetAt: binding.resetAt,
    retryAfterMs,
  };
}

/** A `requests_per_unit: 0` rule admits nothing: retry no earlier than its window's end. */
function refusedRetry(d: Decided): number {
  const windows = d.plan.refused.map(({ rule }) => msUntilWindowEnd(rule.unit ?? 'SECOND', d.now));
  return windows.length > 0 ? Math.max(...windows) : 0;
}
