/**
 * The transport straight to the store: a PolicyLimiter built from the configuration file (its store
 * replaced by `--redis URL`), doing the operation itself. The tenant index, top rate-limited
 * identities and audit trail are PolicyLimiter methods of the service work; a build without them says
 * so (`unsupported`) rather than guessing.
 */
import {
  loadConfigFile,
  type Mode,
  PolicyLimiter,
  parseConfig,
  type RequestContext,
  StoreError,
} from '../index.js';
import { CliFailure, UsageError, unreachable } from './failures.js';
import type {
  Admin,
  AuditEntry,
  BlockTarget,
  CheckOutcome,
  LimitUsage,
  ModeReport,
  ResetTarget,
  TenantEntry,
  TenantReport,
  TopEntry,
} from './transport.js';

/** The PolicyLimiter calls of the service's indexes, typed narrowly: absent in builds before them. */
interface StoreIndexes {
  tenants?(count?: number): Promise<Array<{ tenant: string; lastSeenAt: number }>>;
  topLimited?(tenant: string, count?: number): Promise<TopEntry[]>;
  auditTrail?(count?: number): Promise<AuditEntry[]>;
}

export interface StoreAdminOptions {
  redis?: string | undefined;
  configFile?: string | undefined;
  timeoutMs: number;
  actor: string;
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
  let limiter: PolicyLimiter;
  try {
    limiter = await PolicyLimiter.create({
      config,
      requireStore: true,
      actor: options.actor,
      operatorTimeout: options.timeoutMs,
    });
  } catch (error) {
    if (error instanceof StoreError) throw unreachable(error.message);
    throw error;
  }
  return new StoreAdmin(limiter, storeName(options.redis ?? config.store));
}

function storeName(store: string | { url?: string; cluster?: unknown; sentinel?: unknown }): string {
  if (typeof store === 'string') return store;
  return store.url ?? (store.cluster ? 'redis cluster' : 'redis sentinel');
}

class StoreAdmin implements Admin {
  constructor(
    private readonly limiter: PolicyLimiter,
    readonly where: string,
  ) {}

  async check(ctx: RequestContext, peek: boolean): Promise<CheckOutcome> {
    const decision = peek ? await this.limiter.peek(ctx) : await this.limiter.check(ctx);
    const unavailable = decision.reason === 'shed' || decision.reason === 'store_unavailable';
    return { allowed: decision.allowed, status: decision.allowed ? 200 : unavailable ? 503 : 429, decision };
  }

  async tenant(tenant: string): Promise<TenantReport> {
    const [peek, limits] = await Promise.all([this.limiter.peek({ tenant }), this.limiter.usage({ tenant })]);
    const indexes = this.limiter as unknown as StoreIndexes;
    const top = indexes.topLimited ? await indexes.topLimited(tenant, 10) : [];
    const override = this.limiter.overrides.tenants?.[tenant] ?? null;
    return { tenant, tier: peek.tier, override, limits, top };
  }

  status(ctx: RequestContext): Promise<LimitUsage[]> {
    return this.limiter.usage(ctx);
  }

  async reset(tenant: string, target: ResetTarget): Promise<void> {
    const { policy, limit, ...who } = target;
    if (Object.keys(target).length === 0) return this.limiter.resetTenant(tenant);
    const only = { ...(policy === undefined ? {} : { policy }), ...(limit === undefined ? {} : { limit }) };
    await this.limiter.reset({ tenant, ...who }, Object.keys(only).length === 0 ? undefined : only);
  }

  top(tenant: string, count: number): Promise<TopEntry[]> {
    return this.indexes('topLimited', 'the top rate-limited identities').topLimited(tenant, count);
  }

  block(target: BlockTarget, duration: string | number): Promise<void> {
    return this.limiter.block(target, duration);
  }

  unblock(target: BlockTarget): Promise<void> {
    return this.limiter.unblock(target);
  }

  async modes(): Promise<ModeReport> {
    const { config, overrides } = this.limiter;
    const policies: Record<string, Mode> = {};
    for (const p of config.policies)
      policies[p.name] = overrides.policyModes?.[p.name] ?? p.mode ?? 'enforce';
    return { mode: overrides.mode ?? config.mode, policies };
  }

  setMode(mode: Mode | null, policy?: string): Promise<number> {
    return this.limiter.setMode(mode, policy);
  }

  tenants(count: number): Promise<TenantEntry[]> {
    return this.indexes('tenants', 'the index of active tenants').tenants(count);
  }

  audit(count: number): Promise<AuditEntry[]> {
    return this.indexes('auditTrail', 'the audit trail').auditTrail(count);
  }

  close(): Promise<void> {
    return this.limiter.close();
  }

  /** The limiter's index call `name`, or a failure saying this build has none. */
  private indexes<K extends keyof StoreIndexes>(name: K, what: string): Required<Pick<StoreIndexes, K>> {
    const indexes = this.limiter as unknown as StoreIndexes;
    if (typeof indexes[name] !== 'function') {
      throw new CliFailure(
        `unsupported: this Sluice build keeps no ${what} in the store (PolicyLimiter.${name})`,
      );
    }
    return { [name]: (indexes[name] as (...a: unknown[]) => unknown).bind(this.limiter) } as Required<
      Pick<StoreIndexes, K>
    >;
  }
}
