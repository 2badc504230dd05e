import type { Decision, DecisionReason, Lease, LimitResult } from '../core/types.js';
import type { RawDecision } from '../stores/store.js';
import type { Subject } from './plan.js';

/**
 * Whether a decision is the store's count: decided by it, or its denial replayed by the denial cache
 * (a failure mode's answer is not).
 */
export function decidedByStore(d: Decision): boolean {
  return d.path === 'store' || d.path === 'cache';
}

/** Turns a store's raw answer into the Decision callers see. Pure. */
export function buildDecision(
  raw: RawDecision,
  subject: Subject,
  key: string | undefined,
  cost: number,
  id: string,
  backend: string,
  costs?: readonly number[],
): Decision {
  const count = subject.limits.length;
  const limits: LimitResult[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const r = raw.limits[i] as RawDecision['limits'][number];
    const wait = r.retryAfterMs === -1 ? Number.POSITIVE_INFINITY : r.retryAfterMs;
    const result = limitResult(subject, i, r.fits, r.remaining, r.resetAt, wait);
    if (result.algorithm === 'token-bucket') result.resetTicks = r.mark;
    if (costs !== undefined) result.cost = costs[i] as number;
    limits[i] = result;
  }

  const blocked = raw.blockedUntil > 0;
  let reason: DecisionReason;
  let binding: LimitResult;
  let retryAfterMs: number;
  if (blocked) {
    reason = 'blocked';
    retryAfterMs = Math.max(1, raw.blockedUntil - raw.now);
    binding = blockedBinding(raw.blockedUntil, retryAfterMs, key);
  } else if (raw.admitted) {
    reason = 'allowed';
    binding = leastRoom(limits);
    retryAfterMs = 0;
  } else {
    binding = longestWait(limits);
    retryAfterMs = binding.retryAfterMs;
    reason = retryAfterMs === Number.POSITIVE_INFINITY ? 'cost_exceeds_limit' : 'rate_limited';
  }

  const decision =
    key === undefined
      ? storeDecision(id, raw, reason, subject.tenant, cost, binding, limits, retryAfterMs, backend)
      : keyedDecision(id, raw, reason, subject.tenant, key, cost, binding, limits, retryAfterMs, backend);
  if (blocked) decision.blockedUntil = raw.blockedUntil;
  if (raw.admitted && cost > 0 && subject.leases) {
    const lease = leaseOf(subject, cost, id, raw.now, costs);
    if (lease) decision.lease = lease;
  }
  return decision;
}

/** A store's decision (the optional fields are added after, `key` by keyedDecision). */
function storeDecision(
  id: string,
  raw: RawDecision,
  reason: DecisionReason,
  tenant: string,
  cost: number,
  binding: LimitResult,
  limits: LimitResult[],
  retryAfterMs: number,
  backend: string,
): Decision {
  return {
    id,
    at: raw.now,
    allowed: raw.admitted,
    reason,
    tenant,
    cost,
    binding,
    limits,
    remaining: binding.remaining,
    resetAt: binding.resetAt,
    retryAfterMs,
    backend,
    path: 'store',
  };
}

/** storeDecision with its key: one literal per shape, rather than a property added after. */
function keyedDecision(
  id: string,
  raw: RawDecision,
  reason: DecisionReason,
  tenant: string,
  key: string,
  cost: number,
  binding: LimitResult,
  limits: LimitResult[],
  retryAfterMs: number,
  backend: string,
): Decision {
  return {
    id,
    at: raw.now,
    allowed: raw.admitted,
    reason,
    tenant,
    cost,
    binding,
    limits,
    remaining: binding.remaining,
    resetAt: binding.resetAt,
    retryAfterMs,
    backend,
    path: 'store',
    key,
  };
}

/** The `name` (and `id`) of the binding of a decision no limit bounds. */
export const UNLIMITED_BINDING = 'none';

