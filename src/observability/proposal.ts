/**
 * Proposing limits from recorded rates (`sluice calibrate`): per tier, the chosen percentile of the
 * tier's tenants' seconds times a factor (seed 000: `p99(tenant_peak_rps) * 1.5`); per tenant, an
 * override where its own proposal exceeds its tier's. Printed as a configuration document to review
 * and apply, with the observed percentiles beside each proposal.
 */
import type { Store } from '../stores/store.js';
import { type ObservedRates, observedRates, quantile, summarize } from './calibration.js';

export interface CalibrateOptions {
  store: Store;
  /** Key prefix the rates were recorded under (the configuration's prefix). Default "sluice". */
  prefix?: string;
  tenants: string[];
  /** Each tenant's tier (the policy limiter's resolution). */
  tierOf: (tenant: string) => Promise<string> | string;
  /** Default 0.99. */
  percentile?: number;
  /** Default 1.5. */
  factor?: number;
}

export interface Proposal {
  rps: number;
  burst: number;
  observed: Omit<ObservedRates, 'histogram'> & { tenants?: number };
}

export interface CalibrationResult {
  percentile: number;
  factor: number;
  tiers: Record<string, Proposal>;
  tenants: Record<string, Proposal & { tier: string }>;
}

export async function calibrate(options: CalibrateOptions): Promise<CalibrationResult> {
  const percentile = options.percentile ?? 0.99;
  const factor = options.factor ?? 1.5;
  if (!(percentile > 0 && percentile <= 1)) throw new RangeError('percentile must be in (0, 1]');
  if (!(factor > 0)) throw new RangeError('factor must be > 0');
  const byTier = new Map<string, number[]>();
  const tenants: CalibrationResult['tenants'] = {};
  const own = new Map<string, { tier: string; rates: ObservedRates }>();
  for (const tenant of options.tenants) {
    const rates = await observedRates(options.store, tenant, { prefix: options.prefix });
    if (rates.seconds === 0) continue;
    const tier = await options.tierOf(tenant);
    own.set(tenant, { tier, rates });
    const merged = byTier.get(tier) ?? new Array<number>(rates.histogram.length).fill(0);
    rates.histogram.forEach((n, b) => {
      merged[b] = (merged[b] ?? 0) + n;
    });
    byTier.set(tier, merged);
  }
  const tiers: CalibrationResult['tiers'] = {};
  for (const [tier, histogram] of byTier) {
    const count = [...own.values()].filter((o) => o.tier === tier).length;
    tiers[tier] = proposalOf(summarize(histogram), percentile, factor, count);
  }
  for (const [tenant, { tier, rates }] of own) {
    const proposal = proposalOf(rates, percentile, factor);
    if (proposal.rps > (tiers[tier]?.rps ?? 0)) tenants[tenant] = { ...proposal, tier };
  }
  return { percentile, factor, tiers, tenants };
}

function proposalOf(rates: ObservedRates, percentile: number, factor: number, tenants?: number): Proposal {
  const { histogram: _, ...observed } = rates;
  const at = quantile(rates.histogram, percentile);
  const rps = Math.max(1, Math.ceil(at * factor));
  return { rps, burst: 2 * rps, observed: tenants === undefined ? observed : { ...observed, tenants } };
}

/** The proposal as a configuration document (YAML), each value with what was observed beside it. */
export function calibrationDocument(result: CalibrationResult, when = new Date()): string {
  const p = `p${Math.round(result.percentile * 100)}`;
  const lines = [
    `# Proposed by sluice calibrate on ${when.toISOString()}: ${p} of per-second request rates x ${result.factor}.`,
    '# Observed over the seconds with traffic today (the store’s day). Review before applying.',
    'tiers:',
  ];
  for (const [tier, proposal] of Object.entries(result.tiers)) {
    const o = proposal.observed;
    lines.push(
      `  ${tier}: { rps: ${proposal.rps}, burst: ${proposal.burst} }  # ${o.tenants} tenant(s), ${o.seconds} s: p50 ${o.p50}, p90 ${o.p90}, p99 ${o.p99}, max ${o.max} rps`,
    );
  }
  const overrides = Object.entries(result.tenants);
  if (overrides.length > 0) {
    lines.push('tenants:');
    for (const [tenant, proposal] of overrides) {
      const o = proposal.observed;
      lines.push(
        `  ${JSON.stringify(tenant)}: { rps: ${proposal.rps}, burst: ${proposal.burst} }  # above tier ${proposal.tier}'s ${result.tiers[proposal.tier]?.rps}: ${o.seconds} s, p50 ${o.p50}, p99 ${o.p99}, max ${o.max} rps`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
