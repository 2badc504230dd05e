import type { Decision } from './types.js';

/** What the caller knows of the request a decision was for (the policy layer and the HTTP adapters say). */
export interface ObservedRequest {
  user?: string;
  ip?: string;
  endpoint?: string;
  /** From `x-request-id`, else the trace id of `traceparent`, when the HTTP layer saw one. */
  correlationId?: string;
}

/** One decision, as observers see it. */
export interface DecisionEvent {
  decision: Decision;
  /** How long it took to decide (ms, the caller's clock). */
  durationMs: number;
  request?: ObservedRequest;
}

/**
 * State an observer may read when it wants (metrics read it at scrape time): what a limiter, a policy
 * limiter or an HTTP middleware offers through `watch`. Every reader is optional.
 */
export interface ObservedSource {
  /** Circuit breaker state now (the guard's): closed, open or half-open, and how often it opened. */
  breaker?: () => { state: string; opened: number } | null;
  /** Keys held by an in-process store. */
  activeKeys?: () => number;
  /** Store round trips (script calls) made so far. */
  roundTrips?: () => number;
  /** Platform protection now. */
  platform?: () => { state: string; shedLevel: number } | null;
  /** Runtime configuration version and reload errors so far. */
  config?: () => { version: number; reloadErrors: number };
  /** The HTTP core's counters (missing tenants, untrusted forwarding headers...). */
  http?: () => Record<string, number>;
  /** Reputation adjustments made so far, by kind (violation, block). */
  reputation?: () => Record<string, number>;
}

/**
 * Something told of every decision (metrics, decision logs, traces: see `sluice/metrics`). Called
 * synchronously after the decision is made; an observer that throws is ignored, never the decision.
 * `watch`, when it has one, is called once by what it observes, with the state it may read.
 */
export interface DecisionObserver {
  decided(event: DecisionEvent): void;
  watch?(source: ObservedSource): void;
}

/** Tells an observer of a decision; an observer that throws never fails the decision. */
export function notify(observer: DecisionObserver | undefined, event: DecisionEvent): void {
  if (observer === undefined) return;
  try {
    observer.decided(event);
  } catch {
    // Observability never changes an answer.
  }
}

/** Validates an `observer` option: an object with a `decided(event)` method (null/undefined: none). */
export function isObserver(value: unknown): value is DecisionObserver {
  return typeof (value as DecisionObserver | null)?.decided === 'function';
}

/** One settled LLM call, as its observers see it (sluice/llm tells them; sluice/metrics counts them). */
export interface LlmCallEvent {
  tenant: string;
  user: string;
  /** The tier whose limits applied. */
  tier: string;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  /** From the price table (0 for an unpriced model). */
  costUsd: number;
}

/**
 * Told of every settled LLM call (`LlmLimiter`'s `observer` option; `LlmMetrics` of sluice/metrics
 * is one). Called synchronously at settlement; an observer that throws is ignored.
 */
export interface LlmObserver {
  settled(event: LlmCallEvent): void;
}
