import type { Decision } from '../../core/types.js';
import type { Limiter, PreparedDecision } from '../../limiter.js';
import type { Reputation } from '../adaptive.js';
import { blockedByOf, type PolicyCheck } from './check.js';

const NONE = () => undefined;

/**
 * Stage 3, decide: one all-or-nothing decision over the enforced policies' limits (with the
 * good-request count inside it, when reputation has a boost), and beside it the shadow policies' and
 * the comparison store's, which never block: not even when their store fails.
 */
export class Decider {
  constructor(
    private readonly engine: Limiter,
    private readonly reputation: Reputation,
    private readonly comparison: Limiter | undefined,
  ) {}

  async decide(check: PolicyCheck): Promise<void> {
    const { enforcedPrepared, shadowPrepared } = check.shape;
    // Usually only the enforced decision exists: await it alone rather than a Promise.all of three.
    const shadow = shadowPrepared
      ? this.engine.decidePrepared(shadowPrepared, check.cost).catch(NONE)
      : undefined;
    const compared =
      enforcedPrepared && this.comparison
        ? this.comparison.decidePrepared(enforcedPrepared, check.cost).catch(NONE)
        : undefined;
    if (enforcedPrepared) check.decision = await this.enforced(check, enforcedPrepared);
    if (shadow) check.shadow = await shadow;
    if (compared) check.compared = await compared;
  }

  private enforced(check: PolicyCheck, prepared: PreparedDecision): Promise<Decision> {
    const good =
      check.identity === undefined ? undefined : this.reputation.goodCheck(check.identity, check.epoch);
    // A decision over blocks alone (no enforced policy) counts nothing: not a good request either.
    if (good === undefined || prepared.checks.length === 0)
      return this.engine.decidePrepared(prepared, check.cost);
    // Good requests (for the reputation boost) are counted inside the same decision: no extra trip.
    check.countsGood = true;
    return this.engine.decide({
      tenant: check.ctx.tenant,
      cost: check.cost,
      checks: [...prepared.checks, good],
      blockedBy: blockedByOf(check.ctx),
      key: prepared.key,
      failureMode: prepared.failureMode,
    });
  }
}
