/**
 * The transport straight to the store: a PolicyLimiter built from the configuration file (its store
 * replaced by `--redis URL`), doing the operation itself, with the service's boards on the same store
 * and prefix (Activity: the tenant index and top limited identities; AuditTrail: the changes). Changes
 * are audited as the service audits them, the actor being SLUICE_ACTOR or `cli:<login>`.
 */
import {
  loadConfigFile,
  type Mode,
  PolicyLimiter,
  parseConfig,
  type RequestContext,
  StoreError,
} from '../index.js';
import { Activity, AuditTrail } from '../observability/index.js';
import { UsageError, unreachable } from './failures.js';
import type {
  Admin,
  AuditEntry,
  BlockTarget,
  CheckOutcome,
  HealthDocument,
  LimitUsage,
  ModeReport,
  ResetTarget,
  TenantEntry,
  TenantReport,
  TopEntry,
} from './transport.js';

export interface StoreAdminOptions {
  redis?: string | undefined;
  configFile?: string | undefined;
  timeoutMs: number;
  actor: string;
  /** Told when a change was made but its audit entry could not be stored. */
  warn: (message: string) => void;
}

/** Builds the limiter and connects (within the timeout: unreachable otherwise). */
export async function openStoreAdmin(options: StoreAdminOptions): Promise<Admin> {
  const source = options.configFile ?? 'the default configuration';
  const doc = (options.configFile ? loadConfigFile(options.configFile) : {}) ?? {};
  // A document that is no object is left to parseConfig to refuse.
  const withStore =
    options.redis === undefined || typeof doc !== 'object' || Array.isArray(doc)
      ? doc
      : { ...doc, store: { type: 'redis', url: options.redis } };
  const config = parseConfig(withStore, options.redis === undefined ? source : `${source} with --redis`);
  if (config.store.type === 'memory') {
    throw new UsageError(
      `${source} uses the in-process memory store: its state lives in the service; give --url, or --redis URL`,
    );
  }
  // Decisions made here (sluice check) count in the boards too; the activity is made once the store is.
  let activity: Activity | undefined;
  const observer = { decided: (event: Parameters<Activity['decided']>[0]) => activity?.decided(event) };
  let limiter: PolicyLimiter;
  try {
    limiter = await PolicyLimiter.create({
      config,
      requireStore: true,
      actor: options.actor,
      operatorTimeout: options.timeoutMs,
      observer,
    });
  } catch (error) {
    if (error instanceof StoreError) throw unreachable(error.message);
    throw error;
  }
  // The service's board settings (its defaults) and prefix: both read and write the same boards.
  activity = new Activity(limiter.store, { prefix: config.prefix });
  const audit = new AuditTrail(limiter.store, { prefix: config.prefix });
  const where = options.redis ?? config.store.url ?? `redis ${config.store.cluster ? 'cluster' : 'sentinel'}`;
  return new StoreAdmin(limiter, activity, audit, where, options);
}

class StoreAdmin implements Admin {
  constructor(
    private readonly limiter: PolicyLimiter,
    private readonly activity: Activity,
    private readonly trail: AuditTrail,
    readonly where: string,
    private readonly options: StoreAdminOptions,
  ) {}

  async check(ctx: RequestContext, peek: boolean): Promise<CheckOutcome> {
    const decision = peek ? await this.limiter.peek(ctx) : await this.limiter.check(ctx);
    const unavailable = decision.reason === 'shed' || decision.reason === 'store_unavailable';
    return { allowed: decision.allowed, status: decision.allowed ? 200 : unavailable ? 503 : 429, decision };
  }

  async tenant(tenant: string): Promise<TenantReport> {
    const ctx = { tenant };
    const [peek, limits, top] = await Promise.all([
      this.limiter.peek(ctx),
      this.limiter.usage(ctx),
      this.activity.topLimited(tenant, 10),
    ]);
    const { overrides, config } = this.limiter;
    const override = overrides.tenants?.[tenant] ?? config.tenants[tenant] ?? null;
    return { tenant, tier: peek.tier, override, limits, top };
  }

  status(ctx: RequestContext): Promise<LimitUsage[]> {
    return this.limiter.usage(ctx);
  }

  async reset(tenant: string, target: ResetTarget): Promise<void> {
    const { policy, limit, ...who } = target;
    if (Object.keys(target).length === 0) {
      await this.limiter.resetTenant(tenant);
      return this.audited('tenant.reset', tenant);
    }
    const only = { ...(policy === undefined ? {} : { policy }), ...(limit === undefined ? {} : { limit }) };
    await this.limiter.reset({ tenant, ...who }, Object.keys(only).length === 0 ? undefined : only);
    await this.audited('limits.reset', targetOf(tenant, who), { policy, limit });
  }

  top(tenant: string, count: number): Promise<TopEntry[]> {
    return this.activity.topLimited(tenant, count);
  }

  async block(target: BlockTarget, duration: string | number): Promise<void> {
    await this.limiter.block(target, duration);
    await this.audited('block', targetOf(target.tenant, target), { duration });
  }

  async unblock(target: BlockTarget): Promise<void> {
    await this.limiter.unblock(target);
    await this.audited('unblock', targetOf(target.tenant, target));
  }

  async modes(): Promise<ModeReport> {
    const { config, overrides } = this.limiter;
    const policies: Record<string, Mode> = {};
    for (const p of config.policies)
      policies[p.name] = overrides.policyModes?.[p.name] ?? p.mode ?? 'enforce';
    return { mode: overrides.mode ?? config.mode, policies };
  }

  async setMode(mode: Mode | null, policy?: string): Promise<number> {
    const version = await this.limiter.setMode(mode, policy);
    await this.audited('mode.set', policy ?? 'global', { mode });
    return version;
  }

  async setTier(tenant: string, tier: string | null): Promise<number> {
    const version = await this.limiter.setTenantTier(tenant, tier);
    await this.audited('tenant.tier', tenant, { tier });
    return version;
  }

  async health(): Promise<HealthDocument> {
    const report = await this.limiter.health();
    return { status: report.status, report };
  }

  tenants(count: number): Promise<TenantEntry[]> {
    return this.activity.tenants(count);
  }

  audit(count: number): Promise<AuditEntry[]> {
    return this.trail.entries(count);
  }

  async close(): Promise<void> {
    // stop() writes what this process noted (its checks) before the store closes.
    await this.activity.stop().catch(() => undefined);
    await this.limiter.close();
  }

  /** The change is done: its audit entry, as the service writes it (a failure to store it is only told). */
  private async audited(action: string, target: string, detail?: unknown): Promise<void> {
    try {
      await this.trail.record({ actor: this.options.actor, action, target, detail });
    } catch (error) {
      this.options.warn(`${action} ${target} done, but not audited: ${(error as Error).message}`);
    }
  }
}

/** As the service names a change's target: "acme", "acme/user:alice", "acme/ip:10.0.0.1". */
function targetOf(tenant: string, who: { user?: string | undefined; ip?: string | undefined }): string {
  if (who.user !== undefined) return `${tenant}/user:${who.user}`;
  if (who.ip !== undefined) return `${tenant}/ip:${who.ip}`;
  return tenant;
}
