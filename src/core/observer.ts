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
 * Something told of every decision (metrics, decision logs, traces: see `sluice/metrics`). Called
 * synchronously after the decision is made; an observer that throws is ignored, never the decision.
 */
export interface DecisionObserver {
  decided(event: DecisionEvent): void;
}
