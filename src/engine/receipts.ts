import { ALGORITHMS } from '../algorithms/index.js';
import { ValidationError } from '../core/errors.js';
import { decodeIdentifier } from '../core/identifiers.js';
import type { Decision, Lease, LimitResult } from '../core/types.js';
import { MAX_QUANTITY, normalizeLimit, validateCost, withId } from './limits.js';
import { type Check, LEASE_ID } from './plan.js';

/**
 * Refunds and releases name what a decision took: the decision (or its lease) as returned, possibly a
 * JSON copy from another process. This module validates them and turns them back into checks. Pure.
 */

const invalid = (field: string, why: string) => new ValidationError('ERR_SLUICE_INVALID_OPTION', field, why);

/** What a refund gives back, per refundable limit: the decision's cost there and the units to give back. */
export interface RefundTicket {
  limits: LimitResult[];
  /** The units asked (per limit: at most that limit's cost). */
  units: number;
  /** Parallel to `limits`, when the decision's limits had costs of their own or `units` was per limit. */
  perLimit?: Array<{ cost: number; units: number }>;
}

/**
 * What a refund gives back: the decision's refundable limits, and how many units (null: nothing to
 * do). `units`: one number for every limit (at most each limit's cost), or one per limit of
 * `decision.limits` (a decision whose limits were asked different costs).
 */
export function refundTicket(
  decision: Decision,
  units: number | readonly number[] | undefined,
): RefundTicket | null {
  if (typeof decision !== 'object' || decision === null || !Array.isArray(decision.limits)) {
    throw invalid('decision', 'is not a decision returned by limit(), decide() or check()');
  }
  if (typeof decision.id !== 'string' || !Number.isInteger(decision.at)) {
    throw invalid('decision', 'has no id and instant: pass the decision as returned');
  }
  const cost = validateCost(decision.cost, 'decision.cost');
  const asked = askedUnits(decision, cost, units);
  // Nothing was counted: a rejection (penalty charges are not refundable), a peek, a failure mode's answer.
  if (!decision.allowed || (decision.path !== 'store' && decision.path !== 'local')) return null;
  const refundable: LimitResult[] = [];
  const perLimit: Array<{ cost: number; units: number }> = [];
  decision.limits.forEach((l, i) => {
    if (l?.algorithm === 'concurrency') return;
    const own = l?.cost === undefined ? cost : validateCost(l.cost, `decision.limits[${i}].cost`);
    refundable.push(l);
    perLimit.push({ cost: own, units: Math.min(own, asked[i] as number) });
  });
  if (refundable.length === 0 || perLimit.every((p) => p.units === 0)) return null;
  if (!LEASE_ID.test(decision.id)) throw invalid('decision.id', 'is not a decision id');
  const uniform = typeof units !== 'object' && decision.limits.every((l) => l?.cost === undefined);
  const amount = Math.max(...perLimit.map((p) => p.units));
  return uniform ? { limits: refundable, units: amount } : { limits: refundable, units: amount, perLimit };
}

/** The units a refund asks of each limit of the decision (validated; a number applies to all). */
function askedUnits(
  decision: Decision,
  cost: number,
  units: number | readonly number[] | undefined,
): number[] {
  const count = decision.limits.length;
  if (units === undefined) return new Array(count).fill(cost);
  if (typeof units === 'number') {
    const amount = validateCost(units, 'units');
    if (amount > cost) throw invalid('units', `${amount} is more than the decision's cost (${cost})`);
    return new Array(count).fill(amount);
  }
  if (!Array.isArray(units) || units.length !== count) {
    throw invalid(
      'units',
      `must be a number or an array of ${count} numbers (one per limit of the decision)`,
    );
  }
  return units.map((u, i) => {
    const amount = validateCost(u, `units[${i}]`);
    const own = decision.limits[i]?.cost ?? cost;
    if (amount > own) throw invalid(`units[${i}]`, `${amount} is more than that limit's cost (${own})`);
    return amount;
  });
}

/** The check a decision's limit result was decided with (same name, parameters and key: same state). */
export function checkOf(result: LimitResult): Check {
  const tokenBucket = result.algorithm === 'token-bucket';
  const limit = normalizeLimit(
    {
      name: result.name,
      algorithm: result.algorithm,
      limit: tokenBucket ? result.refill : result.limit,
      window: result.windowMs,
      ...(tokenBucket ? { burst: result.limit } : {}),
      scope: result.key === undefined ? 'tenant' : 'key',
    },
    'decision.limits',
  );
  const code = ALGORITHMS[limit.algorithm].code;
  if (
    typeof result.id !== 'string' ||
    !STATE_ID.test(result.id) ||
    !result.id.endsWith(`:${code}${limit.windowMs}`)
  ) {
    throw invalid(
      'decision.limits',
      `"${result.name}" has no state id of a ${limit.algorithm} limit of ${limit.windowMs} ms`,
    );
  }
  if (tokenBucket && !(Number.isInteger(result.resetTicks) && (result.resetTicks as number) >= 0)) {
    throw invalid('decision.limits', `token bucket "${result.name}" has no resetTicks`);
  }
  if (!Number.isInteger(result.resetAt)) throw invalid('decision.limits', `"${result.name}" has no resetAt`);
  const counted = withId(limit, result.id);
  return result.key === undefined ? { limit: counted } : { limit: counted, key: result.key };
}

/** Throws unless `lease` has the shape of a lease a decision returned. */
export function validateLease(lease: Lease): void {
  if (
    typeof lease !== 'object' ||
    lease === null ||
    typeof lease.id !== 'string' ||
    !LEASE_ID.test(lease.id)
  ) {
    throw invalid('lease', 'is not a lease returned by a decision');
  }
  validateCost(lease.cost, 'lease.cost');
  if (!Number.isInteger(lease.acquiredAt))
    throw invalid('lease.acquiredAt', 'must be the instant of the lease');
  if (!Array.isArray(lease.slots) || lease.slots.length === 0) {
    throw invalid('lease.slots', 'must be a non-empty array');
  }
}

const LEASE_SLOT = /^([A-Za-z0-9._~%-]+):cc(\d+)$/;
const STATE_ID = /^[A-Za-z0-9._~%-]+:[a-z]{2}\d+$/;

/** The concurrency check of one slot of a lease (its limit id carries the name and the TTL). */
export function leaseCheck(slot: Lease['slots'][number], i: number): Check {
  const match = typeof slot?.limit === 'string' ? LEASE_SLOT.exec(slot.limit) : null;
  if (!match) throw invalid(`lease.slots[${i}].limit`, 'is not a concurrency limit id');
  const limit = normalizeLimit(
    {
      name: decodeIdentifier(match[1] as string),
      algorithm: 'concurrency',
      // The count is not part of the state's identity: a release frees the lease's own entry.
      limit: MAX_QUANTITY,
      window: Number(match[2]),
      scope: slot.key === undefined ? 'tenant' : 'key',
    },
    `lease.slots[${i}]`,
  );
  return slot.key === undefined ? { limit } : { limit, key: slot.key };
}