/**
 * The binding of an admitted decision over no limits (one only blocks could refuse; see
 * Limiter.prepareBlocks): nothing bounds it. name `none`, id `none:fw0`, limit and remaining
 * Infinity, windowMs, resetAt and retryAfterMs 0.
 */
export function unlimitedBinding(): LimitResult {
  return {
    name: UNLIMITED_BINDING,
    id: 'none:fw0',
    algorithm: 'fixed-window',
    limit: Number.POSITIVE_INFINITY,
    windowMs: 0,
    allowed: true,
    remaining: Number.POSITIVE_INFINITY,
    resetAt: 0,
    retryAfterMs: 0,
  };
}

/** The `name` (and `id`) of the binding of a decision a block decided. */
export const BLOCKED_BINDING = 'blocked';

/**
 * The binding of a blocked decision: the block itself, shaped like a limit that admits nothing until it
 * ends. name and id `blocked`, algorithm `fixed-window`, limit 0, windowMs and retryAfterMs the block's
 * remaining time, remaining 0, resetAt the block's end (`blockedUntil`), allowed false; `key` the
 * request's key when it has one. The limits themselves stay in `limits`, with their own state.
 */
export function blockedBinding(blockedUntil: number, retryAfterMs: number, key?: string): LimitResult {
  const binding: LimitResult = {
    name: BLOCKED_BINDING,
    id: BLOCKED_BINDING,
    algorithm: 'fixed-window',
    limit: 0,
    windowMs: retryAfterMs,
    allowed: false,
    remaining: 0,
    resetAt: blockedUntil,
    retryAfterMs,
  };
  if (key !== undefined) binding.key = key;
  return binding;
}

function leastRoom(limits: LimitResult[]): LimitResult {
  if (limits.length === 0) return unlimitedBinding();
  let best = limits[0] as LimitResult;
  for (let i = 1; i < limits.length; i++) {
    const l = limits[i] as LimitResult;
    if (l.remaining < best.remaining) best = l;
  }
  return best;
}

function longestWait(limits: LimitResult[]): LimitResult {
  return limits.reduce((worst, l) =>
    !l.allowed && (worst.allowed || l.retryAfterMs > worst.retryAfterMs) ? l : worst,
  );
}

/** The slots an admitted decision holds: its concurrency limits that were asked for more than 0. */
function leaseOf(
  subject: Subject,
  cost: number,
  id: string,
  now: number,
  costs?: readonly number[],
): Lease | undefined {
  const slots: Lease['slots'] = [];
  let ttl = Number.POSITIVE_INFINITY;
  let held = costs === undefined ? cost : 0;
  subject.limits.forEach((planned, i) => {
    if (!planned.algorithm.leases) return;
    if (costs !== undefined) {
      if (costs[i] === 0) return;
      held = Math.max(held, costs[i] as number);
    }
    const slot: Lease['slots'][number] = { limit: planned.limit.id };
    const key = subject.keys[i];
    if (key !== undefined) slot.key = key;
    slots.push(slot);
    ttl = Math.min(ttl, planned.limit.windowMs);
  });
  if (slots.length === 0) return undefined;
  return { id, tenant: subject.tenant, cost: held, acquiredAt: now, expiresAt: now + ttl, slots };
}

/**
 * The decision of a failure mode without a local limiter: `open` admits (every limit reported at its
 * capacity, nothing counted), `closed` denies (remaining 0, retry after `retryAfterMs`).
 */
export function failureDecision(
  mode: 'open' | 'closed',
  subject: Subject,
  request: { key?: string; cost: number },
  error: { code: string; message: string },
  backend: string,
  now: number,
  retryAfterMs: number,
): Decision {
  const open = mode === 'open';
  const limits: LimitResult[] = subject.limits.map((planned, i) =>
    open
      ? limitResult(subject, i, true, planned.limit.capacity, now, 0)
      : limitResult(subject, i, false, 0, now + retryAfterMs, retryAfterMs),
  );
  const binding =
    limits.length === 0
      ? failureBinding(open, now, retryAfterMs)
      : limits.reduce((best, l) => (l.remaining < best.remaining ? l : best));
  const decision: Decision = {
    id: '',
    at: now,
    allowed: open,
    reason: open ? 'fail_open' : 'store_unavailable',
    tenant: subject.tenant,
    cost: request.cost,
    binding,
    limits,
    remaining: binding.remaining,
    resetAt: binding.resetAt,
    retryAfterMs: open ? 0 : retryAfterMs,
    backend,
    path: open ? 'fail-open' : 'fail-closed',
    storeError: error,
  };
  if (request.key !== undefined) decision.key = request.key;
  return decision;
}

