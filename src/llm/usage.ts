import type { LlmUsage } from './types.js';

/** Calls, tokens and cost of one identity, provider and model over some hours. */
export interface UsageTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  costUsd: number;
}

export interface UsageRow extends UsageTotals {
  provider: string;
  model: string;
}

const HOUR_MS = 3_600_000;

/**
 * Per identity, provider and model, hourly buckets of the last `hours` hours (seed 004's
 * `get_llm_usage(user, hours=24)`), in this process. Bounded: at most `maxSubjects` identity x provider
 * x model series (least recently used dropped first), each at most `hours` buckets.
 */
export class UsageLedger {
  private readonly series = new Map<
    string,
    { identity: string; provider: string; model: string; buckets: Map<number, UsageTotals> }
  >();

  constructor(
    private readonly hours: number,
    private readonly maxSubjects: number,
    private readonly now: () => number,
  ) {}

  record(identity: string, provider: string, model: string, usage: LlmUsage, costUsd: number): void {
    const id = `${identity}\u0000${provider}\u0000${model}`;
    let entry = this.series.get(id);
    if (entry) this.series.delete(id);
    else entry = { identity, provider, model, buckets: new Map() };
    this.series.set(id, entry);
    if (this.series.size > this.maxSubjects) this.series.delete(this.series.keys().next().value as string);
    const hour = Math.floor(this.now() / HOUR_MS);
    let bucket = entry.buckets.get(hour);
    if (!bucket) {
      bucket = { calls: 0, inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, costUsd: 0 };
      entry.buckets.set(hour, bucket);
      for (const h of entry.buckets.keys()) if (h <= hour - this.hours) entry.buckets.delete(h);
    }
    bucket.calls += 1;
    bucket.inputTokens += usage.inputTokens;
    bucket.outputTokens += usage.outputTokens;
    bucket.cachedInputTokens += usage.cachedInputTokens ?? 0;
    bucket.costUsd += costUsd;
  }

  /** One row per provider and model the identity used in the last `hours` hours (hour buckets). */
  usage(identity: string, hours: number): UsageRow[] {
    const since = Math.floor(this.now() / HOUR_MS) - Math.min(hours, this.hours) + 1;
    const rows: UsageRow[] = [];
    for (const entry of this.series.values()) {
      if (entry.identity !== identity) continue;
      const row: UsageRow = {
        provider: entry.provider,
        model: entry.model,
        calls: 0,
        inputTokens: 0,
        outputTokens: 0,
        cachedInputTokens: 0,
        costUsd: 0,
      };
      for (const [hour, b] of entry.buckets) {
        if (hour < since) continue;
        row.calls += b.calls;
        row.inputTokens += b.inputTokens;
        row.outputTokens += b.outputTokens;
        row.cachedInputTokens += b.cachedInputTokens;
        row.costUsd += b.costUsd;
      }
      if (row.calls > 0) rows.push(row);
    }
    return rows;
  }

  get size(): number {
    return this.series.size;
  }
}
