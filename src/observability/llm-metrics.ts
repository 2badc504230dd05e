/**
 * Prometheus counters of settled LLM calls (`LlmLimiter`'s `observer` option): calls, input, output
 * and cached input tokens, and cost, by provider, model and tier. Never by tenant or user: the labels
 * stay bounded (providers and tiers come from the configuration; models past `maxModels` are `other`).
 */
import { Registry } from 'prom-client';
import { ValidationError } from '../core/errors.js';
import type { LlmCallEvent, LlmObserver } from '../core/observer.js';
import { rejectUnknownKeys } from '../core/options.js';
import { FastCounter } from './series.js';

export interface LlmMetricsOptions {
  /** Where the series are registered (e.g. a SluiceMetrics' `registry`). Default: a new Registry. */
  registry?: Registry;
  /** Prefix of every series name. Default `sluice_`. */
  prefix?: string;
  /** Distinct model labels; the models seen after them are counted as `other`. Default 50. */
  maxModels?: number;
}

const LABELS = ['provider', 'model', 'tier'];

/** Counts settled LLM calls. Pass it as `observer` to an LlmLimiter. */
export class LlmMetrics implements LlmObserver {
  readonly registry: Registry;
  private readonly calls: FastCounter;
  private readonly input: FastCounter;
  private readonly output: FastCounter;
  private readonly cached: FastCounter;
  private readonly cost: FastCounter;
  private readonly models = new Set<string>();
  private readonly maxModels: number;

  constructor(options: LlmMetricsOptions = {}) {
    rejectUnknownKeys(options, 'llmMetrics', ['registry', 'prefix', 'maxModels']);
    const max = options.maxModels ?? 50;
    if (!Number.isInteger(max) || max < 1) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_OPTION',
        'llmMetrics.maxModels',
        'must be a positive whole number',
      );
    }
    this.maxModels = max;
    this.registry = options.registry ?? new Registry();
    const prefix = options.prefix ?? 'sluice_';
    const counter = (name: string, help: string) =>
      new FastCounter(prefix + name, help, LABELS, this.registry);
    this.calls = counter('llm_calls_total', 'Settled LLM calls by provider, model and tier (seed 004 calls)');
    this.input = counter(
      'llm_input_tokens_total',
      'Input tokens of settled LLM calls (cached ones included)',
    );
    this.output = counter('llm_output_tokens_total', 'Output tokens of settled LLM calls');
    this.cached = counter('llm_cached_input_tokens_total', 'Input tokens served from the provider cache');
    this.cost = counter('llm_cost_usd_total', 'Cost of settled LLM calls in dollars, from the price table');
  }

  /** Counts one settled call. Never throws. */
  settled(event: LlmCallEvent): void {
    try {
      const labels = [event.provider, this.modelLabel(event.model), event.tier];
      this.calls.inc(labels);
      this.input.inc(labels, event.inputTokens);
      this.output.inc(labels, event.outputTokens);
      this.cached.inc(labels, event.cachedInputTokens);
      this.cost.inc(labels, event.costUsd);
    } catch {
      // Metrics never fail a settlement.
    }
  }

  private modelLabel(model: string): string {
    if (this.models.has(model)) return model;
    if (this.models.size >= this.maxModels) return 'other';
    this.models.add(model);
    return model;
  }
}
