export { ALGORITHM_NAMES } from './algorithms/index.js';
export type { Clock } from './core/clock.js';
export { ManualClock, systemClock } from './core/clock.js';
export type { Duration } from './core/duration.js';
export { formatDuration, parseDuration } from './core/duration.js';
export type { ValidationCode } from './core/errors.js';
export { SluiceError, StoreError, ValidationError } from './core/errors.js';
export type {
  AlgorithmName,
  Decision,
  DecisionReason,
  Lease,
  LimitDefinition,
  LimitResult,
  NormalizedLimit,
} from './core/types.js';
export { normalizeLimit, normalizeLimits } from './engine/limits.js';
export type {
  DecideRequest,
  DenialCacheOptions,
  EscalateOptions,
  FailoverLogger,
  FailoverState,
  LimiterOptions,
  LimitRequest,
  LocalStoreOptions,
} from './limiter.js';
export { createLimiter, Limiter } from './limiter.js';
export type { ConfigIssue, SluiceConfig, StoreConfig } from './policy/config.js';
export { ConfigError, DEFAULT_TIERS, parseConfig } from './policy/config.js';
export { configFromEnv, tenantHeadersFromEnv } from './policy/env.js';
export { loadConfigFile } from './policy/load.js';
export type { PlatformGuard, PlatformState } from './policy/platform.js';
export type { PolicyLimiterOptions } from './policy/policy-limiter.js';
export { PolicyLimiter } from './policy/policy-limiter.js';
export type { RuntimeOverrides } from './policy/runtime.js';
export { blockedByOf } from './policy/stages/check.js';
export type {
  CountBy,
  FailureMode,
  Mode,
  PolicyDecision,
  PolicyDefinition,
  PolicyLimit,
  PolicyOutcome,
  RequestContext,
  Scope,
  TenantOverride,
  TierDefinition,
} from './policy/types.js';
export { COUNT_BY, FAILURE_MODES, MODES, SCOPES } from './policy/types.js';
export type { MemoryStoreOptions } from './stores/memory/memory-store.js';
export { MemoryStore } from './stores/memory/memory-store.js';
export { REDIS_ACL_COMMANDS, redisAclRules } from './stores/redis/acl.js';
export type { RedisClient, RedisStoreOptions } from './stores/redis/redis-store.js';
export { RedisStore } from './stores/redis/redis-store.js';
export type {
  DecisionPlan,
  PlannedLimit,
  RawDecision,
  RefundPlan,
  ReleasePlan,
  Store,
} from './stores/store.js';
