/**
 * `sluice/metrics`: what the limiter does, for operators. Observers of decisions (metrics, decision
 * logs, traces), combined with `observers(...)` and passed as `observer` to a Limiter, a PolicyLimiter
 * or an HTTP adapter.
 */
import type { DecisionEvent, DecisionObserver, ObservedSource } from '../core/observer.js';

export type {
  DecisionEvent,
  DecisionObserver,
  LlmCallEvent,
  LlmObserver,
  ObservedRequest,
  ObservedSource,
} from '../core/observer.js';
export { correlationIdOf } from '../http/correlation.js';
export { type ObservedRates, observedRates, RateRecorder, type RateRecorderOptions } from './calibration.js';
export { DecisionLog, type DecisionLogOptions, type DecisionLogSink } from './decision-log.js';
export { LlmMetrics, type LlmMetricsOptions } from './llm-metrics.js';
export { type MetricsOptions, type MetricsSource, SluiceMetrics } from './metrics.js';
export { type DecisionLabels, labelsOf, OUTCOMES, type Outcome, outcomeOf } from './outcome.js';
export {
  type CalibrateOptions,
  type CalibrationResult,
  calibrate,
  calibrationDocument,
  type Proposal,
} from './proposal.js';
export { DecisionTracing, type TracingOptions } from './tracing.js';

/** One observer telling several: each is called in turn, one that throws does not stop the others. */
export function observers(...list: DecisionObserver[]): DecisionObserver {
  return {
    watch(source: ObservedSource) {
      for (const observer of list) observer.watch?.(source);
    },
    decided(event: DecisionEvent) {
      for (const observer of list) {
        try {
          observer.decided(event);
        } catch {
          // An observer never fails a decision, nor the observers after it.
        }
      }
    },
  };
}
export { type ActiveTenant, Activity, type ActivityOptions, type LimitedIdentity } from './activity.js';
export { type AuditEntry, AuditTrail } from './audit-trail.js';
export {
  LiveCounts,
  type LiveCountsOptions,
  type OutcomeCounts,
  type RecentRejection,
  type SecondCounts,
} from './live-counts.js';
