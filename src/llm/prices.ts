import { LlmConfigError } from './errors.js';
import type { Price } from './options.js';
import type { LlmUsage } from './types.js';

/**
 * Prices in dollars per million tokens. A model is priced by its exact name, else by the longest
 * configured name it starts with (`gpt-4o` prices `gpt-4o-2024-08-06`), else by the `unpriced` rule:
 * an error by default (an unpriced model is never "free"), or the conservative price given there.
 */
export class PriceTable {
  private readonly names: string[];
  constructor(
    private readonly prices: Readonly<Record<string, Price>>,
    private readonly unpriced: 'error' | Price,
  ) {
    this.names = Object.keys(prices).sort((a, b) => b.length - a.length);
  }

  priceOf(model: string): Price {
    const exact = this.prices[model];
    if (exact) return exact;
    const prefix = this.names.find((name) => model.startsWith(name));
    if (prefix) return this.prices[prefix] as Price;
    if (this.unpriced !== 'error') return this.unpriced;
    throw new LlmConfigError(
      'prices',
      `model "${model}" has no price and a cost budget applies: add it to prices, or set unpriced to a price`,
    );
  }

  /** Dollars a call with this usage costs. Cached input is priced at `cachedInput` when given. */
  costUsd(model: string, usage: LlmUsage): number {
    const price = this.priceOf(model);
    const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
    const fresh = usage.inputTokens - cached;
    return (
      (fresh * price.input +
        cached * (price.cachedInput ?? price.input) +
        usage.outputTokens * price.output) /
      1e6
    );
  }
}

/** Whole cost units (rounded up: a priced call that used tokens is never free). */
export function costUnits(usd: number, unitsPerDollar: number): number {
  return Math.ceil(usd * unitsPerDollar - 1e-9);
}
