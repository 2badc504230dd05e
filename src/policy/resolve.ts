import { createHash } from 'node:crypto';
import { ValidationError } from '../core/errors.js';
import { MAX_IDENTIFIER_BYTES } from '../core/identifiers.js';
import type { NormalizedLimit } from '../core/types.js';
import { namespacedLimit, normalizeLimit } from '../engine/limits.js';
import { DEFAULT_TIER_ROW, duplicateLimitName, type SluiceConfig } from './config.js';
import { compilePattern, type Matcher } from './patterns.js';
import { own, type RuntimeOverrides } from './runtime.js';
import {
  type CountBy,
  type FailureMode,
  type Mode,
  type PolicyDefinition,
  type PolicyLimit,
  type RequestContext,
  SCOPES,
  type Scope,
  type TenantOverride,
} from './types.js';

/** A policy ready to match: patterns compiled, limits validated per tier. */
interface CompiledPolicy {
  name: string;
  scope: Scope;
  /** Index in SCOPES: lower is more specific. */
  precedence: number;
  additive: boolean;
  mode: Mode;
  failureMode: FailureMode;
  countBy: CountBy;
  /** Reputation and load may shrink its limits. */
  adaptive: boolean;
  matchers?: Matcher[];
  tiers?: Set<string>;
  /** Limits by tier ('*': any tier). */
  limits: Map<string, NormalizedLimit[]>;
  /** The tier policy: limits come from the tenant's tier and overrides. */
  isTierPolicy: boolean;
}

/** A policy that applies to a request, with the limits it applies (before its key is known). */
export interface ChosenPolicy {
  policy: CompiledPolicy;
  limits: NormalizedLimit[];
}

/** One applied policy of a request: its limits and the key they count. */
export interface AppliedPolicy extends ChosenPolicy {
  /** Key within the tenant, undefined for tenant-wide counting. */
  key: string | undefined;
}

const DEFAULT_COUNT_BY: Record<Scope, CountBy> = {
  endpoint: 'endpoint-identity',
  user: 'user',
  role: 'user',
  tenant: 'tenant',
  ip: 'ip',
  global: 'identity',
};

export const TIER_POLICY = 'tier';

/** Compiled route policies kept per limits array (oldest dropped first beyond this). */
export const MAX_ROUTE_ENDPOINTS = 256;
/** Longest endpoint, user or IP accepted (characters): longer ones are refused before matching. */
export const MAX_CONTEXT_FIELD = 1024;
/** Most roles one request may carry; each is at most MAX_IDENTIFIER_BYTES characters. */
export const MAX_ROLES = 32;
/** Tenants whose tier-rule result is remembered, per policy set (oldest first out). */
const MAX_RULE_CACHE = 4096;

/**
 * Refuses request fields too long to be valid, before any matching or cache-key building: they are
 * client-controlled, and every later step (patterns, caches) would pay for their length.
 */
export function checkContextBounds(ctx: RequestContext): void {
  // UTF-16 length <= UTF-8 length: longer than the bound in characters is longer in bytes.
  if (typeof ctx.tenant === 'string' && ctx.tenant.length > MAX_IDENTIFIER_BYTES) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_IDENTIFIER',
      'tenant',
      `is longer than ${MAX_IDENTIFIER_BYTES} bytes (hash long identifiers before passing them)`,
    );
  }
  tooLong(ctx.endpoint, 'endpoint');
  tooLong(ctx.user, 'user');
  tooLong(ctx.ip, 'ip');
  const roles = ctx.roles;
  if (roles !== undefined) {
    if (roles.length > MAX_ROLES) {
      throw new ValidationError('ERR_SLUICE_INVALID_IDENTIFIER', 'roles', `has more than ${MAX_ROLES} roles`);
    }
    for (let i = 0; i < roles.length; i++) tooLong(roles[i], `roles[${i}]`, MAX_IDENTIFIER_BYTES);
  }
}

function tooLong(value: unknown, name: string, max = MAX_CONTEXT_FIELD): void {
  if (typeof value === 'string' && value.length > max) {
    throw new ValidationError('ERR_SLUICE_INVALID_IDENTIFIER', name, `is longer than ${max} characters`);
  }
}

