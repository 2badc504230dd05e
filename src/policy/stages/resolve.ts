import { ValidationError } from '../../core/errors.js';
import { rejectUnknownKeys } from '../../core/options.js';
import type { Limiter } from '../../limiter.js';
import type { AppliedPolicy, PolicySet } from '../resolve.js';
import { type RequestShape, ShapeCache } from '../shapes.js';
import type { CountBy, FailureMode, PolicyOutcome, RequestContext } from '../types.js';
import { blockedByOf, identityOf, type PolicyCheck } from './check.js';

/**
 * Stage 1, resolve: which tier and which policies apply to a request, laid out as its shape (cached
 * per shape of request: repeated requests do no resolution, validation or key building).
 */
export class Resolver {
  private readonly shapes = new ShapeCache();

  constructor(
    private readonly engine: Limiter,
    private readonly tierResolver: ((ctx: RequestContext) => string | undefined) | undefined,
  ) {}

  /** Starts a check: validates the context, resolves the tier and the shape. `cost` overrides ctx.cost (peek: 0). */
  resolve(set: PolicySet, configVersion: number, ctx: RequestContext, cost?: number): PolicyCheck {
    validateContext(ctx);
    const tier = set.tierOf(ctx, this.tierResolver);
    const shape =
      this.shapes.get(set, ctx, tier) ?? this.shapes.add(this.shapeOf(set.resolve(ctx, tier), ctx));
    return {
      ctx,
      set,
      configVersion,
      tier,
      cost: cost ?? ctx.cost ?? 1,
      identity: set.config.reputation.enabled ? identityOf(ctx) : undefined,
      epoch: set.runtime.reputationEpoch ?? 0,
      shape,
      standing: undefined,
      violations: undefined,
      byReputation: 1,
      byLoad: 1,
      countsGood: false,
      decision: undefined,
      shadow: undefined,
      compared: undefined,
    };
  }

  /** Lays out the decisions of a set of applied policies (see RequestShape). */
  shapeOf(applied: AppliedPolicy[], ctx: RequestContext): RequestShape {
    const enforced = applied.filter((a) => a.policy.mode === 'enforce');
    const shadow = applied.filter((a) => a.policy.mode === 'shadow');
    const policyOfLimit = new Map<string, string>();
    for (const a of applied)
      for (const l of a.limits) if (!policyOfLimit.has(l.name)) policyOfLimit.set(l.name, a.policy.name);
    return {
      applied,
      enforced,
      shadow,
      enforcedPrepared: this.prepare(enforced, ctx, strictestFailureMode(enforced)),
      shadowPrepared: this.prepare(shadow, ctx, 'open'),
      allAllowed: Object.freeze(applied.map((a) => Object.freeze(outcomeOf(a, true)))),
      policyOfLimit,
      countsIdentity: Object.freeze(
        enforced.flatMap((a) => a.limits.map(() => countsIdentity(a.policy.countBy, ctx))),
      ),
    };
  }

  private prepare(group: AppliedPolicy[], ctx: RequestContext, failureMode: FailureMode) {
    if (group.length === 0) return undefined;
    return this.engine.prepare({
      tenant: ctx.tenant,
      checks: group.flatMap((a) =>
        a.limits.map((limit) => (a.key === undefined ? { limit } : { limit, key: a.key })),
      ),
      blockedBy: blockedByOf(ctx),
      key: ctx.user ?? ctx.ip,
      failureMode,
    });
  }
}

/** The keys of RequestContext: any other is an error naming it. */
export const CONTEXT_KEYS: readonly string[] = Object.freeze([
  'tenant',
  'user',
  'roles',
  'ip',
  'endpoint',
  'tier',
  'cost',
  'routeLimits',
] satisfies ReadonlyArray<keyof RequestContext>);

/**
 * A request context must be an object naming its tenant (a non-empty string not starting with "~"),
 * with no key RequestContext does not have (`tenantId` would otherwise be a request of no tenant, that
 * no policy limits). Cheap: a loop over the context's own keys (usually two to five). The other fields
 * are checked where they are used (identifiers when the shape is built, the cost by the engine).
 */
export function validateContext(ctx: RequestContext): void {
  if (typeof ctx !== 'object' || ctx === null || Array.isArray(ctx)) {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'ctx', 'must be an object with a tenant');
  }
  const tenant = ctx.tenant;
  if (typeof tenant !== 'string' || tenant.length === 0) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_IDENTIFIER',
      'tenant',
      `is required: a non-empty string (got ${tenant === null ? 'null' : typeof tenant === 'string' ? 'an empty string' : typeof tenant})`,
    );
  }
  if (tenant.charCodeAt(0) === 126 /* ~ */) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_IDENTIFIER',
      'tenant',
      'may not start with "~" (reserved for Sluice)',
    );
  }
  const keys = Object.keys(ctx);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (!CONTEXT_KEY_SET.has(key)) rejectUnknownKeys({ [key]: true }, 'ctx', CONTEXT_KEYS);
  }
}

const CONTEXT_KEY_SET: ReadonlySet<string> = new Set(CONTEXT_KEYS);

/**
 * Whether a policy counting by `countBy` counts the request's identity (its user, else its IP) on a
 * counter of its own: only such limits make violations of that identity. A tenant-wide, per-endpoint or
 * per-role counter is shared with others; a per-IP one is shared by every user behind that IP.
 */
export function countsIdentity(countBy: CountBy, ctx: RequestContext): boolean {
  switch (countBy) {
    case 'identity':
    case 'endpoint-identity':
    case 'user': // without a user, its key is the identity
      return true;
    case 'ip': // the identity when there is no user (or no IP: then its key is the user)
      return ctx.user === undefined || ctx.ip === undefined;
    default:
      return false;
  }
}

export function outcomeOf(a: AppliedPolicy, allowed: boolean): PolicyOutcome {
  return {
    name: a.policy.name,
    scope: a.policy.scope,
    mode: a.policy.mode,
    additive: a.policy.additive,
    failureMode: a.policy.failureMode,
    allowed,
    key: a.key ?? '*',
  };
}

/** Several policies in one decision: the strictest failure mode wins (closed, then local, then open). */
function strictestFailureMode(applied: AppliedPolicy[]): FailureMode {
  let strictest: FailureMode = 'open';
  for (const a of applied) {
    if (a.policy.failureMode === 'closed') return 'closed';
    if (a.policy.failureMode === 'local') strictest = 'local';
  }
  return strictest;
}
