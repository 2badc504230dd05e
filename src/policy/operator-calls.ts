import { ValidationError } from '../core/errors.js';
import { rejectUnknownKeys } from '../core/options.js';
import type { Decision, LimitResult } from '../core/types.js';
import type { Limiter } from '../limiter.js';
import type { Reputation } from './adaptive.js';
import type { OverridesKeeper } from './overrides-keeper.js';
import { own, ownTable } from './runtime.js';
import type { Adjuster } from './stages/adjust.js';
import { identityOf, type PolicyCheck } from './stages/check.js';
import type { Recorder } from './stages/record.js';
import { type Resolver, validateContext } from './stages/resolve.js';
import type { Mode, PolicyDecision, RequestContext, TenantOverride } from './types.js';

/** Who `block` and `unblock` are about: a tenant, or one user or one IP of it. */
export interface BlockTarget {
  tenant: string;
  user?: string;
  ip?: string;
}

/** One limit's usage (PolicyLimiter.usage). */
export interface LimitUsage {
  /** The policy the limit belongs to (`tier` for tier quotas, `route:<endpoint>` for route limits). */
  policy: string;
  mode: 'enforce' | 'shadow';
  name: string;
  algorithm: LimitResult['algorithm'];
  /** The key it counts for this context (absent: tenant-wide). */
  key?: string;
  /** Capacity (a token bucket's burst). */
  limit: number;
  used: number;
  remaining: number;
  windowMs: number;
  /** Epoch ms at which it is back to full capacity if nothing else is consumed. */
  resetAt: number;
}

/** What the operator calls work with: the stages of a check, the engine, and the runtime overrides. */
export interface OperatorParts {
  engine: Limiter;
  keeper: OverridesKeeper;
  resolver: Resolver;
  adjuster: Adjuster;
  recorder: Recorder;
  reputation: Reputation;
}

/**
 * PolicyLimiter's operator and admin calls: reading a request's limits without consuming (peek,
 * usage), forgetting counters (reset, resetTenant, resetReputation), blocks, refunds, and the runtime
 * overrides every instance applies (modes, tenant tiers and quotas, forced circuit and platform).
 */
export class OperatorCalls {
  constructor(private readonly parts: OperatorParts) {}

  /** See PolicyLimiter.peek. */
  async peek(ctx: RequestContext): Promise<PolicyDecision> {
    const { engine, adjuster, recorder } = this.parts;
    const check = this.resolve(ctx);
    if (check.identity !== undefined) await adjuster.readStanding(check);
    adjuster.adjust(check);
    const { enforcedPrepared, shadowPrepared } = check.shape;
    const shadow = shadowPrepared
      ? engine.decidePrepared(shadowPrepared, 0).catch(() => undefined)
      : undefined;
    if (enforcedPrepared) check.decision = await engine.decidePrepared(enforcedPrepared, 0);
    if (shadow) check.shadow = await shadow;
    return recorder.finish(check);
  }

  /** See PolicyLimiter.usage. */
  async usage(ctx: RequestContext): Promise<LimitUsage[]> {
    const { engine } = this.parts;
    const { enforcedPrepared, shadowPrepared, policyOfLimit } = this.resolve(ctx).shape;
    const [enforced, shadow] = await Promise.all([
      enforcedPrepared ? engine.decidePrepared(enforcedPrepared, 0) : undefined,
      shadowPrepared ? engine.decidePrepared(shadowPrepared, 0) : undefined,
    ]);
    return [...usageOf(enforced, 'enforce', policyOfLimit), ...usageOf(shadow, 'shadow', policyOfLimit)];
  }

  /** See PolicyLimiter.reset. */
  async reset(ctx: RequestContext, only?: { policy?: string; limit?: string }): Promise<void> {
    if (only !== undefined) rejectUnknownKeys(only, 'only', ['policy', 'limit']);
    const { shape } = this.resolve(ctx);
    const { policyOfLimit } = shape;
    const chosen = (name: string) =>
      (only?.limit === undefined || only.limit === name) &&
      (only?.policy === undefined || only.policy === policyOfLimit.get(name));
    const store = this.parts.engine.store;
    await Promise.all(
      [shape.enforcedPrepared, shape.shadowPrepared].map((prepared) => {
        if (!prepared) return undefined;
        const { subject } = prepared;
        const keys = subject.limits.filter((l) => chosen(l.limit.name)).map((l) => l.key);
        if (keys.length === 0) return undefined;
        return store.deleteKeys(subject.encodedTenant, subject.metaKey, keys);
      }),
    );
  }

  /** See PolicyLimiter.resetTenant. */
  async resetTenant(tenant: string): Promise<void> {
    validateContext({ tenant });
    await this.parts.engine.resetTenant(tenant);
  }

