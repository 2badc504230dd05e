import { rejectUnknownKeys } from '../../core/options.js';
import { rateLimitHeaders } from '../../http/headers.js';
import {
  type Clock,
  type Decision,
  type Limiter,
  type PolicyDecision,
  type PolicyLimiter,
  systemClock,
  ValidationError,
} from '../../index.js';
import { planChecks } from './checks.js';
import type { EnvoyRules } from './config.js';
import { loadEnvoyConfig } from './config-files.js';
import { decideAllOrNothing, decideBlocksOnly, decideShadow } from './decide.js';
import { targetsOf } from './match.js';
import {
  blockedByOfRequest,
  type ContextField,
  contextOf,
  type DescriptorMapping,
  mappingKeys,
} from './policy-mapping.js';
import { parseRateLimitRequest } from './request.js';
import { combinedDecision, type Decided, statusesOf } from './statuses.js';
import { MAX_UINT32, type RlsRequest, type RlsResponse, type RlsStatus } from './types.js';
import { unitOfWindow } from './units.js';

/** Which rate limit headers a response asks Envoy to add to its client's response. */
export type ResponseHeaders = 'ietf' | 'legacy' | 'both' | 'none';

export interface RateLimitServiceOptions {
  /** Counts the Envoy configuration's rules (memory, Redis, Sentinel or Cluster store). Required with `envoyConfig`. */
  limiter?: Limiter;
  /** envoyproxy/ratelimit configuration: file or directory paths, or rules loaded by `loadEnvoyConfig`. */
  envoyConfig?: string | readonly string[] | EnvoyRules;
  /** Decides requests of domains the Envoy configuration does not have, their descriptors mapped to a RequestContext. */
  policies?: PolicyLimiter;
  /** How descriptors map onto the RequestContext (with `policies`). */
  mapping?: DescriptorMapping;
  /** `ietf` (default): RateLimit and RateLimit-Policy; `legacy`: X-RateLimit-*; Retry-After on every OVER_LIMIT but with `none`. */
  responseHeaders?: ResponseHeaders;
  /** Clock for what the store does not date (default the system clock; give the limiter's when it has one). */
  clock?: Clock;
}

/** Envoy's rate limit service, decided by Sluice; the gRPC server and the `/json` handler call it. */
export interface RateLimitService {
  /** Decides a validated request. */
  shouldRateLimit(request: RlsRequest): Promise<RlsResponse>;
  /** Validates a decoded gRPC or proto3 JSON request (ValidationError naming the field), then decides it. */
  decide(raw: unknown): Promise<RlsResponse>;
  /** Domains of the Envoy configuration. */
  readonly domains: readonly string[];
}

const OPTIONS = ['limiter', 'envoyConfig', 'policies', 'mapping', 'responseHeaders', 'clock'];
const HEADER_CHOICES: readonly ResponseHeaders[] = ['ietf', 'legacy', 'both', 'none'];

