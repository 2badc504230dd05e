/**
 * What a decision was, in the words of the metrics and logs: one outcome, and the labels that say
 * which policy, scope, mode and tier decided it. Pure: works on any Decision (a PolicyDecision says
 * more: its policies, tier and shadow rejections).
 */
import type { Decision } from '../core/types.js';

/** Outcomes, as the `outcome` label spells them. */
export const OUTCOMES = [
  'allowed',
  'rejected',
  'shed',
  'blocked',
  'fail_open',
  'fail_closed',
  'shadow_rejected',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The parts of a PolicyDecision the labels read (absent on a plain Limiter's decision). */
interface PolicyParts {
  tier?: string;
  bindingPolicy?: string;
  shadowRejections?: string[];
  policies?: Array<{ name: string; scope: string; mode: string; allowed: boolean }>;
}

export interface DecisionLabels extends Record<string, string> {
  outcome: Outcome;
  /** The policy that decided (the binding one; the first shadow rejection; else the first applied), or "none". */
  policy: string;
  scope: string;
  mode: string;
  tier: string;
  path: string;
}

export function outcomeOf(d: Decision): Outcome {
  if (d.reason === 'fail_open') return 'fail_open';
  if (d.reason === 'store_unavailable') return 'fail_closed';
  if (d.reason === 'shed') return 'shed';
  if (d.reason === 'blocked') return 'blocked';
  if (!d.allowed) return 'rejected';
  const shadow = (d as PolicyParts).shadowRejections;
  return shadow && shadow.length > 0 ? 'shadow_rejected' : 'allowed';
}

export function labelsOf(d: Decision): DecisionLabels {
  const p = d as Decision & PolicyParts;
  const outcome = outcomeOf(d);
  const policies = p.policies ?? [];
  const name =
    outcome === 'shadow_rejected'
      ? p.shadowRejections?.[0]
      : (p.bindingPolicy ?? policies.find((o) => !o.allowed)?.name ?? policies[0]?.name);
  const policy = policies.find((o) => o.name === name);
  return {
    outcome,
    policy: policy?.name ?? 'none',
    scope: policy?.scope ?? 'none',
    mode: policy?.mode ?? 'enforce',
    tier: p.tier ?? 'none',
    path: d.path,
  };
}

/** Each policy whose limits refused this request, enforced or in shadow: the violations it counts. */
export function violationsOf(d: Decision): Array<{ policy: string; scope: string; mode: string }> {
  const policies = (d as PolicyParts).policies;
  if (!policies)
    return d.allowed || outcomeOf(d) !== 'rejected'
      ? []
      : [{ policy: 'none', scope: 'none', mode: 'enforce' }];
  if (d.reason === 'blocked' || d.reason === 'shed' || d.path === 'fail-closed' || d.path === 'fail-open')
    return [];
  return policies.filter((o) => !o.allowed).map((o) => ({ policy: o.name, scope: o.scope, mode: o.mode }));
}
