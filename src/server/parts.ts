/** What the routes of the service share: the limiters, the boards, the tokens and the lifecycle. */
import type { Limiter } from '../limiter.js';
import type { UsageBook } from '../llm/usage.js';
import type { Activity, AuditTrail, SluiceMetrics } from '../observability/index.js';
import type { LiveCounts } from '../observability/live-counts.js';
import type { PolicyLimiter } from '../policy/policy-limiter.js';
import type { TokenSet } from './auth.js';

/** envoyproxy/ratelimit's HTTP `/json` endpoint, when an Envoy configuration is loaded. */
export type EnvoyJsonHandler = (
  body: unknown,
) => Promise<{ statusCode: number; contentType: string; body: unknown }>;

export interface Lifecycle {
  readonly startedAt: number;
  readonly version: string;
  /** False until the store answered once, and again from the first step of a shutdown. */
  ready: boolean;
  draining: boolean;
}

export interface ServiceParts {
  readonly policy: PolicyLimiter;
  /** Decides ad-hoc limits (`/v1/limits/check`) on the same store and prefix as the policies. */
  readonly limiter: Limiter;
  readonly activity: Activity;
  /** Per-second decision counts by outcome (the console's live charts). */
  readonly live: LiveCounts;
  readonly audit: AuditTrail;
  /** LLM usage, as the applications' LlmLimiters write it to the shared store (same prefix). */
  readonly llmUsage: UsageBook;
  readonly metrics: SluiceMetrics | undefined;
  /** Caller tokens of the decision API; undefined: open (a private network). */
  readonly callers: TokenSet | undefined;
  /** Admin tokens; undefined: no admin API (its routes answer 404). */
  readonly admins: TokenSet | undefined;
  envoyJson: EnvoyJsonHandler | undefined;
  readonly lifecycle: Lifecycle;
}
