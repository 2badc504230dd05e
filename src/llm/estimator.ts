/**
 * The output a call reserves when it sets no bound (or one above `maxOutputTokens`): a high percentile
 * (p95) of what this tenant and model used in its last `history` settled calls, so that small limits do
 * not reserve a huge bound per call. Bounded: `maxSubjects` tenant-and-model histories, least recently
 * used dropped first. Reports how often and by how much an estimate was exceeded.
 */
export interface EstimateReport {
  /** Calls reserved from history (or the default, before any history). */
  estimated: number;
  /** Of those, calls whose output was larger than the estimate. */
  exceeded: number;
  /** Output tokens beyond the estimates, summed over the exceeded calls. */
  excessTokens: number;
  /** The largest excess of one call. */
  maxExcess: number;
}

export class OutputEstimator {
  private readonly histories = new Map<string, number[]>();
  private readonly report: EstimateReport = { estimated: 0, exceeded: 0, excessTokens: 0, maxExcess: 0 };

  constructor(
    private readonly defaultTokens: number,
    private readonly maxTokens: number,
    private readonly history: number,
    private readonly maxSubjects: number,
  ) {}

  /** Output to reserve for a call whose own bound is `bound` (undefined: none). */
  reserve(subject: string, bound: number | undefined): { tokens: number; estimated: boolean } {
    if (bound !== undefined && bound <= this.maxTokens) return { tokens: bound, estimated: false };
    const seen = this.histories.get(subject);
    let tokens = Math.min(this.defaultTokens, this.maxTokens);
    if (seen && seen.length > 0) {
      const sorted = [...seen].sort((a, b) => a - b);
      tokens = Math.max(1, Math.min(this.maxTokens, sorted[Math.ceil(0.95 * sorted.length) - 1] as number));
    }
    if (bound !== undefined) tokens = Math.min(tokens, bound);
    this.report.estimated += 1;
    return { tokens, estimated: true };
  }

  /** A settled call's output (and, when it was estimated, against its estimate). */
  record(subject: string, output: number, estimate: number | undefined): void {
    if (estimate !== undefined && output > estimate) {
      const excess = output - estimate;
      this.report.exceeded += 1;
      this.report.excessTokens += excess;
      this.report.maxExcess = Math.max(this.report.maxExcess, excess);
    }
    let seen = this.histories.get(subject);
    if (seen) this.histories.delete(subject);
    else seen = [];
    this.histories.set(subject, seen); // most recently used last
    seen.push(output);
    if (seen.length > this.history) seen.shift();
    if (this.histories.size > this.maxSubjects) {
      const oldest = this.histories.keys().next().value as string;
      this.histories.delete(oldest);
    }
  }

  stats(): EstimateReport & { subjects: number } {
    return { ...this.report, subjects: this.histories.size };
  }
}