/**
 * Policy resolution: turns "who is asking for what" into the policies and limits that apply. Pure and
 * in-process; compiled once per configuration (file + runtime overrides), with a bounded cache of
 * resolutions so the hot path does no matching work for repeated shapes of request.
 */
export class PolicySet {
  readonly config: SluiceConfig;
  readonly runtime: RuntimeOverrides;
  private readonly policies: CompiledPolicy[];
  private readonly tierRules: Array<{ pattern: Matcher; tier: string }>;
  /** Tier-rule results by tenant (bounded): the rules run once per tenant, not per request. */
  private readonly ruleTiers = new Map<string, string>();
  private readonly tierLimitCache = new Map<string, NormalizedLimit[]>();
  private readonly routePolicies = new WeakMap<PolicyLimit[], Map<string, CompiledPolicy>>();
  /** Which request fields `choose` matches on by value (otherwise only whether they are there). */
  private readonly matchesOn: Record<'tenant' | 'endpoint' | 'user' | 'ip', boolean>;
  private readonly readsRoles: boolean;
  private readonly readsEndpoint: boolean;

  constructor(config: SluiceConfig, runtime: RuntimeOverrides = {}) {
    this.config = config;
    this.runtime = runtime;
    this.tierRules = config.tierRules.map((r, i) => ({
      pattern: compilePattern(r.pattern, `tierRules[${i}].pattern`),
      tier: r.tier,
    }));
    this.policies = config.policies.map((p) => this.compile(p));
    if (config.tierPolicy.enabled) {
      this.policies.push({
        name: TIER_POLICY,
        scope: 'tenant',
        precedence: SCOPES.indexOf('tenant'),
        additive: config.tierPolicy.additive,
        mode: this.modeOf(TIER_POLICY, config.tierPolicy.mode),
        failureMode: config.tierPolicy.failureMode ?? config.failureMode,
        countBy: 'tenant',
        adaptive: true,
        limits: new Map(),
        isTierPolicy: true,
      });
    }
    const matched = (scope: Scope) => this.policies.some((p) => p.scope === scope && p.matchers);
    this.matchesOn = {
      tenant: matched('tenant'),
      endpoint: matched('endpoint'),
      user: matched('user'),
      ip: matched('ip'),
    };
    this.readsRoles = this.policies.some((p) => p.scope === 'role');
    this.readsEndpoint = this.policies.some((p) => p.scope === 'endpoint');
  }

  /**
   * Whether anything is enforced: the global mode (runtime, else the file's) is `enforce`. The
   * emergency switches (`shadow`, `disabled`) refuse nothing, not even a blocked request.
   */
  get enforcing(): boolean {
    return (this.runtime.mode ?? this.config.mode) === 'enforce';
  }

  /** The tier with the highest priority never gets shed by platform protection. */
  get tiers(): SluiceConfig['tiers'] {
    return this.config.tiers;
  }

  /** The tier of a request: explicit, runtime override, configured tenant, resolver, rules, default. */
  tierOf(ctx: RequestContext, resolver?: (ctx: RequestContext) => string | undefined): string {
    checkContextBounds(ctx);
    // In order of precedence, each consulted only when the ones before gave no known tier.
    // Own properties only: a tier or tenant named "constructor" never reads Object.prototype.
    const tiers = this.config.tiers;
    const known = (tier: unknown): tier is string => typeof tier === 'string' && Object.hasOwn(tiers, tier);
    if (known(ctx.tier)) return ctx.tier;
    const live = own(this.runtime.tenants, ctx.tenant)?.tier;
    if (known(live)) return live;
    const file = own(this.config.tenants, ctx.tenant)?.tier;
    if (known(file)) return file;
    const resolved = resolver?.(ctx);
    if (known(resolved)) return resolved;
    if (this.tierRules.length === 0 || typeof ctx.tenant !== 'string') return this.config.defaultTier;
    let ruled = this.ruleTiers.get(ctx.tenant);
    if (ruled === undefined) {
      ruled = this.config.defaultTier;
      for (const rule of this.tierRules) {
        if (rule.pattern.test(ctx.tenant)) {
          if (known(rule.tier)) ruled = rule.tier;
          break;
        }
      }
      if (this.ruleTiers.size >= MAX_RULE_CACHE)
        this.ruleTiers.delete(this.ruleTiers.keys().next().value as string);
      this.ruleTiers.set(ctx.tenant, ruled);
    }
    return ruled;
  }

