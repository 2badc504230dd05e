import type { PreparedDecision } from '../limiter.js';
import {
  type AppliedPolicy,
  type ChosenPolicy,
  field,
  keyFor,
  type PolicySet,
  rolesField,
} from './resolve.js';
import type { FailureMode, PolicyLimit, PolicyOutcome, RequestContext } from './types.js';

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
  /**
   * The decision over the enforced policies' limits. When none is enforced, the decision over the
   * request's blocks alone (see ShapeTemplate.blocksOnly), or undefined when nothing is enforced.
   */
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

/**
 * What every request of one class (PolicySet.classOf: tier, route, roles, which identity fields it
 * names) shares: the policies that apply and all that follows from them alone. A request's shape is
 * this plus its keys, so a request of a new tenant, user or IP does no resolution.
 */
export interface ShapeTemplate {
  readonly chosen: readonly ChosenPolicy[];
  /** The failure mode of the enforced decision: the strictest of its policies'. */
  readonly failureMode: FailureMode;
  /**
   * No enforced policy applies, yet the global mode enforces: the request is decided against its
   * blocks alone (the tenant's, its user's and IP's: a block refuses whatever the policies), with this
   * failure mode (the configuration's). Undefined otherwise.
   */
  readonly blocksOnly: FailureMode | undefined;
  readonly policyOfLimit: ReadonlyMap<string, string>;
  readonly countsIdentity: readonly boolean[];
}

/**
 * How many shapes are kept (one per tenant, route and identity): about 3.5 KB each with five windows,
 * so at most about 30 MB. Beyond it, see MAX_RECENT_REQUESTS.
 */
export const MAX_SHAPES = 8192;
/**
 * Once MAX_SHAPES are kept, a new shape replaces the oldest only when its request missed already
 * among the last (up to) MAX_RECENT_REQUESTS misses: a key seen again soon. Spread traffic (a new key
 * nearly every request) then keeps the cache it has instead of replacing an old shape per request:
 * building a shape costs less than collecting shapes dropped once old (and V8 then allocates the
 * objects of the sites whose objects survived in the old generation directly). Only the keys of recent
 * misses are kept.
 */
export const MAX_RECENT_REQUESTS = 256;
/** How many templates are kept (one per class of request: tiers x routes x roles, usually a few). */
export const MAX_TEMPLATES = 1024;

/**
 * The shapes of recent requests and the templates of their classes, bounded (oldest first out) and
 * valid for one PolicySet: a new configuration or runtime override starts empty caches.
 */
export class ShapeCache {
  private readonly shapes = new Map<string, RequestShape>();
  /** The keys of the last requests that missed (see MAX_RECENT_REQUESTS). */
  private missed = new Set<string>();
  private readonly templates = new Map<string, ShapeTemplate>();
  private readonly routeIds = new WeakMap<PolicyLimit[], number>();
  private nextRouteId = 1;
  private set: PolicySet | undefined;

  /** The key of the last `get`: `add` files the shape built after a miss under it. */
  private lastKey = '';

  /** The cached shape of this request, if any. */
  get(set: PolicySet, ctx: RequestContext, tier: string): RequestShape | undefined {
    if (set !== this.set) {
      this.shapes.clear();
      this.missed.clear();
      this.templates.clear();
      this.set = set;
    }
    this.lastKey = `${field(tier)}${field(ctx.tenant)}${field(ctx.endpoint)}${rolesField(ctx.roles)}${field(ctx.user)}${field(ctx.ip)}${this.routeOf(ctx)}`;
    return this.shapes.get(this.lastKey);
  }

  /** Keeps the shape of the request last looked up with `get` (which missed), if there is room or it came again. */
  add(shape: RequestShape): RequestShape {
    const key = this.lastKey;
    if (this.shapes.size < MAX_SHAPES || this.missed.delete(key)) keep(this.shapes, key, shape, MAX_SHAPES);
    else {
      // A new generation of recent misses rather than dropping the oldest one by one: cheaper.
      if (this.missed.size >= MAX_RECENT_REQUESTS) this.missed = new Set();
      this.missed.add(key);
    }
    return shape;
  }

  /** The template of a request's class (of the set last given to `get`), built by `build` on a miss. */
  template(ctx: RequestContext, tier: string, build: () => ShapeTemplate): ShapeTemplate {
    const key = `${(this.set as PolicySet).classOf(ctx, tier)}${this.routeOf(ctx)}`;
    return this.templates.get(key) ?? keep(this.templates, key, build(), MAX_TEMPLATES);
  }

  get size(): number {
    return this.shapes.size;
  }

  /** A number per route limits array (0: none): the array is the route's identity. */
  private routeOf(ctx: RequestContext): number {
    const limits = ctx.routeLimits;
    if (limits === undefined || limits.length === 0) return 0;
    let route = this.routeIds.get(limits);
    if (route === undefined) {
      route = this.nextRouteId++;
      this.routeIds.set(limits, route);
    }
    return route;
  }
}

function keep<T>(map: Map<string, T>, key: string, value: T, max: number): T {
  if (map.size >= max) map.delete(map.keys().next().value as string);
  map.set(key, value);
  return value;
}

/** The applied policies of a request of a template's class: its policies with the keys they count. */
export function appliedOf(template: ShapeTemplate, ctx: RequestContext): AppliedPolicy[] {
  const chosen = template.chosen;
  const applied: AppliedPolicy[] = new Array(chosen.length);
  for (let i = 0; i < chosen.length; i++) {
    const { policy, limits } = chosen[i] as ChosenPolicy;
    applied[i] = { policy, limits, key: keyFor(policy, ctx) };
  }
  return applied;
}
