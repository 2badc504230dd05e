import type { Decision, Limiter, LimitResult } from '../../index.js';
import type { CountedCheck } from './checks.js';

/** One group's decision, and whether its admission was given back because another group refused. */
export interface GroupOutcome {
  checks: CountedCheck[];
  decision: Decision;
  /** Admitted, then refunded: the request as a whole was refused. */
  refunded: boolean;
}

/**
 * Decides the enforced groups all or nothing. One group (every descriptor with the same hits, the
 * usual case) is one atomic Sluice decision over all its limits. Several groups (descriptors with
 * different hits_addend) are decided one after the other; when one refuses, the groups already
 * admitted are refunded and the rest only peeked, so the request consumes nothing: all or nothing,
 * though not in one atomic step. `refuseAll` (a `requests_per_unit: 0` rule applies) peeks every group.
 */
export async function decideAllOrNothing(
  limiter: Limiter,
  tenant: string,
  groups: readonly CountedCheck[][],
  refuseAll: boolean,
): Promise<GroupOutcome[]> {
  if (refuseAll) return Promise.all(groups.map((g) => decideGroup(limiter, tenant, g, 0)));
  if (groups.length === 1) return [await decideGroup(limiter, tenant, groups[0] as CountedCheck[])];
  const outcomes: GroupOutcome[] = [];
  let refused = false;
  for (const group of groups) {
    const outcome = await decideGroup(limiter, tenant, group, refused ? 0 : undefined);
    outcomes.push(outcome);
    if (!refused && !outcome.decision.allowed) refused = true;
  }
  if (refused) await refundAdmitted(limiter, outcomes);
  return outcomes;
}

/** Shadow groups: decided independently, their verdicts reported but never enforced. */
export function decideShadow(
  limiter: Limiter,
  tenant: string,
  groups: readonly CountedCheck[][],
): Promise<GroupOutcome[]> {
  return Promise.all(groups.map((g) => decideGroup(limiter, tenant, g)));
}

async function decideGroup(
  limiter: Limiter,
  tenant: string,
  checks: CountedCheck[],
  cost?: number,
): Promise<GroupOutcome> {
  const decision = await limiter.decide({
    tenant,
    cost: cost ?? (checks[0] as CountedCheck).cost,
    checks: checks.map((c) => ({ limit: c.limit, key: c.key })),
  });
  return { checks, decision, refunded: false };
}

async function refundAdmitted(limiter: Limiter, outcomes: GroupOutcome[]): Promise<void> {
  for (const outcome of outcomes) {
    if (!outcome.decision.allowed || outcome.decision.cost === 0) continue;
    await limiter.refund(outcome.decision);
    outcome.refunded = true;
  }
}

/** A check's limit state after the request: what a refunded admission left is given back. */
export function resultOf(outcome: GroupOutcome, index: number): LimitResult {
  const result = outcome.decision.limits[index] as LimitResult;
  if (!outcome.refunded) return result;
  return { ...result, remaining: Math.min(result.limit, result.remaining + outcome.decision.cost) };
}