  /** Tenant override (runtime first, then file) merged over the tier. */
  quotaOf(tenant: string, tier: string) {
    const base = own(this.config.tiers, tier) as NonNullable<SluiceConfig['tiers'][string]>;
    const file: TenantOverride = own(this.config.tenants, tenant) ?? {};
    const live: TenantOverride = own(this.runtime.tenants, tenant) ?? {};
    return {
      rps: live.rps ?? file.rps ?? base.rps,
      burst: live.burst ?? file.burst ?? base.burst,
      maxConcurrent: live.maxConcurrent ?? file.maxConcurrent ?? base.maxConcurrent,
      priority: live.priority ?? file.priority ?? base.priority,
    };
  }

  /** The additive policy of a route's own limits (validated once per limits array). */
  routePolicy(endpoint: string, limits: PolicyLimit[]): AppliedPolicy['policy'] {
    let byEndpoint = this.routePolicies.get(limits);
    if (!byEndpoint) {
      byEndpoint = new Map();
      this.routePolicies.set(limits, byEndpoint);
    }
    let compiled = byEndpoint.get(endpoint);
    if (!compiled) {
      compiled = this.compile({ name: `route:${endpoint}`, scope: 'endpoint', additive: true, limits });
      // Bounded: endpoints are route patterns (a few per limits array), but a caller may pass anything.
      if (byEndpoint.size >= MAX_ROUTE_ENDPOINTS) byEndpoint.delete(byEndpoint.keys().next().value as string);
      byEndpoint.set(endpoint, compiled);
    }
    return compiled;
  }

  /**
   * The class of a request: every value `choose` reads, length-prefixed (see `field`). Requests of one
   * class get the same policies. A field no policy matches on counts only by being there or not, and a
   * tenant only when something is its own (an override, or a tenant policy matching by name): the
   * classes are few (tiers x routes x roles), whatever the number of tenants, users and IPs.
   */
  classOf(ctx: RequestContext, tier: string): string {
    const on = this.matchesOn;
    const tenant =
      on.tenant ||
      own(this.runtime.tenants, ctx.tenant) !== undefined ||
      own(this.config.tenants, ctx.tenant) !== undefined
        ? field(ctx.tenant)
        : '*';
    const routed = ctx.routeLimits !== undefined && ctx.routeLimits.length > 0;
    const endpoint =
      on.endpoint || routed ? field(ctx.endpoint) : presence(this.readsEndpoint && ctx.endpoint);
    const roles = this.readsRoles ? rolesField(ctx.roles) : '';
    const user = on.user ? field(ctx.user) : presence(ctx.user);
    const ip = on.ip ? field(ctx.ip) : presence(ctx.ip);
    return `${field(tier)}${tenant}${endpoint}${roles}${user}${ip}`;
  }

  /**
   * Policies that apply to a request, most specific first: the route's own limits (when given), then
   * the winner plus every additive match. Without their keys (see `keyFor`).
   */
  choose(ctx: RequestContext, tier: string): ChosenPolicy[] {
    checkContextBounds(ctx);
    const chosen = this.configured(ctx, tier);
    if (ctx.routeLimits && ctx.routeLimits.length > 0) {
      const policy = this.routePolicy(ctx.endpoint ?? '*', ctx.routeLimits);
      if (policy.mode !== 'disabled') chosen.unshift({ policy, limits: policy.limits.get('*') ?? [] });
    }
    return chosen;
  }

