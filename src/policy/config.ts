import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { SluiceError, ValidationError } from '../core/errors.js';
import { validatePrefix } from '../core/keys.js';
import { MAX_QUANTITY, normalizeLimit } from '../engine/limits.js';
import { compilePattern } from './patterns.js';
import {
  COUNT_BY,
  FAILURE_MODES,
  MODES,
  type PolicyDefinition,
  SCOPES,
  type TenantOverride,
  type TierDefinition,
} from './types.js';

/** One problem in a configuration document: where (`policies[2].limits[0].window`) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** A configuration document that cannot be used. Nothing of it was applied. */
export class ConfigError extends SluiceError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], source = 'configuration') {
    super(
      'ERR_SLUICE_INVALID_CONFIG',
      `${source} is invalid:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const positiveInt = z.number().int().positive();
const duration = z.union([z.string(), z.number()]);
const identifier = z.string().min(1).max(256);
/** A quantity that becomes a limit (rps, burst, maxConcurrent): the limits' own range, 1 to 10^9. */
export const quantity = z.number().int().min(1).max(MAX_QUANTITY);
/** How important a tier is under platform overload: positive and finite. */
export const priority = z.number().positive().max(1e6);

/** The `tierLimits` row for every tier without a row of its own. */
export const DEFAULT_TIER_ROW = 'default';

/** Names that are properties of every object: a tier or policy so named would be read from the prototype. */
const PROTOTYPE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));
/** A tier's or policy's name: an identifier that is not one of Object.prototype's properties. */
const RESERVED_NAME = 'is reserved (a property of every JavaScript object): choose another name';
const ownName = identifier.refine((name) => !PROTOTYPE_NAMES.has(name), { message: RESERVED_NAME });

const tierSchema = z.strictObject({
  rps: quantity,
  burst: quantity.optional(),
  maxConcurrent: quantity.optional(),
  priority: priority.optional(),
});

const tenantSchema = z.strictObject({
  tier: identifier.optional(),
  rps: quantity.optional(),
  burst: quantity.optional(),
  maxConcurrent: quantity.optional(),
  priority: priority.optional(),
});

const policySchema = z.strictObject({
  name: ownName,
  scope: z.enum(SCOPES),
  match: z.array(z.string().min(1)).optional(),
  tiers: z.array(identifier).optional(),
  // Limits are checked by the core's own validation (same messages as the library API).
  limits: z.array(z.unknown()).optional(),
  tierLimits: z.record(z.string(), z.array(z.unknown())).optional(),
  additive: z.boolean().optional(),
  mode: z.enum(MODES).optional(),
  failureMode: z.enum(FAILURE_MODES).optional(),
  countBy: z.enum(COUNT_BY).optional(),
  adaptive: z.boolean().optional(),
});

const reputationSchema = z.strictObject({
  enabled: z.boolean().optional(),
  escalation: z
    .record(z.string().regex(/^[1-9]\d*$/, 'keys are violation counts'), z.number().gt(0).lt(1))
    .optional(),
  decay: duration.optional(),
  cacheTtl: duration.optional(),
  block: z.strictObject({ after: positiveInt, duration }).optional(),
  boost: z.strictObject({ factor: z.number().gt(1).max(10), after: positiveInt }).optional(),
});

const loadSchema = z.strictObject({
  threshold: z.number().min(0).lt(1).optional(),
  minFactor: z.number().gt(0).max(1).optional(),
});

const failureSchema = z.strictObject({
  budget: duration.optional(),
  circuitThreshold: positiveInt.optional(),
  circuitResetTimeout: duration.optional(),
  localInstances: positiveInt.optional(),
  localFraction: z.number().gt(0).max(1).optional(),
  /** Closed decisions are decided by `to` once the store has been unreachable for `after`. */
  escalate: z.strictObject({ after: duration, to: z.enum(['open', 'local']) }).optional(),
});

const platformSchema = z.strictObject({
  enabled: z.boolean().optional(),
  threshold: positiveInt,
  syncInterval: duration.optional(),
  resetTimeout: duration.optional(),
});

const storeSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('memory'), maxKeys: positiveInt.optional() }),
  z.strictObject({
    type: z.literal('redis'),
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .optional(),
    cluster: z.strictObject({ nodes: z.array(z.string().min(1)).min(1) }).optional(),
    sentinel: z
      .strictObject({ sentinels: z.array(z.string().min(1)).min(1), name: z.string().min(1) })
      .optional(),
    connectTimeout: duration.optional(),
    commandTimeout: duration.optional(),
    maxConnections: positiveInt.optional(),
    /** Coalesce the decisions of one event-loop turn into one script call (default true). */
    coalesce: z.boolean().optional(),
    /** Most decisions per coalesced call (default 16). */
    maxBatch: z.number().int().min(1).max(1000).optional(),
  }),
]);

const configSchema = z.strictObject({
  version: z.literal(1).optional(),
  prefix: z.string().optional(),
  mode: z.enum(MODES).optional(),
  failureMode: z.enum(FAILURE_MODES).optional(),
  store: storeSchema.optional(),
  tiers: z.record(identifier, tierSchema).optional(),
  defaultTier: identifier.optional(),
  tierRules: z.array(z.strictObject({ pattern: z.string().min(1), tier: identifier })).optional(),
  tenants: z.record(identifier, tenantSchema).optional(),
  tierPolicy: z
    .strictObject({
      enabled: z.boolean().optional(),
      additive: z.boolean().optional(),
      concurrency: z.boolean().optional(),
      leaseTtl: duration.optional(),
      mode: z.enum(MODES).optional(),
      failureMode: z.enum(FAILURE_MODES).optional(),
    })
    .optional(),
  policies: z.array(policySchema).optional(),
  refreshInterval: duration.optional(),
  reputation: reputationSchema.optional(),
  loadAdaptive: loadSchema.optional(),
  platform: platformSchema.optional(),
  failure: failureSchema.optional(),
  /** The multi-window API limiter's hybrid mode: a second store decided beside the enforcing one, reporting disagreements. */
  compare: z.strictObject({ store: storeSchema }).optional(),
});

export type StoreConfig = z.infer<typeof storeSchema>;

/** A validated configuration document, with defaults filled in. */
export interface SluiceConfig {
  prefix: string;
  mode: (typeof MODES)[number];
  failureMode: (typeof FAILURE_MODES)[number];
  store: StoreConfig;
  tiers: Record<string, Required<TierDefinition>>;
  defaultTier: string;
  tierRules: Array<{ pattern: string; tier: string }>;
  tenants: Record<string, TenantOverride>;
  tierPolicy: {
    enabled: boolean;
    additive: boolean;
    concurrency: boolean;
    leaseTtlMs: number;
    mode: (typeof MODES)[number];
    failureMode?: (typeof FAILURE_MODES)[number];
  };
  policies: PolicyDefinition[];
  refreshIntervalMs: number;
  /** The adaptive XORB policies's adaptive reputation: violations shrink an identity's limits, recovering over `decayMs`. */
  reputation: {
    enabled: boolean;
    /** Reduction by violation count, ascending: [[2, 0.5], [3, 0.75], [5, 0.9]] = 50 % after 2... */
    escalation: Array<[number, number]>;
    decayMs: number;
    cacheTtlMs: number;
    block?: { after: number; durationMs: number };
    /** Good actors: no violations and at least `after` admitted requests within `decay` earn `factor`. */
    boost?: { factor: number; after: number };
  };
  /** The tenant-tier limiter's load-adaptive quotas: above `threshold` load, limits shrink linearly to `minFactor`. */
  loadAdaptive: { threshold: number; minFactor: number };
  /** The adaptive XORB policies's platform circuit breaker: sheds the lowest-priority tiers first above `threshold` rps. */
  platform?: { threshold: number; syncIntervalMs: number; resetTimeoutMs: number };
  /** When the store cannot decide: time budget, circuit breaker, and this instance's share in `local` mode. */
  failure: {
    budgetMs: number;
    circuitThreshold: number;
    circuitResetTimeoutMs: number;
    localShare: { instances?: number; fraction?: number };
    /** Closed decisions are decided by `to` once the store has been unreachable for `afterMs`. */
    escalate?: { afterMs: number; to: 'open' | 'local' };
  };
  /** The multi-window API limiter's hybrid mode: the store decided beside the enforcing one (never blocking). */
  compare?: { store: StoreConfig };
}

/** The tenant-tier limiter's tier table: the default, fully replaceable by `tiers`. */
export const DEFAULT_TIERS: Record<string, Required<TierDefinition>> = {
  free: { rps: 5, burst: 10, maxConcurrent: 50, priority: 0.5 },
  basic: { rps: 20, burst: 40, maxConcurrent: 100, priority: 0.8 },
  premium: { rps: 100, burst: 200, maxConcurrent: 500, priority: 1.0 },
  enterprise: { rps: 500, burst: 1000, maxConcurrent: 1000, priority: 1.2 },
};

/** Two limits of one policy with one name (given, or the default `<algorithm>-<window>`) would share a counter. */
export function duplicateLimitName(name: string, first: string): string {
  return `duplicate limit name "${name}" (also ${first}; unnamed limits are named <algorithm>-<window>): give each limit of a policy its own name`;
}

/**
 * Validates a configuration document (already parsed from YAML or JSON). Collects every problem, each
 * with the path of the field, and throws one ConfigError; unknown keys are errors (a `windowMS` typo
 * is caught, not ignored).
 */
export function parseConfig(input: unknown, source?: string): SluiceConfig {
  const shape = configSchema.safeParse(input ?? {});
  if (!shape.success) {
    throw new ConfigError(
      shape.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
      source,
    );
  }
  const doc = shape.data;
  const issues: ConfigIssue[] = [];
  const check = (path: string, fn: () => void) => {
    try {
      fn();
    } catch (error) {
      if (error instanceof ValidationError) {
        // The core's errors carry the full field path already (policies[0].limits[1].window).
        const field = error.field.startsWith(path) ? error.field : path;
        issues.push({ path: field, message: error.message.slice(error.field.length + 2) });
      } else throw error;
    }
  };

  let prefix = 'sluice';
  check('prefix', () => {
    prefix = validatePrefix(doc.prefix ?? 'sluice');
  });
  // Tables keyed by names and tenant ids: without a prototype, so no lookup reads Object.prototype.
  const tiers = Object.create(null) as Record<string, Required<TierDefinition>>;
  for (const [name, tier] of Object.entries(doc.tiers ?? DEFAULT_TIERS)) {
    if (PROTOTYPE_NAMES.has(name)) {
      issues.push({ path: `tiers.${name}`, message: RESERVED_NAME });
      continue;
    }
    tiers[name] = {
      rps: tier.rps,
      burst: tier.burst ?? Math.min(tier.rps * 2, MAX_QUANTITY),
      maxConcurrent: tier.maxConcurrent ?? Number.MAX_SAFE_INTEGER,
      priority: tier.priority ?? 1,
    };
  }
  const knownTier = (path: string, tier: string) => {
    if (!Object.hasOwn(tiers, tier))
      issues.push({ path, message: `unknown tier "${tier}" (tiers: ${Object.keys(tiers).join(', ')})` });
  };
  const defaultTier = doc.defaultTier ?? (tiers.free ? 'free' : (Object.keys(tiers)[0] ?? 'free'));
  if (Object.keys(tiers).length === 0)
    issues.push({ path: 'tiers', message: 'must define at least one tier' });
  else knownTier('defaultTier', defaultTier);
  (doc.tierRules ?? []).forEach((rule, i) => {
    knownTier(`tierRules[${i}].tier`, rule.tier);
    check(`tierRules[${i}].pattern`, () => compilePattern(rule.pattern, `tierRules[${i}].pattern`));
  });
  const tenants = Object.create(null) as Record<string, TenantOverride>;
  for (const [tenant, override] of Object.entries(doc.tenants ?? {})) {
    tenants[tenant] = override;
    if (override.tier !== undefined) knownTier(`tenants.${tenant}.tier`, override.tier);
  }

  const names = new Set<string>();
  const policies = (doc.policies ?? []) as PolicyDefinition[];
  policies.forEach((policy, i) => {
    const at = `policies[${i}]`;
    if (names.has(policy.name))
      issues.push({ path: `${at}.name`, message: `duplicate policy name "${policy.name}"` });
    names.add(policy.name);
    if (!policy.limits && !policy.tierLimits) {
      issues.push({ path: at, message: 'needs limits or tierLimits' });
    }
    policy.tiers?.forEach((t, j) => {
      knownTier(`${at}.tiers[${j}]`, t);
    });
    const validateList = (list: unknown[], path: string) => {
      const seen = new Map<string, number>();
      list.forEach((limit, j) => {
        check(`${path}[${j}]`, () => {
          if (typeof limit === 'object' && limit !== null && 'scope' in limit) {
            throw new ValidationError(
              'ERR_SLUICE_INVALID_OPTION',
              `${path}[${j}].scope`,
              "is set by the policy's countBy, not per limit",
            );
          }
          const { name } = normalizeLimit(limit, `${path}[${j}]`);
          const first = seen.get(name);
          if (first !== undefined)
            issues.push({
              path: `${path}[${j}].name`,
              message: duplicateLimitName(name, `${path}[${first}]`),
            });
          else seen.set(name, j);
        });
      });
    };
    if (policy.limits) validateList(policy.limits, `${at}.limits`);
    if (policy.tierLimits) {
      const rows = policy.tierLimits;
      for (const [tier, list] of Object.entries(rows)) {
        if (tier !== DEFAULT_TIER_ROW) knownTier(`${at}.tierLimits.${tier}`, tier);
        validateList(list, `${at}.tierLimits.${tier}`);
      }
      const hasDefault = Object.hasOwn(rows, DEFAULT_TIER_ROW);
      if (hasDefault && policy.limits)
        issues.push({
          path: `${at}.tierLimits.${DEFAULT_TIER_ROW}`,
          message:
            'and limits both apply to the tiers without a row of their own: keep one (tierLimits.default, or limits)',
        });
      // A tier without a row would silently skip the policy: every tier it applies to needs a row, or a
      // `default` row (or `limits`) covers the rest. An empty row (`free: []`) exempts a tier on purpose.
      if (!hasDefault && !policy.limits) {
        const applies = policy.tiers ?? Object.keys(tiers);
        const missing = applies.filter((t) => Object.hasOwn(tiers, t) && !Object.hasOwn(rows, t));
        if (missing.length > 0)
          issues.push({
            path: `${at}.tierLimits`,
            message: `has no row for tier${missing.length === 1 ? '' : 's'} ${missing.map((t) => `"${t}"`).join(', ')}: add ${missing.length === 1 ? 'it' : 'them'}, or a "default" row for every tier without its own (an empty row, [], exempts a tier)`,
          });
      }
    }
  });

  let leaseTtlMs = 60_000;
  check('tierPolicy.leaseTtl', () => {
    if (doc.tierPolicy?.leaseTtl !== undefined)
      leaseTtlMs = parseDuration(doc.tierPolicy.leaseTtl, 'tierPolicy.leaseTtl');
  });
  // The limits the tier policy builds, checked as the limits are (a burst must refill within 10 years...).
  for (const [name, tier] of Object.entries(tiers)) {
    for (const issue of tierQuotaIssues(tier, `tiers.${name}`)) issues.push(issue);
  }
  for (const [tenant, override] of Object.entries(tenants)) {
    // Without a tier of its own, a tenant may land on any tier (rules, the resolver): each must work.
    const candidates = override.tier === undefined ? Object.keys(tiers) : [override.tier];
    for (const name of candidates) {
      const base = Object.hasOwn(tiers, name) ? tiers[name] : undefined;
      const found = base ? tierQuotaIssues(quotaOver(base, override), `tenants.${tenant}`) : [];
      if (found.length > 0) {
        issues.push(...found);
        break;
      }
    }
  }

  let refreshIntervalMs = 1000;
  check('refreshInterval', () => {
    if (doc.refreshInterval !== undefined)
      refreshIntervalMs = parseDuration(doc.refreshInterval, 'refreshInterval');
  });
  const store = doc.store ?? { type: 'memory' as const };
  if (store.type === 'redis') {
    const given = [store.url, store.cluster, store.sentinel].filter((x) => x !== undefined).length;
    if (given !== 1)
      issues.push({ path: 'store', message: 'a redis store needs exactly one of url, cluster, sentinel' });
    for (const field of ['connectTimeout', 'commandTimeout'] as const) {
      check(`store.${field}`, () => {
        if (store[field] !== undefined) parseDuration(store[field], `store.${field}`);
      });
    }
  }

  const durationOr = (path: string, value: string | number | undefined, fallback: number): number => {
    let ms = fallback;
    check(path, () => {
      if (value !== undefined) ms = parseDuration(value, path);
    });
    return ms;
  };
  const rep = doc.reputation;
  const escalation = Object.entries(rep?.escalation ?? { 2: 0.5, 3: 0.75, 5: 0.9 })
    .map(([count, reduction]) => [Number(count), reduction] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  const reputation: SluiceConfig['reputation'] = {
    enabled: rep?.enabled ?? rep !== undefined,
    escalation,
    decayMs: durationOr('reputation.decay', rep?.decay, 86_400_000),
    cacheTtlMs: durationOr('reputation.cacheTtl', rep?.cacheTtl, 1000),
  };
  if (rep?.boost) reputation.boost = { factor: rep.boost.factor, after: rep.boost.after };
  if (rep?.block) {
    reputation.block = {
      after: rep.block.after,
      durationMs: durationOr('reputation.block.duration', rep.block.duration, 1),
    };
  }
  const platform =
    doc.platform && doc.platform.enabled !== false
      ? {
          threshold: doc.platform.threshold,
          syncIntervalMs: durationOr('platform.syncInterval', doc.platform.syncInterval, 1000),
          resetTimeoutMs: durationOr('platform.resetTimeout', doc.platform.resetTimeout, 30_000),
        }
      : undefined;

  const failure: SluiceConfig['failure'] = {
    budgetMs: durationOr('failure.budget', doc.failure?.budget, 50),
    circuitThreshold: doc.failure?.circuitThreshold ?? 5,
    circuitResetTimeoutMs: durationOr(
      'failure.circuitResetTimeout',
      doc.failure?.circuitResetTimeout,
      30_000,
    ),
    localShare: {
      ...(doc.failure?.localInstances !== undefined ? { instances: doc.failure.localInstances } : {}),
      ...(doc.failure?.localFraction !== undefined ? { fraction: doc.failure.localFraction } : {}),
    },
  };
  if (doc.failure?.escalate) {
    failure.escalate = {
      afterMs: durationOr('failure.escalate.after', doc.failure.escalate.after, 0),
      to: doc.failure.escalate.to,
    };
  }
  if (doc.compare?.store.type === 'redis') {
    const given = [doc.compare.store.url, doc.compare.store.cluster, doc.compare.store.sentinel];
    if (given.filter((x) => x !== undefined).length !== 1)
      issues.push({
        path: 'compare.store',
        message: 'a redis store needs exactly one of url, cluster, sentinel',
      });
  }

  if (issues.length > 0) throw new ConfigError(issues, source);
  return {
    failure,
    prefix,
    mode: doc.mode ?? 'enforce',
    failureMode: doc.failureMode ?? 'closed',
    store,
    tiers,
    defaultTier,
    tierRules: doc.tierRules ?? [],
    tenants,
    tierPolicy: {
      enabled: doc.tierPolicy?.enabled ?? true,
      additive: doc.tierPolicy?.additive ?? true,
      concurrency: doc.tierPolicy?.concurrency ?? false,
      leaseTtlMs,
      mode: doc.tierPolicy?.mode ?? 'enforce',
      ...(doc.tierPolicy?.failureMode ? { failureMode: doc.tierPolicy.failureMode } : {}),
    },
    policies,
    refreshIntervalMs,
    reputation,
    loadAdaptive: {
      threshold: doc.loadAdaptive?.threshold ?? 0.8,
      minFactor: doc.loadAdaptive?.minFactor ?? 0.5,
    },
    ...(platform ? { platform } : {}),
    ...(doc.compare ? { compare: { store: doc.compare.store } } : {}),
  };
}

/** A tenant's quota: its own settings over its tier's. */
export function quotaOver(
  base: Required<TierDefinition>,
  ...overrides: Array<TenantOverride | undefined>
): Required<TierDefinition> {
  const pick = <K extends keyof TierDefinition>(key: K): Required<TierDefinition>[K] => {
    for (const o of overrides) if (o?.[key] !== undefined) return o[key] as Required<TierDefinition>[K];
    return base[key];
  };
  return {
    rps: pick('rps'),
    burst: pick('burst'),
    maxConcurrent: pick('maxConcurrent'),
    priority: pick('priority'),
  };
}

/**
 * Problems of the token bucket a quota becomes (rps per second, burst): what would make every check of
 * the tenant fail, found when the configuration (or a runtime override) is validated instead.
 */
export function tierQuotaIssues(quota: Required<TierDefinition>, path: string): ConfigIssue[] {
  try {
    normalizeLimit({ algorithm: 'token-bucket', limit: quota.rps, window: 1000, burst: quota.burst }, path);
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return [
      {
        path: `${path}.burst`,
        message: `${quota.burst} at ${quota.rps} rps: ${error.message.slice(error.field.length + 2)}`,
      },
    ];
  }
}

/** A tier rule or match pattern: "/regex/" or a glob where `*` matches anything (see patterns.ts). */
export { compilePattern };

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === 'number') return `${out}[${part}]`;
    return out ? `${out}.${String(part)}` : String(part);
  }, '');
}
