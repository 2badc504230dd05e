/**
 * Seed 000's proposal (`p99(tenant_peak_rps) × 1.5`) from the live counts of this instance: per tier,
 * the chosen percentile of its tenants' seconds with traffic, times the factor. A quick look beside
 * the shadow rejections; `sluice calibrate` proposes from the rates recorded in the store by every
 * instance over the day.
 */
export interface LiveProposal {
  rps: number;
  burst: number;
  observed: { tenants: number; seconds: number; p50: number; p99: number; max: number };
}

export function liveProposal(
  secondsByTenant: Record<string, number[]>,
  tierOf: (tenant: string) => string | undefined,
  percentile = 0.99,
  factor = 1.5,
): Record<string, LiveProposal> {
  const byTier = new Map<string, { tenants: number; seconds: number[] }>();
  for (const [tenant, seconds] of Object.entries(secondsByTenant)) {
    const tier = tierOf(tenant) ?? 'none';
    const entry = byTier.get(tier) ?? { tenants: 0, seconds: [] };
    entry.tenants += 1;
    entry.seconds.push(...seconds.filter((n) => n > 0));
    byTier.set(tier, entry);
  }
  const out: Record<string, LiveProposal> = {};
  for (const [tier, { tenants, seconds }] of byTier) {
    if (seconds.length === 0) continue;
    seconds.sort((a, b) => a - b);
    const p99 = rank(seconds, percentile);
    const rps = Math.max(1, Math.ceil(p99 * factor));
    out[tier] = {
      rps,
      burst: 2 * rps,
      observed: {
        tenants,
        seconds: seconds.length,
        p50: rank(seconds, 0.5),
        p99,
        max: seconds[seconds.length - 1] as number,
      },
    };
  }
  return out;
}

/** Nearest-rank percentile of sorted values. */
function rank(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}
