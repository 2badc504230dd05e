import type { Decision, LimitResult } from '../../core/types.js';
import { decidedByStore, unlimitedBinding } from '../../engine/decision.js';
import type { Limiter } from '../../limiter.js';
import type { Reputation } from '../adaptive.js';
import type { AppliedPolicy } from '../resolve.js';
import type { RequestShape } from '../shapes.js';
import type { PolicyDecision, PolicyOutcome, RequestContext } from '../types.js';
import type { PolicyCheck } from './check.js';
import type { Leases } from './leases.js';
import { outcomeOf } from './resolve.js';

const NO_REJECTIONS: readonly string[] = Object.freeze([]);

export type DisagreementListener = (event: {
  ctx: RequestContext;
  primary: boolean;
  secondary: boolean;
}) => void;

/**
 * Stage 4, record: what a decision means beyond itself. Violations of the identity (only when a limit
 * that counts that identity rejected; a failed write counts nothing and blocks no one), good requests,
 * each policy's outcome and the shadow rejections, the comparison store's verdict, and the shadow and
 * comparison leases. Builds the PolicyDecision returned (the enforced decision, extended in place).
 */
export class Recorder {
  constructor(
    private readonly engine: Limiter,
    private readonly reputation: Reputation,
    private readonly leases: Leases,
    private readonly onDisagreement: DisagreementListener,
  ) {}

  /** Reputation adjustments made through this instance, by kind (for metrics). */
  readonly adjustments = { violation: 0, block: 0 };

  /** Whether the decision makes a violation of the request's identity. */
  blames(check: PolicyCheck): boolean {
    const d = check.decision;
    if (check.identity === undefined || d?.reason !== 'rate_limited' || !decidedByStore(d)) return false;
    const counts = check.shape.countsIdentity;
    for (let i = 0; i < counts.length; i++) if (counts[i] && d.limits[i]?.allowed === false) return true;
    return false;
  }

  /** Counts a violation, and blocks the identity once it has `block.after` of them (best effort). */
  async violation(check: PolicyCheck): Promise<void> {
    const { tenant } = check.ctx;
    const identity = check.identity as string;
    try {
      const count = await this.reputation.record(tenant, identity, check.epoch);
      if (count === undefined) return; // not written: nothing counted, nobody blocked
      check.violations = count;
      this.adjustments.violation++;
      const block = check.set.config.reputation.block;
      if (block && count >= block.after) {
        await this.engine.block({ tenant, key: identity }, block.durationMs);
        this.adjustments.block++;
      }
    } catch {
      // Counting a violation is best effort: the rejection itself already stands.
    }
  }

  /** The PolicyDecision of a decided check. */
  finish(check: PolicyCheck): PolicyDecision {
    const { decision, shape } = check;
    if (check.countsGood && decision) this.noteGood(check, decision);
    // The decision was built for this call: extend it in place rather than copying it.
    const out = (decision ?? unlimited(check.ctx)) as PolicyDecision;
    out.tier = check.tier;
    if ((decision?.allowed ?? true) && (check.shadow?.allowed ?? true)) {
      // Admitted (and no shadow rejection): every limit had room, so every policy did.
      out.policies = shape.allAllowed as PolicyOutcome[];
      out.shadowRejections = NO_REJECTIONS as string[];
    } else {
      out.policies = outcomes(shape, decision, check.shadow);
      out.shadowRejections = out.policies.filter((p) => p.mode === 'shadow' && !p.allowed).map((p) => p.name);
    }
    out.configVersion = check.configVersion;
    const bindingPolicy = decision ? shape.policyOfLimit.get(decision.binding.name) : undefined;
    if (bindingPolicy !== undefined) out.bindingPolicy = bindingPolicy;
    if (check.violations !== undefined) out.violations = check.violations;
    if (check.byReputation !== 1 || check.byLoad !== 1)
      out.adaptiveFactor = check.byReputation * check.byLoad;
    if (decision && check.compared) this.compare(out, check.compared, check.ctx);
    this.leases.settle(out, check);
    return out;
  }

  /** The decision for a request whose tier platform protection is shedding. */
  shed(check: PolicyCheck): PolicyDecision {
    return {
      ...unlimited(check.ctx),
      allowed: false,
      reason: 'shed',
      retryAfterMs: check.set.config.platform?.syncIntervalMs ?? 1000,
      tier: check.tier,
      policies: [],
      shadowRejections: [],
      configVersion: check.configVersion,
    };
  }

  /** Takes the good-request count off the decision; only a count the store made is believed. */
  private noteGood(check: PolicyCheck, decision: Decision): void {
    const good = decision.limits.pop() as LimitResult;
    if (!decidedByStore(decision)) return;
    this.reputation.noteGood(check.ctx.tenant, check.identity as string, check.epoch, good.remaining);
  }

  private compare(out: PolicyDecision, compared: Decision, ctx: RequestContext): void {
    const agreed = compared.allowed === out.allowed;
    out.comparison = { allowed: compared.allowed, agreed };
    if (!agreed) this.onDisagreement({ ctx, primary: out.allowed, secondary: compared.allowed });
  }
}

/**
 * The decision when nothing is enforced (global mode shadow or disabled; otherwise a request no
 * enforced policy applies to is decided against its blocks): allowed, no limits.
 */
export function unlimited(ctx: RequestContext): Decision {
  const none = unlimitedBinding();
  return {
    id: '',
    at: Date.now(),
    allowed: true,
    reason: 'allowed',
    tenant: ctx.tenant,
    cost: ctx.cost ?? 1,
    binding: none,
    limits: [],
    remaining: Number.POSITIVE_INFINITY,
    resetAt: 0,
    retryAfterMs: 0,
    backend: 'none',
    path: 'store',
  };
}

/**
 * Each policy's outcome: allowed when every one of its limits had room. A decision's limits come back
 * in the order of its checks, policy after policy.
 */
export function outcomes(
  shape: RequestShape,
  decision: Decision | undefined,
  shadowDecision: Decision | undefined,
): PolicyOutcome[] {
  const allowed = new Map<AppliedPolicy, boolean>();
  const tally = (group: AppliedPolicy[], d: Decision | undefined) => {
    let at = 0;
    for (const a of group) {
      let ok = true;
      for (let n = 0; n < a.limits.length; n++) if (d && d.limits[at + n]?.allowed === false) ok = false;
      at += a.limits.length;
      allowed.set(a, ok);
    }
  };
  tally(shape.enforced, decision);
  tally(shape.shadow, shadowDecision);
  return shape.applied.map((a) => outcomeOf(a, allowed.get(a) ?? true));
}
