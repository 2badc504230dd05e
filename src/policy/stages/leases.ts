import type { Lease } from '../../core/types.js';
import type { Limiter } from '../../limiter.js';
import type { PolicyDecision, PolicyLease } from '../types.js';
import type { PolicyCheck } from './check.js';

const IGNORE = () => undefined;

/**
 * The concurrency leases of a check's shadow and comparison decisions. They hold slots like any lease,
 * so they are released with the request: carried on the decision's lease (`shadow`, `compared`) and
 * freed by PolicyLimiter.release; when the enforced policies hold no lease, the shadow lease is the
 * decision's lease; when the request is rejected (it never runs), or a comparison lease has no lease
 * to ride on, they are released at once.
 */
export class Leases {
  constructor(
    private readonly engine: Limiter,
    private readonly comparison: Limiter | undefined,
  ) {}

  /** Attaches (or releases) the shadow and comparison leases of a check to its decision. */
  settle(out: PolicyDecision, check: PolicyCheck): void {
    let shadow = check.shadow?.lease;
    const compared = check.compared?.lease;
    if (shadow === undefined && compared === undefined) return;
    if (!out.allowed) {
      this.drop(shadow, compared);
      return;
    }
    let lease = out.lease;
    if (lease === undefined && shadow !== undefined) {
      out.lease = lease = shadow;
      shadow = undefined;
    }
    if (lease === undefined) {
      this.drop(undefined, compared);
      return;
    }
    if (shadow !== undefined) lease.shadow = shadow;
    if (compared !== undefined) lease.compared = compared;
  }

  /** Frees a decision's lease and the shadow and comparison leases it carries (those never fail the call). */
  async release(lease: PolicyLease): Promise<void> {
    const shadow = lease?.shadow;
    const compared = lease?.compared;
    if (shadow === undefined && compared === undefined) return this.engine.release(lease);
    await Promise.all([
      this.engine.release(lease),
      shadow && this.engine.release(shadow).catch(IGNORE),
      compared && this.comparison?.release(compared).catch(IGNORE),
    ]);
  }

  /**
   * Renews a decision's lease and those it carries (see Limiter.renew): the renewed lease carries the
   * renewed shadow and comparison leases (one that could not be renewed is left off, never failing the
   * call); undefined when the decision's own lease held nothing any more.
   */
  async renew(lease: PolicyLease): Promise<PolicyLease | undefined> {
    const { shadow, compared, ...own } = lease ?? ({} as PolicyLease);
    const [renewed, renewedShadow, renewedCompared] = await Promise.all([
      this.engine.renew(own as Lease),
      shadow && this.engine.renew(shadow).catch(IGNORE),
      compared && this.comparison?.renew(compared).catch(IGNORE),
    ]);
    if (renewed === undefined) return undefined;
    const out: PolicyLease = renewed;
    if (renewedShadow) out.shadow = renewedShadow;
    if (renewedCompared) out.compared = renewedCompared;
    return out;
  }

  private drop(shadow: Lease | undefined, compared: Lease | undefined): void {
    if (shadow !== undefined) void this.engine.release(shadow).catch(IGNORE);
    if (compared !== undefined) void this.comparison?.release(compared).catch(IGNORE);
  }
}