  private configured(ctx: RequestContext, tier: string): ChosenPolicy[] {
    const matched: ChosenPolicy[] = [];
    for (const policy of this.policies) {
      if (policy.mode === 'disabled') continue;
      if (policy.tiers && !policy.tiers.has(tier)) continue;
      if (!matches(policy, ctx)) continue;
      const limits = policy.isTierPolicy
        ? this.tierLimits(ctx.tenant, tier)
        : (policy.limits.get(tier) ?? policy.limits.get(DEFAULT_TIER_ROW) ?? policy.limits.get('*'));
      if (!limits || limits.length === 0) continue;
      matched.push({ policy, limits });
    }
    const exclusive = matched.filter((m) => !m.policy.additive);
    const winner = exclusive.reduce<ChosenPolicy | undefined>(
      (best, m) => (!best || m.policy.precedence < best.policy.precedence ? m : best),
      undefined,
    );
    return matched
      .filter((m) => m.policy.additive || m === winner)
      .sort((a, b) => a.policy.precedence - b.policy.precedence);
  }

  private tierLimits(tenant: string, tier: string): NormalizedLimit[] {
    const quota = this.quotaOf(tenant, tier);
    const id = `${quota.rps}/${quota.burst}/${quota.maxConcurrent}`;
    let limits = this.tierLimitCache.get(id);
    if (!limits) {
      limits = [
        namespacedLimit(
          { algorithm: 'token-bucket', limit: quota.rps, window: 1000, burst: quota.burst, scope: 'tenant' },
          [TIER_POLICY, 'rps'],
          'tier',
        ),
      ];
      if (this.config.tierPolicy.concurrency && quota.maxConcurrent < Number.MAX_SAFE_INTEGER) {
        limits.push(
          namespacedLimit(
            {
              algorithm: 'concurrency',
              limit: quota.maxConcurrent,
              window: this.config.tierPolicy.leaseTtlMs,
              scope: 'tenant',
            },
            [TIER_POLICY, 'concurrent'],
            'tier',
          ),
        );
      }
      this.tierLimitCache.set(id, limits);
    }
    return limits;
  }

  private compile(policy: PolicyDefinition): CompiledPolicy {
    const countBy = policy.countBy ?? DEFAULT_COUNT_BY[policy.scope];
    const scope = countBy === 'tenant' ? 'tenant' : 'key';
    // Displayed as `<policy>.<limit>`; counted under an id that keeps the two parts apart (see
    // namespacedLimit), and two limits of one policy with one name would share a counter: refused.
    const named = (list: PolicyLimit[], path: string) => {
      const seen = new Map<string, number>();
      return list.map((def, i) => {
        const plain = normalizeLimit(def, `${path}[${i}]`);
        const first = seen.get(plain.name);
        if (first !== undefined) {
          throw new ValidationError(
            'ERR_SLUICE_INVALID_LIMIT',
            `${path}[${i}].name`,
            duplicateLimitName(plain.name, `${path}[${first}]`),
          );
        }
        seen.set(plain.name, i);
        return namespacedLimit({ ...(def as object), scope }, [policy.name, plain.name], `${path}[${i}]`);
      });
    };
    const limits = new Map<string, NormalizedLimit[]>();
    if (policy.limits) limits.set('*', named(policy.limits, `policies.${policy.name}.limits`));
    for (const [tier, list] of Object.entries(policy.tierLimits ?? {})) {
      limits.set(tier, named(list, `policies.${policy.name}.tierLimits.${tier}`));
    }
    const compiled: CompiledPolicy = {
      name: policy.name,
      scope: policy.scope,
      precedence: SCOPES.indexOf(policy.scope),
      additive: policy.additive ?? false,
      mode: this.modeOf(policy.name, policy.mode ?? 'enforce'),
      failureMode: policy.failureMode ?? this.config.failureMode,
      countBy,
      adaptive: policy.adaptive ?? true,
      limits,
      isTierPolicy: false,
    };
    if (policy.match && policy.scope !== 'global') {
      compiled.matchers = policy.match.map((m, i) =>
        compilePattern(m, `policies.${policy.name}.match[${i}]`),
      );
    }
    if (policy.tiers) compiled.tiers = new Set(policy.tiers);
    return compiled;
  }

