import type { Decision, Lease, LimitDefinition } from '../core/types.js';

/** Who a policy is about, most specific first: when several match, the most specific wins. */
export const SCOPES = ['endpoint', 'user', 'role', 'tenant', 'ip', 'global'] as const;
export type Scope = (typeof SCOPES)[number];

/** enforce: decide and block; shadow: decide and record, never block; disabled: skip. */
export const MODES = ['enforce', 'shadow', 'disabled'] as const;
export type Mode = (typeof MODES)[number];

import { FAILURE_MODES, type FailureMode } from '../core/types.js';

export { FAILURE_MODES, type FailureMode };

/** Which identity a policy's limits count: one counter per value of it. */
export const COUNT_BY = [
  'identity',
  'user',
  'ip',
  'tenant',
  'endpoint',
  'endpoint-identity',
  'role',
] as const;
export type CountBy = (typeof COUNT_BY)[number];

/** A limit inside a policy: a core limit without `scope` (the policy's `countBy` decides the key). */
export type PolicyLimit = Omit<LimitDefinition, 'scope'>;

export interface PolicyDefinition {
  /** Unique name, shown in decisions. */
  name: string;
  scope: Scope;
  /**
   * Values of the scope this policy applies to: route patterns for `endpoint` (exact, or ending in
   * `*` for a prefix), user ids, role names, tenant ids, IPs or CIDR-less prefixes ending in `*`.
   * Absent: every request that has the scope's value. Ignored for `global`.
   */
  match?: string[];
  /** Tiers it applies to (absent: all). */
  tiers?: string[];
  /** The limits, all checked in one decision. */
  limits?: PolicyLimit[];
  /** Per-tier limits (an endpoint table such as "/auth/login: 5/min free, 10/min pro"); wins over `limits`. */
  tierLimits?: Record<string, PolicyLimit[]>;
  /** Checked beside the most specific policy instead of competing with it. Default false. */
  additive?: boolean;
  mode?: Mode;
  failureMode?: FailureMode;
  /** One counter per what. Default by scope: endpoint -> endpoint-identity, user/role -> user, tenant -> tenant, ip -> ip, global -> identity. */
  countBy?: CountBy;
  /** Whether reputation and load shrink this policy's limits. Default true. */
  adaptive?: boolean;
}

/** A tier's quotas (the tenant-tier limiter's table). */
export interface TierDefinition {
  /** Requests per second (token-bucket refill rate). */
  rps: number;
  /** Bucket capacity. Default 2 x rps. */
  burst?: number;
  /** Most requests in flight at once (enforced when `tierPolicy.concurrency` is on). */
  maxConcurrent?: number;
  /** Who keeps capacity under platform overload: higher keeps it longer. Default 1. */
  priority?: number;
}

/** A tenant's own settings: its tier, and quotas that replace the tier's. */
export interface TenantOverride extends Partial<TierDefinition> {
  tier?: string;
}

/**
 * What a request is: filled by the application (or the HTTP layer) from trusted context. Validated on
 * every check: a missing, empty or non-string `tenant` is a ValidationError naming `tenant`, and a key
 * not listed here (`tenantId`) is one naming it (`ctx.tenantId`).
 */
export interface RequestContext {
  /** Required: the tenant whose limits apply (not starting with "~", reserved for Sluice). */
  tenant: string;
  user?: string;
  roles?: string[];
  ip?: string;
  /** Route pattern ("/users/:id"), never the raw URL; or a resource name such as "llm:openai". */
  endpoint?: string;
  /** Known tier; otherwise resolved from overrides, rules and the tier resolver. */
  tier?: string;
  /** Units this request costs (default 1). */
  cost?: number;
  /**
   * Limits declared on the route itself (a per-route decorator, the API + LLM limiter): checked as an additive
   * policy `route:<endpoint>` counted per endpoint and identity, in the same decision.
   */
  routeLimits?: PolicyLimit[];
}

/** How one matched policy fared. */
export interface PolicyOutcome {
  name: string;
  scope: Scope;
  mode: Mode;
  additive: boolean;
  failureMode: FailureMode;
  /** Whether every limit of this policy had room. */
  allowed: boolean;
  /** The key its limits counted. */
  key: string;
}

/**
 * A policy decision's lease: the enforced policies' slots, and the slots its shadow and comparison
 * decisions took, released together by PolicyLimiter.release.
 */
export interface PolicyLease extends Lease {
  /** The shadow decision's lease (this instance's store). */
  shadow?: Lease;
  /** The comparison store's lease (migration aid). */
  compared?: Lease;
}

/** A decision made through policies. */
export interface PolicyDecision extends Decision {
  /**
   * Present when the request holds concurrency slots (enforced, or only its shadow policies'): release
   * it with PolicyLimiter.release when the request ends.
   */
  lease?: PolicyLease;
  tier: string;
  /** Every policy that applied (enforced and shadow), most specific first. */
  policies: PolicyOutcome[];
  /** The policy of the binding limit. */
  bindingPolicy?: string;
  /** Shadow policies that would have rejected this request (it was not blocked by them). */
  shadowRejections: string[];
  /** Version of the runtime configuration that decided. */
  configVersion: number;
  /** The identity's violation count, when reputation is on and the store could say. */
  violations?: number;
  /** What reputation and load did to the adaptive policies' limits (1: nothing). */
  adaptiveFactor?: number;
  /** With a comparison store (migration aid): what it decided, and whether it agreed. */
  comparison?: { allowed: boolean; agreed: boolean };
}
