/**
 * OpenTelemetry (`@opentelemetry/api`, an optional peer dependency): each decision becomes an event
 * `sluice.decision` on the active span (its outcome, binding limit, path, policy), or, with
 * `spans: true`, a span of its own covering the decision. With no tracer provider registered the API's
 * no-op implementation answers: no span is recording, and nothing is built.
 */
import { type Attributes, trace } from '@opentelemetry/api';
import type { DecisionEvent, DecisionObserver } from '../core/observer.js';
import { labelsOf } from './outcome.js';

export interface TracingOptions {
  /** A span per decision (named `sluice.decide`) instead of an event on the active span. Default false. */
  spans?: boolean;
  /** Tracer name. Default `sluice`. */
  tracerName?: string;
}

export class DecisionTracing implements DecisionObserver {
  private readonly spans: boolean;
  private readonly tracerName: string;

  constructor(options: TracingOptions = {}) {
    this.spans = options.spans ?? false;
    this.tracerName = options.tracerName ?? 'sluice';
  }

  decided(event: DecisionEvent): void {
    if (this.spans) {
      const tracer = trace.getTracer(this.tracerName);
      const end = Date.now();
      const span = tracer.startSpan('sluice.decide', { startTime: end - event.durationMs });
      if (span.isRecording()) span.setAttributes(attributesOf(event));
      span.end(end);
      return;
    }
    const span = trace.getActiveSpan();
    if (!span?.isRecording()) return;
    span.addEvent('sluice.decision', attributesOf(event));
  }
}

function attributesOf({ decision: d, durationMs }: DecisionEvent): Attributes {
  const labels = labelsOf(d);
  return {
    'sluice.outcome': labels.outcome,
    'sluice.allowed': d.allowed,
    'sluice.reason': d.reason,
    'sluice.path': d.path,
    'sluice.policy': labels.policy,
    'sluice.scope': labels.scope,
    'sluice.tenant': d.tenant,
    'sluice.binding_limit': d.binding.name,
    'sluice.remaining': Math.max(0, d.remaining),
    'sluice.retry_after_ms': Number.isFinite(d.retryAfterMs) ? d.retryAfterMs : -1,
    'sluice.duration_ms': durationMs,
  };
}