  /** A policy's mode after the global switch: disabled beats shadow beats enforce. */
  private modeOf(name: string, ownMode: Mode): Mode {
    const global = this.runtime.mode ?? this.config.mode;
    const mode = own(this.runtime.policyModes, name) ?? ownMode;
    if (global === 'disabled' || mode === 'disabled') return 'disabled';
    if (global === 'shadow' || mode === 'shadow') return 'shadow';
    return 'enforce';
  }
}

function matches(policy: CompiledPolicy, ctx: RequestContext): boolean {
  const test = (value: string | undefined) =>
    value !== undefined && (!policy.matchers || policy.matchers.some((m) => m.test(value)));
  switch (policy.scope) {
    case 'endpoint':
      return test(ctx.endpoint);
    case 'user':
      return test(ctx.user);
    case 'role':
      return (ctx.roles ?? []).some((r) => test(r));
    case 'tenant':
      return test(ctx.tenant);
    case 'ip':
      return test(ctx.ip);
    case 'global':
      return true;
  }
}

/**
 * One field of a cache key: its length, then the value (`-` when absent), so that no value, whatever
 * its characters, can make two different requests share a key.
 */
export function field(value: string | undefined): string {
  return value === undefined ? '-' : `${value.length}:${value}`;
}

/** One part of a composite counter key: `%`, `|` and `,` percent-encoded, everything else kept. */
export function keyPart(value: string): string {
  return /[%|,]/.test(value)
    ? value.replace(/[%|,]/g, (c) => (c === '%' ? '%25' : c === '|' ? '%7C' : '%2C'))
    : value;
}

/** A field of a class that counts only by being there (`1`) or not (`0`). */
function presence(value: unknown): string {
  return value === undefined || value === false ? '0' : '1';
}

export function rolesField(roles: readonly string[] | undefined): string {
  if (roles === undefined) return '-';
  let out = `${roles.length}[`;
  for (const role of roles) out += field(role);
  return out;
}

/** The key a policy's limits count for this request (identifiers are encoded later by the core). */
export function keyFor(policy: CompiledPolicy, ctx: RequestContext): string | undefined {
  // Single values stay as they are (`u=<user>`, `ip=<ip>`: one part cannot collide); every part of a
  // composite key is percent-encoded (keyPart), so no value can pass for a separator.
  let key: string;
  switch (policy.countBy) {
    case 'tenant':
      return undefined;
    case 'identity':
      key = identityKey(ctx);
      break;
    case 'user':
      key = ctx.user !== undefined ? `u=${ctx.user}` : identityKey(ctx);
      break;
    case 'ip':
      key = ctx.ip !== undefined ? `ip=${ctx.ip}` : identityKey(ctx);
      break;
    case 'endpoint':
      key = `e=${ctx.endpoint ?? ''}`;
      break;
    case 'endpoint-identity': {
      const who =
        ctx.user !== undefined
          ? `u=${keyPart(ctx.user)}`
          : ctx.ip !== undefined
            ? `ip=${keyPart(ctx.ip)}`
            : 'anonymous';
      key = `e=${keyPart(ctx.endpoint ?? '')}|${who}`;
      break;
    }
    case 'role': {
      // The count first: [] and [''] differ; each role encoded: ['a,b'] and ['a', 'b'] differ.
      const roles = [...(ctx.roles ?? [])].sort();
      key = `r=${roles.length}:${roles.map(keyPart).join(',')}`;
      break;
    }
  }
  // Keys are bounded (256 bytes): long composites are hashed, never truncated (no collisions). A
  // UTF-16 unit is at most 3 UTF-8 bytes: short keys need no counting.
  return key.length > 66 && Buffer.byteLength(key, 'utf8') > 200
    ? `h=${createHash('sha256').update(key).digest('base64url')}`
    : key;
}

/** The identity a key counts when its policy's own field is absent: the user, else the IP. */
function identityKey(ctx: RequestContext): string {
  return ctx.user !== undefined ? `u=${ctx.user}` : ctx.ip !== undefined ? `ip=${ctx.ip}` : 'anonymous';
}
