import type { Decision } from '../../core/types.js';
import type { Standing } from '../adaptive.js';
import type { PolicySet } from '../resolve.js';
import type { RequestShape } from '../shapes.js';
import type { RequestContext } from '../types.js';

/**
 * One request on its way through PolicyLimiter's stages, each filling its part once:
 * resolve (tier, identity, shape) -> adjust (platform, reputation, load) -> decide (the decisions) ->
 * record (violations, good requests, outcomes, the comparison, leases). The only object a check
 * allocates besides its decisions.
 */
export interface PolicyCheck {
  readonly ctx: RequestContext;
  /** The configuration in force when the check started, and its runtime version. */
  readonly set: PolicySet;
  readonly configVersion: number;
  readonly tier: string;
  readonly cost: number;
  /** The identity reputation is kept for (`u=<user>`, else `ip=<ip>`); undefined when reputation is off. */
  readonly identity: string | undefined;
  /** The reputation epoch (an operator reset of everyone moves it). */
  readonly epoch: number;
  /** The request's shape: cached, or adapted by reputation and load. */
  shape: RequestShape;
  /** The identity's standing; undefined when reputation is off or the store could not say (neutral). */
  standing: Standing | undefined;
  /** The identity's violation count as last known; undefined when unknown. */
  violations: number | undefined;
  byReputation: number;
  byLoad: number;
  /** The enforced decision carries the good-request check as its last limit. */
  countsGood: boolean;
  decision: Decision | undefined;
  shadow: Decision | undefined;
  compared: Decision | undefined;
}

/** The identity a request is blocked (and its reputation kept) by: its user, else its IP. */
export function identityOf(ctx: RequestContext): string | undefined {
  return ctx.user !== undefined ? `u=${ctx.user}` : ctx.ip !== undefined ? `ip=${ctx.ip}` : undefined;
}

/**
 * The block markers a request is checked against (besides its tenant's): its user's and its IP's, so
 * that blocking an IP (PolicyLimiter.block) also stops that IP's requests that name a user. Public
 * (`sluice`): give it as `blockedBy` to `Limiter.decide` and an ad-hoc decision honours the blocks
 * operators set on the policies (the Envoy configuration's decisions do).
 */
export function blockedByOf(ctx: Pick<RequestContext, 'user' | 'ip'>): string[] {
  if (ctx.user === undefined) return ctx.ip === undefined ? [] : [`ip=${ctx.ip}`];
  return ctx.ip === undefined ? [`u=${ctx.user}`] : [`u=${ctx.user}`, `ip=${ctx.ip}`];
}
