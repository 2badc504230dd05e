/**
 * How a verb reaches Sluice: a running service over HTTP (`--url`, http-admin.ts) or the store itself
 * with the policies of a configuration file (`--redis` / `--config`, store-admin.ts). Both implement
 * `Admin`, so a verb is written once.
 */

import type { Mode, PolicyDecision, RequestContext, TenantOverride } from '../index.js';
import type { AuditEntry } from '../observability/audit-trail.js';
import type { BlockTarget, HealthReport, LimitUsage } from '../policy/policy-limiter.js';
import { type FlagValues, stringOf } from './args.js';
import { invalid, UsageError } from './failures.js';
import { HttpAdmin } from './http-admin.js';
import type { StoreAdminOptions } from './store-admin.js';

export type { BlockTarget, HealthReport, LimitUsage };
export type Env = Record<string, string | undefined>;

/** A decision as `sluice check` shows it (the service's /v1/check answer). */
export interface CheckOutcome {
  allowed: boolean;
  /** The HTTP status a gateway would answer: 200, 429, or 503 (shed, store unavailable). */
  status: number;
  decision: PolicyDecision;
  /** The rate-limit headers a gateway would copy (from the service; absent straight from the store). */
  headers?: Record<string, string>;
}

/** One tenant: its tier, runtime override, tenant-wide limits and top rate-limited identities. */
export interface TenantReport {
  tenant: string;
  tier: string;
  override: TenantOverride | null;
  limits: LimitUsage[];
  top: TopEntry[];
}

export interface TopEntry {
  identity: string;
  /** The limit that refused it most. */
  binding?: string;
  /** Rejections, decayed with age. */
  rejected: number;
}

export interface TenantEntry {
  tenant: string;
  lastSeenAt: number;
  tier?: string;
}

/** An entry of the audit trail (the service's and the store's are the same). */
export type { AuditEntry } from '../observability/audit-trail.js';

/** The global mode in force and each policy's. */
export interface ModeReport {
  mode: Mode;
  policies: Record<string, Mode>;
}

/** Health: the limiter's report (PolicyLimiter.health), and the service's facts when it is a service. */
export interface HealthDocument {
  status: HealthReport['status'];
  report: HealthReport;
  version?: string;
  uptimeSeconds?: number;
}

/** What to reset: a tenant's counters, or those of one identity, route and/or policy or limit. */
export interface ResetTarget {
  user?: string;
  ip?: string;
  endpoint?: string;
  policy?: string;
  limit?: string;
}

export interface Admin {
  /** Where it talks to (for messages): the service's URL or the store's. */
  readonly where: string;
  check(ctx: RequestContext, peek: boolean): Promise<CheckOutcome>;
  tenant(tenant: string): Promise<TenantReport>;
  status(ctx: RequestContext): Promise<LimitUsage[]>;
  /** With an empty target: every counter of the tenant. */
  reset(tenant: string, target: ResetTarget): Promise<void>;
  top(tenant: string, count: number): Promise<TopEntry[]>;
  block(target: BlockTarget, duration: string | number): Promise<void>;
  unblock(target: BlockTarget): Promise<void>;
  modes(): Promise<ModeReport>;
  /** Sets the global mode or one policy's (null clears the override); resolves to the overrides' version. */
  setMode(mode: Mode | null, policy?: string): Promise<number>;
  /** Moves a tenant to another tier at runtime (null: back to the configuration's); the overrides' version. */
  setTier(tenant: string, tier: string | null): Promise<number>;
  tenants(count: number): Promise<TenantEntry[]>;
  audit(count: number): Promise<AuditEntry[]>;
  health(): Promise<HealthDocument>;
  close(): Promise<void>;
}

/** Default of `--timeout`: how long one call to the service, or connecting to the store, may take. */
export const DEFAULT_TIMEOUT_MS = 5000;

/**
 * The transport the flags ask for: `--url` (or SLUICE_URL) the service, `--redis` and/or `--config`
 * (or SLUICE_CONFIG) the store. Explicit flags win over the environment; both kinds at once is a
 * usage error.
 */
export async function openAdmin(
  values: FlagValues,
  env: Env,
  warn: (message: string) => void,
): Promise<Admin> {
  const url = stringOf(values, 'url');
  const redis = stringOf(values, 'redis');
  const config = stringOf(values, 'config');
  const timeoutMs = timeoutOf(stringOf(values, 'timeout'));
  if (url !== undefined && (redis !== undefined || config !== undefined)) {
    throw new UsageError(`give --url (a service) or --redis/--config (the store), not both`);
  }
  if (url !== undefined) return httpAdmin(url, env, timeoutMs);
  if (redis !== undefined || config !== undefined) {
    return storeAdmin({ redis, configFile: config, timeoutMs, actor: actorOf(env), warn });
  }
  if (env.SLUICE_URL) return httpAdmin(env.SLUICE_URL, env, timeoutMs);
  if (env.SLUICE_CONFIG) {
    return storeAdmin({ configFile: env.SLUICE_CONFIG, timeoutMs, actor: actorOf(env), warn });
  }
  throw new UsageError(
    'say where Sluice is: --url URL (or SLUICE_URL) for a service, --redis URL [--config FILE] for the store',
  );
}

/** The store transport, imported only when used: the HTTP one never loads the store's dependencies. */
async function storeAdmin(options: StoreAdminOptions): Promise<Admin> {
  const { openStoreAdmin } = await import('./store-admin.js');
  return openStoreAdmin(options);
}

function httpAdmin(url: string, env: Env, timeoutMs: number): HttpAdmin {
  return new HttpAdmin(url, { admin: env.SLUICE_ADMIN_TOKEN, api: env.SLUICE_API_TOKEN }, timeoutMs);
}

function timeoutOf(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms < 1 || ms > 600_000) {
    throw invalid('--timeout', `${JSON.stringify(value)} must be milliseconds from 1 to 600000`);
  }
  return ms;
}

/** Who store-side changes are audited as: SLUICE_ACTOR, else `cli:<login>`. */
function actorOf(env: Env): string {
  if (env.SLUICE_ACTOR) return env.SLUICE_ACTOR;
  const login = env.USER ?? env.LOGNAME;
  return login ? `cli:${login}` : 'cli';
}