  /** See PolicyLimiter.block. */
  async block(target: BlockTarget, duration: number | string): Promise<void> {
    await this.parts.engine.block(blockTargetOf(target), duration);
  }

  /** See PolicyLimiter.unblock. */
  async unblock(target: BlockTarget): Promise<void> {
    await this.parts.engine.unblock(blockTargetOf(target));
  }

  /** See PolicyLimiter.refund. */
  async refund(decision: PolicyDecision, units?: number | readonly number[]): Promise<void> {
    await this.parts.engine.refund(decision, units);
  }

  /** See PolicyLimiter.resetReputation. */
  async resetReputation(tenant: string, identity?: { user?: string; ip?: string }): Promise<void> {
    const { keeper, reputation } = this.parts;
    const epoch = keeper.set.runtime.reputationEpoch ?? 0;
    if (identity?.user !== undefined) return reputation.reset(tenant, `u=${identity.user}`, epoch);
    if (identity?.ip !== undefined) return reputation.reset(tenant, `ip=${identity.ip}`, epoch);
    await keeper.update('resetReputation', (o) => {
      o.reputationEpoch = epoch + 1;
    });
    reputation.clearCache();
  }

  /** See PolicyLimiter.forceCircuit. */
  forceCircuit(state: 'open' | 'closed' | null): Promise<number> {
    return this.parts.keeper.update('forceCircuit', (o) => {
      if (state === null) delete o.circuit;
      else o.circuit = state;
    });
  }

  /** See PolicyLimiter.forcePlatform. */
  forcePlatform(state: 'open' | 'closed' | null): Promise<number> {
    return this.parts.keeper.update('forcePlatform', (o) => {
      if (state === null) delete o.platform;
      else o.platform = state;
    });
  }

  /** See PolicyLimiter.setTenantOverride. */
  setTenantOverride(tenant: string, override: TenantOverride | null): Promise<number> {
    return this.parts.keeper.update('setTenantOverride', (o) => {
      const tenants = ownTable(o.tenants);
      if (override === null) delete tenants[tenant];
      else tenants[tenant] = { ...override };
      o.tenants = tenants;
    });
  }

  /** See PolicyLimiter.setTenantTier. */
  setTenantTier(tenant: string, tier: string | null): Promise<number> {
    return this.parts.keeper.update('setTenantTier', (o) => {
      const tenants = ownTable(o.tenants);
      const current = { ...(own(tenants, tenant) ?? {}) };
      if (tier === null) delete current.tier;
      else current.tier = tier;
      tenants[tenant] = current;
      o.tenants = tenants;
    });
  }

  /** See PolicyLimiter.setMode. */
  setMode(mode: Mode | null, policy?: string): Promise<number> {
    return this.parts.keeper.update('setMode', (o) => {
      if (policy === undefined) {
        if (mode === null) delete o.mode;
        else o.mode = mode;
        return;
      }
      const modes = ownTable(o.policyModes);
      if (mode === null) delete modes[policy];
      else modes[policy] = mode;
      o.policyModes = modes;
    });
  }

  /** A check of cost 0 on the configuration in force. */
  private resolve(ctx: RequestContext): PolicyCheck {
    const { keeper, resolver } = this.parts;
    return resolver.resolve(keeper.set, keeper.version, ctx, 0);
  }
}

/** The usage of each limit of a (peek) decision. */
function usageOf(
  decision: Decision | undefined,
  mode: LimitUsage['mode'],
  policyOfLimit: ReadonlyMap<string, string>,
): LimitUsage[] {
  return (decision?.limits ?? []).map((l) => {
    const entry: LimitUsage = {
      policy: policyOfLimit.get(l.name) ?? l.name,
      mode,
      name: l.name,
      algorithm: l.algorithm,
      limit: l.limit,
      used: Math.max(0, l.limit - l.remaining),
      remaining: l.remaining,
      windowMs: l.windowMs,
      resetAt: l.resetAt,
    };
    if (l.key !== undefined) entry.key = l.key;
    return entry;
  });
}

/** A block target, strictly: a tenant and at most one of user and ip. */
function blockTargetOf(target: BlockTarget): { tenant: string; key?: string } {
  rejectUnknownKeys(target, 'target', ['tenant', 'user', 'ip']);
  validateContext({ tenant: target.tenant });
  if (target.user !== undefined && target.ip !== undefined) {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'target', 'give a user or an ip, not both');
  }
  for (const field of ['user', 'ip'] as const) {
    const value = target[field];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new ValidationError(
        'ERR_SLUICE_INVALID_IDENTIFIER',
        `target.${field}`,
        'must be a non-empty string',
      );
    }
  }
  const key = identityOf(target);
  return key === undefined ? { tenant: target.tenant } : { tenant: target.tenant, key };
}
