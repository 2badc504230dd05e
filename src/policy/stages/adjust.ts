import { loadFactor, type Reputation, scaleLimit } from '../adaptive.js';
import type { PlatformGuard } from '../platform.js';
import type { AppliedPolicy } from '../resolve.js';
import type { PolicyCheck } from './check.js';
import type { Resolver } from './resolve.js';

/**
 * Stage 2, adjust: platform protection (shed this tier?), then reputation and load, which shrink (or
 * boost) the adaptive policies' limits. What the store cannot say is neutral: an unknown standing
 * changes nothing and is not cached.
 */
export class Adjuster {
  constructor(
    private readonly resolver: Resolver,
    private readonly reputation: Reputation,
    private readonly platform: PlatformGuard | undefined,
    private readonly loadSignal: (() => number) | undefined,
  ) {}

  /** False when platform protection sheds the request's tier; otherwise counts it as let through. */
  admits(check: PolicyCheck): boolean {
    const platform = this.platform;
    if (platform === undefined) return true;
    if (platform.sheds(check.tier)) return false;
    platform.count();
    return true;
  }

  /** Reads the identity's standing (reputation is advisory: a failed read is neutral standing). */
  async readStanding(check: PolicyCheck): Promise<void> {
    const standing = await this.reputation
      .standing(check.ctx.tenant, check.identity as string, check.epoch)
      .catch(() => undefined);
    check.standing = standing;
    check.violations = standing?.violations;
    check.byReputation = standing ? this.reputation.factor(standing) : 1;
  }

  /** Applies load and reputation to the shape (usually neither: the cached shape stays). */
  adjust(check: PolicyCheck): void {
    if (this.loadSignal) check.byLoad = loadFactor(this.loadSignal(), check.set.config.loadAdaptive);
    if (check.byLoad === 1 && check.byReputation === 1) return;
    check.shape = this.resolver.shapeOf(
      check.set,
      adapt(check.shape.applied, check.byLoad, check.byReputation),
      check.ctx,
    );
  }
}

/** Reputation and load scale the adaptive policies' limits. */
export function adapt(applied: AppliedPolicy[], byLoad: number, byReputation: number): AppliedPolicy[] {
  return applied.map((a) => {
    if (!a.policy.adaptive) return a;
    // Reputation is an identity's: it never shrinks what a whole tenant shares.
    const factor = byLoad * (a.key === undefined ? 1 : byReputation);
    return factor === 1 ? a : { ...a, limits: a.limits.map((l) => scaleLimit(l, factor)) };
  });
}
