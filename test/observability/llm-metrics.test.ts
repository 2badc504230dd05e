/**
 * LlmMetrics as an LlmLimiter's observer: calls, input, output and cached tokens and cost by provider,
 * model and tier (never tenant or user), exact values in the exposition, models past the cap as
 * `other`, on the same registry as SluiceMetrics; an observer that throws never fails a settlement.
 */
import { describe, expect, it } from 'vitest';
import { LlmLimiter } from '../../src/llm/index.js';
import { LlmMetrics, SluiceMetrics } from '../../src/observability/index.js';

const PRICES = { 'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 }, o3: { input: 2, output: 8 } };

async function call(llm: LlmLimiter, tier: string, model: string, usage: Record<string, number>) {
  const reservation = await llm.reserve(
    { user: 'u', tenant: 't', tier },
    { provider: 'openai', model, inputTokens: usage.inputTokens as number, maxOutputTokens: 1000 },
  );
  await reservation.settle(usage as { inputTokens: number; outputTokens: number });
}

/** The samples of one family, as `labels value` lines. */
function samples(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .sort();
}

describe('LlmMetrics', () => {
  it('counts settled calls by provider, model and tier, exactly, on a SluiceMetrics registry', async () => {
    const metrics = new SluiceMetrics();
    const llmMetrics = new LlmMetrics({ registry: metrics.registry, maxModels: 2 });
    const llm = new LlmLimiter({ prices: PRICES, observer: llmMetrics });
    await call(llm, 'pro', 'gpt-4o', { inputTokens: 1000, outputTokens: 200, cachedInputTokens: 400 });
    await call(llm, 'pro', 'gpt-4o', { inputTokens: 1000, outputTokens: 200, cachedInputTokens: 400 });
    await call(llm, 'free', 'gpt-4o', { inputTokens: 10, outputTokens: 5 });
    await call(llm, 'pro', 'o3', { inputTokens: 100, outputTokens: 50 });
    await call(llm, 'pro', 'gpt-4o-mini', { inputTokens: 10, outputTokens: 5 }); // a third model: other
    const text = await metrics.text();
    expect(samples(text, 'sluice_llm_calls_total')).toEqual([
      'sluice_llm_calls_total{provider="openai",model="gpt-4o",tier="free"} 1',
      'sluice_llm_calls_total{provider="openai",model="gpt-4o",tier="pro"} 2',
      'sluice_llm_calls_total{provider="openai",model="o3",tier="pro"} 1',
      'sluice_llm_calls_total{provider="openai",model="other",tier="pro"} 1',
    ]);
    expect(samples(text, 'sluice_llm_input_tokens_total')).toEqual([
      'sluice_llm_input_tokens_total{provider="openai",model="gpt-4o",tier="free"} 10',
      'sluice_llm_input_tokens_total{provider="openai",model="gpt-4o",tier="pro"} 2000',
      'sluice_llm_input_tokens_total{provider="openai",model="o3",tier="pro"} 100',
      'sluice_llm_input_tokens_total{provider="openai",model="other",tier="pro"} 10',
    ]);
    expect(samples(text, 'sluice_llm_output_tokens_total')).toContain(
      'sluice_llm_output_tokens_total{provider="openai",model="gpt-4o",tier="pro"} 400',
    );
    expect(samples(text, 'sluice_llm_cached_input_tokens_total')).toContain(
      'sluice_llm_cached_input_tokens_total{provider="openai",model="gpt-4o",tier="pro"} 800',
    );
    // 2 x (600 x 2.5 + 400 x 1.25 + 200 x 10) / 1e6; o3: (100 x 2 + 50 x 8) / 1e6.
    expect(samples(text, 'sluice_llm_cost_usd_total')).toContain(
      'sluice_llm_cost_usd_total{provider="openai",model="gpt-4o",tier="pro"} 0.008',
    );
    expect(samples(text, 'sluice_llm_cost_usd_total')).toContain(
      'sluice_llm_cost_usd_total{provider="openai",model="o3",tier="pro"} 0.0006',
    );
    expect(text).not.toMatch(/sluice_llm_[a-z_]+\{[^}]*(tenant|user)=/);
    expect(text).toContain('# TYPE sluice_llm_calls_total counter');
  });

  it('an observer that throws never fails the settlement, nor the usage record', async () => {
    const llm = new LlmLimiter({
      prices: PRICES,
      observer: {
        settled() {
          throw new Error('boom');
        },
      },
    });
    await call(llm, 'pro', 'gpt-4o', { inputTokens: 10, outputTokens: 5 });
    expect((await llm.usage({ user: 'u', tenant: 't' })).map((r) => r.calls)).toEqual([1]);
  });

  it('options are strict', () => {
    expect(() => new LlmMetrics({ maxModel: 3 } as never)).toThrow(/llmMetrics\.maxModel/);
    expect(() => new LlmMetrics({ maxModels: 0 })).toThrow(/llmMetrics\.maxModels/);
  });
});