/**
 * The binding of a failure mode's decision over no limits: unbounded when open; when closed, nothing
 * admitted until `retryAfterMs` (the block that could not be read may be there).
 */
function failureBinding(open: boolean, now: number, retryAfterMs: number): LimitResult {
  const binding = unlimitedBinding();
  if (open) return binding;
  binding.allowed = false;
  binding.remaining = 0;
  binding.resetAt = now + retryAfterMs;
  binding.retryAfterMs = retryAfterMs;
  return binding;
}

/** The result of limit `i` of a decision: its definition, the key it counted, and its state. */
function limitResult(
  subject: Subject,
  i: number,
  allowed: boolean,
  remaining: number,
  resetAt: number,
  retryAfterMs: number,
): LimitResult {
  const { limit } = subject.limits[i] as Subject['limits'][number];
  const key = subject.keys[i];
  // One literal per shape (rather than a property added after): no out-of-object properties.
  const result: LimitResult =
    key === undefined
      ? {
          name: limit.name,
          id: limit.id,
          algorithm: limit.algorithm,
          limit: limit.capacity,
          windowMs: limit.windowMs,
          allowed,
          remaining,
          resetAt,
          retryAfterMs,
        }
      : {
          name: limit.name,
          id: limit.id,
          algorithm: limit.algorithm,
          limit: limit.capacity,
          windowMs: limit.windowMs,
          allowed,
          remaining,
          resetAt,
          retryAfterMs,
          key,
        };
  if (limit.algorithm === 'token-bucket') result.refill = limit.limit;
  return result;
}

/**
 * The `local` failure mode's decision when some limits' share on this instance is 0 (`zero[i]`):
 * those limits admit nothing here, so a request that costs anything is rejected (`rate_limited`,
 * retry after `retryAfterMs`: when the store may decide again); a peek is allowed. `others` is the
 * local peek of the remaining limits (in order, without the zero ones), when there are any.
 */
export function zeroShareDecision(
  subject: Subject,
  zero: readonly boolean[],
  others: Decision | undefined,
  request: { key?: string | undefined; cost: number },
  backend: string,
  now: number,
  retryAfterMs: number,
): Decision {
  const peek = request.cost === 0;
  let next = 0;
  const limits: LimitResult[] = subject.limits.map((_, i) => {
    if (!zero[i]) return others?.limits[next++] as LimitResult;
    const result = limitResult(subject, i, peek, 0, now, peek ? 0 : retryAfterMs);
    result.limit = 0;
    if (result.refill !== undefined) result.refill = 0;
    return result;
  });
  const blocked = others?.reason === 'blocked';
  const binding = blocked
    ? (others as Decision).binding
    : (limits.find((l, i) => zero[i] && (peek || !l.allowed)) as LimitResult);
  const decision: Decision = {
    id: '',
    at: now,
    allowed: peek && !blocked,
    reason: blocked ? 'blocked' : peek ? 'allowed' : 'rate_limited',
    tenant: subject.tenant,
    cost: request.cost,
    binding,
    limits,
    remaining: binding.remaining,
    resetAt: binding.resetAt,
    retryAfterMs: blocked ? (others as Decision).retryAfterMs : peek ? 0 : retryAfterMs,
    backend,
    path: 'local',
  };
  if (blocked && others?.blockedUntil !== undefined) decision.blockedUntil = others.blockedUntil;
  if (request.key !== undefined) decision.key = request.key;
  return decision;
}
