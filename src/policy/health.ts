import type { FailoverState, Limiter } from '../limiter.js';
import type { CircuitBreaker } from '../resilience/breaker.js';
import type { Store } from '../stores/store.js';
import type { OverridesKeeper } from './overrides-keeper.js';
import type { PlatformGuard } from './platform.js';
import type { FailureMode, Mode } from './types.js';

/** What `health()` reports. */
export interface HealthReport {
  /** ok: the store decides; degraded: failure modes decide (or it is slow), requests still get answers; down: requests are denied because the store cannot decide. */
  status: 'ok' | 'degraded' | 'down';
  store: { backend: string; reachable: boolean; latencyMs: number | null; error: string | null };
  circuit: ReturnType<CircuitBreaker['snapshot']> | null;
  failureModes: Record<string, FailureMode>;
  mode: Mode;
  configVersion: number;
  configError: string | null;
  platform: { state: string; shedLevel: number; rate: number; forced: string | null } | null;
  load: number | null;
  /**
   * The failure policy now: when the current outage began (null while the store answers), the
   * escalation configured (`failure.escalate`), and whether closed decisions are escalated now.
   */
  failover: FailoverState;
  /** The hybrid comparison (compareWith, or `compare` in the configuration): its store and disagreements. */
  comparison: { backend: string; disagreements: number } | null;
}

/** What a health report is read from. */
export interface HealthParts {
  store: Store;
  engine: Limiter;
  keeper: OverridesKeeper;
  platform: PlatformGuard | undefined;
  loadSignal: (() => number) | undefined;
  comparison: Limiter | undefined;
  disagreements: number;
}

/**
 * Health (the multi-window API limiter): the store's reachability and latency (one PING-like read), the circuit, the
 * failure modes in force, the configuration version and errors, platform protection and load.
 */
export async function healthOf(parts: HealthParts): Promise<HealthReport> {
  const { engine, keeper, platform, comparison } = parts;
  const { reachable, latencyMs, error } = await probeStore(parts);
  const circuit = engine.guard?.breaker.snapshot() ?? null;
  const config = keeper.set.config;
  const failureModes: Record<string, FailureMode> = {};
  for (const p of config.policies) failureModes[p.name] = p.failureMode ?? config.failureMode;
  if (config.tierPolicy.enabled) failureModes.tier = config.tierPolicy.failureMode ?? config.failureMode;
  const storeDeciding = reachable && circuit?.state !== 'open';
  const failover = engine.failover();
  // Escalated, closed decisions are decided by the escalation's mode: they no longer deny.
  const anyClosed =
    !failover.escalated &&
    (Object.values(failureModes).includes('closed') || Object.keys(failureModes).length === 0);
  const budget = engine.guard?.budgetMs ?? Number.POSITIVE_INFINITY;
  let status: HealthReport['status'] = 'ok';
  if (!storeDeciding) status = anyClosed ? 'down' : 'degraded';
  else if ((latencyMs ?? 0) > budget || circuit?.state === 'half-open') status = 'degraded';
  return {
    status,
    store: { backend: parts.store.backend, reachable, latencyMs, error },
    circuit,
    failureModes,
    mode: keeper.set.runtime.mode ?? config.mode,
    configVersion: keeper.version,
    configError: keeper.lastConfigError?.message ?? null,
    platform: platform
      ? {
          state: platform.state,
          shedLevel: platform.shedLevel,
          rate: platform.lastRate,
          forced: platform.forced ?? null,
        }
      : null,
    load: parts.loadSignal ? parts.loadSignal() : null,
    failover,
    comparison: comparison ? { backend: comparison.store.backend, disagreements: parts.disagreements } : null,
  };
}

/** One read of the runtime document, within the budget: is the store there, and how fast. */
async function probeStore(parts: HealthParts): Promise<{
  reachable: boolean;
  latencyMs: number | null;
  error: string | null;
}> {
  const started = Date.now();
  const budget = parts.engine.guard?.budgetMs ?? 1000;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${budget} ms`)), budget);
  });
  try {
    await Promise.race([parts.store.readDocument(parts.keeper.key), late]);
    return { reachable: true, latencyMs: Date.now() - started, error: null };
  } catch (e) {
    return { reachable: false, latencyMs: null, error: (e as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
