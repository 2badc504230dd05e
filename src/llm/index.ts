export type { LlmCallEvent, LlmObserver } from '../core/observer.js';
export type { CheckGroup, Dimension, LlmCheck } from './checks.js';
export { LlmConfigError, RateLimitExceededError, StreamStoppedError } from './errors.js';
export type { EstimateReport } from './estimator.js';
export { LlmLimiter, type LlmLimiterOptions } from './llm-limiter.js';
export type { PoolOptions, Price, ProviderOptions, TierLimits } from './options.js';
export { DEFAULT_LLM_TIERS } from './options.js';
export { Reservation } from './reservation.js';
export { countPromptTokens, openAiEncoding } from './tokens.js';
export { type IdentitySource, limitedFetch, withLlmIdentity } from './transport.js';
export type { LlmCallRequest, LlmIdentity, LlmProvider, LlmUsage, Settlement } from './types.js';
export { LLM_PROVIDERS } from './types.js';
export {
  type IdentityUsage,
  MAX_USAGE_HOURS,
  type TenantUsage,
  UsageBook,
  type UsageBookOptions,
  type UsageRow,
  type UsageTotals,
  type UsageWrites,
} from './usage.js';
export {
  type FunctionLimitOptions,
  limitGeminiOptions,
  type WrapOptions,
  withLlmRateLimit,
  wrapAnthropic,
  wrapOpenAI,
} from './wrap.js';
