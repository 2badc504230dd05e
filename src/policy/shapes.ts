import type { PreparedDecision } from '../limiter.js';
import { type AppliedPolicy, field, type PolicySet, rolesField } from './resolve.js';
import type { PolicyLimit, PolicyOutcome, RequestContext } from './types.js';

/**
 * Everything a policy decision needs that depends only on the request's shape (tier, tenant, endpoint,
 * roles, identity, route limits) and the configuration in force, not on the request itself: the
 * applied policies, their decisions laid out (validated, storage keys built), and the outcomes when
 * every policy had room. Built once per shape, so the hot path of a repeated request does no
 * resolution, validation or key building.
 */
export interface RequestShape {
  applied: AppliedPolicy[];
  enforced: AppliedPolicy[];
  shadow: AppliedPolicy[];
  /** The decision over the enforced policies' limits; undefined when none is enforced. */
  enforcedPrepared: PreparedDecision | undefined;
  /** The decision over the shadow policies' limits (failure mode `open`: they never block). */
  shadowPrepared: PreparedDecision | undefined;
  /** The policy outcomes when every limit had room: frozen, shared by this shape's decisions. */
  allAllowed: readonly PolicyOutcome[];
  /** Each limit's policy, by limit name (the first policy that has a limit of that name). */
  policyOfLimit: ReadonlyMap<string, string>;
  /**
   * Per limit of the enforced decision: whether it counts the request's identity on a counter of its
   * own (only those make violations of it; see stages/resolve.ts countsIdentity).
   */
  countsIdentity: readonly boolean[];
}

/** How many shapes are kept: the oldest is dropped beyond this (one entry per tenant, route and identity). */
export const MAX_SHAPES = 4096;

/**
 * The shapes of recent requests, bounded (oldest first out) and valid for one PolicySet: a new
 * configuration or runtime override starts an empty cache.
 */
export class ShapeCache {
  private readonly shapes = new Map<string, RequestShape>();
  private readonly routeIds = new WeakMap<PolicyLimit[], number>();
  private nextRouteId = 1;
  private set: PolicySet | undefined;

  /** The key of the last `get`: `add` files the shape built after a miss under it. */
  private lastKey = '';

  /** The cached shape of this request, if any. */
  get(set: PolicySet, ctx: RequestContext, tier: string): RequestShape | undefined {
    if (set !== this.set) {
      this.shapes.clear();
      this.set = set;
    }
    this.lastKey = this.keyOf(ctx, tier);
    return this.shapes.get(this.lastKey);
  }

  /** Keeps the shape of the request last looked up with `get` (which missed). */
  add(shape: RequestShape): RequestShape {
    if (this.shapes.size >= MAX_SHAPES) this.shapes.delete(this.shapes.keys().next().value as string);
    this.shapes.set(this.lastKey, shape);
    return shape;
  }

  get size(): number {
    return this.shapes.size;
  }

  /** Every field resolution and key building read, each length-prefixed (see `field`). */
  private keyOf(ctx: RequestContext, tier: string): string {
    let route = 0;
    if (ctx.routeLimits !== undefined && ctx.routeLimits.length > 0) {
      route = this.routeIds.get(ctx.routeLimits) ?? 0;
      if (route === 0) {
        route = this.nextRouteId++;
        this.routeIds.set(ctx.routeLimits, route);
      }
    }
    return `${field(tier)}${field(ctx.tenant)}${field(ctx.endpoint)}${rolesField(ctx.roles)}${field(ctx.user)}${field(ctx.ip)}${route}`;
  }
}
