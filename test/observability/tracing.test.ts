import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { createLimiter } from '../../src/limiter.js';
import { DecisionTracing } from '../../src/observability/tracing.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

// A real OpenTelemetry SDK, registered for this file: spans recorded in memory.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

describe('DecisionTracing with a registered tracer provider', () => {
  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  const limiter = createLimiter({
    limits: [{ name: 'rpm', algorithm: 'fixed-window', limit: 1, window: '1m' }],
    store: new MemoryStore({ clock: new ManualClock().now }),
  });

  it('adds a sluice.decision event to the active span, with the outcome, binding limit and path', async () => {
    exporter.reset();
    const tracing = new DecisionTracing();
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('GET /api', async (span) => {
      for (let i = 0; i < 2; i++) {
        tracing.decided({ decision: await limiter.limit({ tenant: 't', key: 'k' }), durationMs: 0.2 });
      }
      span.end();
    });
    const [request] = exporter.getFinishedSpans();
    expect(request?.name).toBe('GET /api');
    const events = request?.events ?? [];
    expect(
      events.map((e) => [
        e.name,
        e.attributes?.['sluice.outcome'],
        e.attributes?.['sluice.binding_limit'],
        e.attributes?.['sluice.path'],
      ]),
    ).toEqual([
      ['sluice.decision', 'allowed', 'rpm', 'store'],
      ['sluice.decision', 'rejected', 'rpm', 'store'],
    ]);
  });

  it('spans: true makes one span per decision, covering its duration', async () => {
    exporter.reset();
    const tracing = new DecisionTracing({ spans: true });
    tracing.decided({ decision: await limiter.limit({ tenant: 't', key: 'other' }), durationMs: 5 });
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('sluice.decide');
    expect(span?.attributes['sluice.outcome']).toBe('allowed');
    const ms = (span?.duration[0] ?? 0) * 1000 + (span?.duration[1] ?? 0) / 1e6;
    expect(ms).toBeCloseTo(5, 0);
  });
});