export function createRateLimitService(options: RateLimitServiceOptions): RateLimitService {
  const o = validated(options);
  const rules = o.envoyConfig === undefined ? undefined : rulesOf(o.envoyConfig);
  const keys = mappingKeys(o.mapping);
  const headers = o.responseHeaders ?? 'ietf';
  const clock = o.clock ?? systemClock;
  const { limiter, policies } = o;
  const service: RateLimitService = {
    domains: rules ? [...rules.domains.keys()] : [],
    shouldRateLimit(request) {
      const domain = rules?.domains.get(request.domain);
      if (domain !== undefined || policies === undefined) {
        return byRules(
          limiter as Limiter,
          request,
          targetsOf(request.domain, domain, request.descriptors),
          blockedByOfRequest(request, keys),
          { headers, clock },
        );
      }
      return byPolicies(policies, request, keys, o.mapping?.tenantFromDomain, headers);
    },
    decide(raw) {
      try {
        return service.shouldRateLimit(parseRateLimitRequest(raw));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
  return service;
}

function validated(options: RateLimitServiceOptions): RateLimitServiceOptions {
  rejectUnknownKeys(options, 'options', OPTIONS);
  const invalid = (field: string, message: string) =>
    new ValidationError('ERR_SLUICE_INVALID_OPTION', field, message);
  // Duck-typed: each entry point of the package bundles its own copy of the classes.
  if (options.limiter !== undefined && !hasMethods(options.limiter, ['decide', 'refund'])) {
    throw invalid('limiter', 'must be a Limiter');
  }
  if (options.policies !== undefined && !hasMethods(options.policies, ['check'])) {
    throw invalid('policies', 'must be a PolicyLimiter');
  }
  if (options.envoyConfig !== undefined && options.limiter === undefined)
    throw invalid('limiter', 'is required with envoyConfig (it counts the rules)');
  if (options.envoyConfig === undefined && options.policies === undefined)
    throw invalid('envoyConfig', 'or policies is required');
  if (options.responseHeaders !== undefined && !HEADER_CHOICES.includes(options.responseHeaders)) {
    throw invalid('responseHeaders', `must be one of ${HEADER_CHOICES.join(', ')}`);
  }
  if (options.clock !== undefined && typeof options.clock !== 'function')
    throw invalid('clock', 'must be a function returning epoch ms');
  if (options.mapping !== undefined) {
    rejectUnknownKeys(options.mapping, 'mapping', ['keys', 'tenantFromDomain']);
    if (options.mapping.keys !== undefined)
      rejectUnknownKeys(options.mapping.keys, 'mapping.keys', Object.keys(options.mapping.keys));
  }
  return options;
}

function hasMethods(value: unknown, names: readonly string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  return names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function');
}

function rulesOf(config: NonNullable<RateLimitServiceOptions['envoyConfig']>): EnvoyRules {
  if (typeof config === 'string' || Array.isArray(config))
    return loadEnvoyConfig(config as string | string[]);
  if (typeof config === 'object' && config !== null && (config as EnvoyRules).domains instanceof Map)
    return config as EnvoyRules;
  throw new ValidationError(
    'ERR_SLUICE_INVALID_OPTION',
    'envoyConfig',
    'must be paths or the result of loadEnvoyConfig',
  );
}

async function byRules(
  limiter: Limiter,
  request: RlsRequest,
  targets: Decided['targets'],
  blockedBy: string[],
  { headers, clock }: { headers: ResponseHeaders; clock: Clock },
): Promise<RlsResponse> {
  const plan = planChecks(request, targets);
  const refuseAll = plan.refused.length > 0;
  const [enforced, shadow, blocks] = await Promise.all([
    decideAllOrNothing(limiter, request.domain, plan.enforced, refuseAll, blockedBy),
    decideShadow(limiter, request.domain, plan.shadow),
    plan.enforced.length === 0 ? decideBlocksOnly(limiter, request.domain, blockedBy) : undefined,
  ]);
  const now = enforced[0]?.decision.at ?? shadow[0]?.decision.at ?? blocks?.at ?? clock();
  const decided: Decided = { targets, plan, enforced, shadow, now, blocks };
  const allowed = !refuseAll && enforced.every((o) => o.decision.allowed) && blocks?.allowed !== false;
  const combined = combinedDecision(decided, allowed);
  const statuses = statusesOf(decided);
  return {
    overallCode: allowed ? 'OK' : 'OVER_LIMIT',
    statuses,
    responseHeadersToAdd: combined
      ? headersOf(combined, now, headers)
      : refusedHeaders(decided, statuses, allowed, headers),
  };
}

async function byPolicies(
  policies: PolicyLimiter,
  request: RlsRequest,
  keys: ReadonlyMap<string, ContextField>,
  tenantFromDomain: boolean | undefined,
  headers: ResponseHeaders,
): Promise<RlsResponse> {
  const decision = await policies.check(contextOf(request, keys, tenantFromDomain));
  const status = policyStatus(decision);
  return {
    overallCode: decision.allowed ? 'OK' : 'OVER_LIMIT',
    statuses: request.descriptors.map(() => ({ ...status })),
    responseHeadersToAdd: headersOf(decision, decision.at, headers),
  };
}

/** Every descriptor shares the request's one decision: its binding limit is the current limit. */
function policyStatus(d: PolicyDecision): RlsStatus {
  const code = d.allowed ? 'OK' : 'OVER_LIMIT';
  const { binding } = d;
  if (!Number.isFinite(binding.limit)) return { code, limitRemaining: MAX_UINT32 };
  const unit = unitOfWindow(binding.windowMs);
  const currentLimit = {
    name: binding.name,
    requestsPerUnit: binding.refill ?? binding.limit,
    ...(unit ? { unit } : {}),
  };
  return {
    code,
    currentLimit,
    limitRemaining: Math.min(MAX_UINT32, Math.max(0, binding.remaining)),
    durationUntilResetMs: Math.max(0, binding.resetAt - d.at),
  };
}

function headersOf(
  decision: Decision,
  now: number,
  choice: ResponseHeaders,
): RlsResponse['responseHeadersToAdd'] {
  if (choice === 'none') return [];
  const ietf = choice !== 'legacy';
  const legacy = choice !== 'ietf';
  const all = rateLimitHeaders(decision, now, { ietf, legacy, tenant: false, backend: false, shadow: false });
  return Object.entries(all).map(([key, value]) => ({ key, value }));
}

/** Only `requests_per_unit: 0` rules refused (nothing counted): Retry-After, no quota to state. */
function refusedHeaders(
  d: Decided,
  statuses: readonly RlsStatus[],
  allowed: boolean,
  choice: ResponseHeaders,
): RlsResponse['responseHeadersToAdd'] {
  if (allowed || choice === 'none') return [];
  const waits = d.plan.refused.map(({ descriptor }) => statuses[descriptor]?.durationUntilResetMs ?? 1000);
  if (d.blocks?.allowed === false) waits.push(d.blocks.retryAfterMs);
  return [{ key: 'retry-after', value: String(Math.max(1, Math.ceil(Math.max(...waits) / 1000))) }];
}
