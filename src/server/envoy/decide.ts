import type { Decision, Limiter, LimitResult } from '../../index.js';
import type { CountedCheck } from './checks.js';

/** One group's decision (a view of the request's decision holding the group's own limits). */
export interface GroupOutcome {
  checks: CountedCheck[];
  decision: Decision;
}

/**
 * Decides the enforced groups all or nothing, in one atomic Sluice decision over every counter of
 * the request: one group (every descriptor with the same hits, the usual case) at its cost, several
 * (descriptors with different hits_addend) with each counter asked its own hits (`checks[].cost`).
 * `refuseAll` (a `requests_per_unit: 0` rule applies) peeks every group.
 */
export async function decideAllOrNothing(
  limiter: Limiter,
  tenant: string,
  groups: readonly CountedCheck[][],
  refuseAll: boolean,
  blockedBy: string[] = [],
): Promise<GroupOutcome[]> {
  if (refuseAll) return Promise.all(groups.map((g) => decideGroup(limiter, tenant, g, blockedBy, 0)));
  if (groups.length === 0) return [];
  if (groups.length === 1)
    return [await decideGroup(limiter, tenant, groups[0] as CountedCheck[], blockedBy)];
  const decision = await limiter.decide({
    tenant,
    checks: groups.flat().map((c) => ({ limit: c.limit, key: c.key, cost: c.cost })),
    ...(blockedBy.length > 0 ? { blockedBy } : {}),
  });
  let offset = 0;
  return groups.map((checks) => {
    const limits = decision.limits.slice(offset, offset + checks.length);
    offset += checks.length;
    return { checks, decision: { ...decision, limits } };
  });
}

/** Shadow groups: decided independently, their verdicts reported but never enforced. */
export function decideShadow(
  limiter: Limiter,
  tenant: string,
  groups: readonly CountedCheck[][],
): Promise<GroupOutcome[]> {
  return Promise.all(groups.map((g) => decideGroup(limiter, tenant, g)));
}

/**
 * With no enforced counter to decide, the request's blocks alone (one read, nothing counted): a
 * blocked user or IP is refused even where its descriptors match no rule, or an `unlimited` one.
 * Undefined when the request names no user or IP. Fails open: a block that cannot be read does not
 * refuse traffic that no rule limits.
 */
export async function decideBlocksOnly(
  limiter: Limiter,
  tenant: string,
  blockedBy: string[],
): Promise<Decision | undefined> {
  if (blockedBy.length === 0) return undefined;
  return limiter.decidePrepared(limiter.prepareBlocks({ tenant, blockedBy, failureMode: 'open' }));
}

async function decideGroup(
  limiter: Limiter,
  tenant: string,
  checks: CountedCheck[],
  blockedBy: string[] = [],
  cost?: number,
): Promise<GroupOutcome> {
  const decision = await limiter.decide({
    tenant,
    cost: cost ?? (checks[0] as CountedCheck).cost,
    checks: checks.map((c) => ({ limit: c.limit, key: c.key })),
    ...(blockedBy.length > 0 ? { blockedBy } : {}),
  });
  return { checks, decision };
}

/** A check's limit state after the request. */
export function resultOf(outcome: GroupOutcome, index: number): LimitResult {
  return outcome.decision.limits[index] as LimitResult;
}
