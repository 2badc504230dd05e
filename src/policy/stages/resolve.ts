import { ValidationError } from '../../core/errors.js';
import { rejectUnknownKeys } from '../../core/options.js';
import type { NormalizedLimit } from '../../core/types.js';
import type { Limiter, PreparedDecision } from '../../limiter.js';
import type { AppliedPolicy, ChosenPolicy, PolicySet } from '../resolve.js';
import { appliedOf, type RequestShape, ShapeCache, type ShapeTemplate } from '../shapes.js';
import type { CountBy, FailureMode, PolicyOutcome, RequestContext } from '../types.js';
import { blockedByOf, identityOf, type PolicyCheck } from './check.js';

/**
 * Stage 1, resolve: which tier and which policies apply to a request, laid out as its shape. Shapes
 * are cached per request (a repeated request does no resolution, validation or key building), and
 * what a shape shares with its class of request is cached as a template, so that a request of a new
 * tenant, user or IP only builds its keys and lays them out.
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
    const shape = this.shapes.get(set, ctx, tier) ?? this.shapes.add(this.fresh(set, ctx, tier));
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

  /** Lays out the decisions of a set of applied policies (see RequestShape): adapted ones. */
  shapeOf(set: PolicySet, applied: AppliedPolicy[], ctx: RequestContext): RequestShape {
    return this.layout(templateOf(set, applied, ctx), applied, ctx);
  }

  /** The shape of a request not seen lately: its class's template and its own keys. */
  private fresh(set: PolicySet, ctx: RequestContext, tier: string): RequestShape {
    const template = this.shapes.template(ctx, tier, () => templateOf(set, set.choose(ctx, tier), ctx));
    return this.layout(template, appliedOf(template, ctx), ctx);
  }

  private layout(template: ShapeTemplate, applied: AppliedPolicy[], ctx: RequestContext): RequestShape {
    const enforced: AppliedPolicy[] = [];
    const shadow: AppliedPolicy[] = [];
    const outcomes: PolicyOutcome[] = new Array(applied.length);
    for (let i = 0; i < applied.length; i++) {
      const a = applied[i] as AppliedPolicy;
      if (a.policy.mode === 'enforce') enforced.push(a);
      else if (a.policy.mode === 'shadow') shadow.push(a);
      outcomes[i] = Object.freeze(outcomeOf(a, true));
    }
    // The identity's and the IP's blocks apply to every decision of the request.
    const blockedBy = blockedByOf(ctx);
    return {
      applied,
      enforced,
      shadow,
      enforcedPrepared:
        this.prepare(enforced, ctx, blockedBy, template.failureMode) ??
        this.prepareBlocks(template, ctx, blockedBy),
      shadowPrepared: this.prepare(shadow, ctx, blockedBy, 'open'),
      allAllowed: Object.freeze(outcomes),
      policyOfLimit: template.policyOfLimit,
      countsIdentity: template.countsIdentity,
    };
  }

  /**
   * The decision over a request's blocks alone, when no enforced policy applies (see
   * ShapeTemplate.blocksOnly): one read of the store, counting nothing. A block can only be known by
   * asking the store, so even a request no policy limits costs that read (none in the emergency modes).
   */
  private prepareBlocks(
    template: ShapeTemplate,
    ctx: RequestContext,
    blockedBy: string[],
  ): PreparedDecision | undefined {
    const failureMode = template.blocksOnly;
    if (failureMode === undefined) return undefined;
    const key = ctx.user ?? ctx.ip;
    return this.engine.prepareBlocks(
      key === undefined
        ? { tenant: ctx.tenant, blockedBy, failureMode }
        : { tenant: ctx.tenant, blockedBy, key, failureMode },
    );
  }

  private prepare(
    group: AppliedPolicy[],
    ctx: RequestContext,
    blockedBy: string[],
    failureMode: FailureMode,
  ): PreparedDecision | undefined {
    if (group.length === 0) return undefined;
    const checks: Array<{ limit: NormalizedLimit; key?: string }> = [];
    for (const { limits, key } of group) {
      for (const limit of limits) checks.push(key === undefined ? { limit } : { limit, key });
    }
    return this.engine.prepare({
      tenant: ctx.tenant,
      checks,
      blockedBy,
      key: ctx.user ?? ctx.ip,
      failureMode,
    });
  }
}

/** What follows from a class's policies alone (a request's context gives only which fields it has). */
function templateOf(set: PolicySet, chosen: readonly ChosenPolicy[], ctx: RequestContext): ShapeTemplate {
  const policyOfLimit = new Map<string, string>();
  for (const a of chosen)
    for (const l of a.limits) if (!policyOfLimit.has(l.name)) policyOfLimit.set(l.name, a.policy.name);
  const enforced = chosen.filter((a) => a.policy.mode === 'enforce');
  return {
    chosen,
    failureMode: strictestFailureMode(enforced),
    blocksOnly: enforced.length === 0 && set.enforcing ? set.config.failureMode : undefined,
    policyOfLimit,
    countsIdentity: Object.freeze(
      enforced.flatMap((a) => a.limits.map(() => countsIdentity(a.policy.countBy, ctx))),
    ),
  };
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
function strictestFailureMode(applied: readonly ChosenPolicy[]): FailureMode {
  let strictest: FailureMode = 'open';
  for (const a of applied) {
    if (a.policy.failureMode === 'closed') return 'closed';
    if (a.policy.failureMode === 'local') strictest = 'local';
  }
  return strictest;
}
