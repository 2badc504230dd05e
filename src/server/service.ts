/**
 * startServer: the policy limiter, its observers, the HTTP application and the shutdown, in the order
 * a process lives them. Built on the public API of the layers below (PolicyLimiter, Limiter, the
 * observability classes).
 */
import type { AddressInfo } from 'node:net';
import type { DecisionEvent, DecisionObserver, ObservedSource } from '../core/observer.js';
import { VERSION } from '../core/version.js';
import { Limiter } from '../limiter.js';
import { UsageBook } from '../llm/usage.js';
import { Activity } from '../observability/activity.js';
import { AuditTrail } from '../observability/audit-trail.js';
import { LiveCounts } from '../observability/live-counts.js';
import type { SluiceMetrics } from '../observability/metrics.js';
import { parseConfig } from '../policy/config.js';
import { loadConfigFile } from '../policy/load.js';
import { PolicyLimiter } from '../policy/policy-limiter.js';
import { buildApp } from './app.js';
import { TokenSet } from './auth.js';
import type { GrpcServer } from './envoy/index.js';
import { type ServerOptions, validateServerOptions } from './options.js';
import type { Lifecycle, ServiceParts } from './parts.js';

export type { ServerOptions } from './options.js';

export interface RunningServer {
  /** http://host:port of the HTTP API. */
  readonly url: string;
  readonly port: number;
  /** The gRPC port of Envoy's rate limit service, when on. */
  readonly grpcPort: number | undefined;
  readonly parts: ServiceParts;
  /** Graceful shutdown: readiness fails, the listener closes, in-flight requests finish (bounded), the store closes. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  validateServerOptions(options);
  const lifecycle: Lifecycle = { startedAt: Date.now(), version: VERSION, ready: false, draining: false };
  const metrics = options.metrics === false ? undefined : await loadMetrics();
  const live = new LiveCounts();
  const fanOut = new ObserverFanOut(metrics, live);
  const config = parseConfig(
    options.config ?? (options.configFile ? loadConfigFile(options.configFile) : {}),
    options.configFile,
  );
  const policy = await PolicyLimiter.create({
    config,
    ...(options.store ? { store: options.store } : {}),
    observer: fanOut,
    actor: 'sluice-server',
  });
  if (options.configFile && options.watchConfig !== false) policy.watchFile(options.configFile);
  const activity = new Activity(policy.store, { ...options.activity, prefix: config.prefix });
  fanOut.activity = activity;
  activity.start();
  const parts: ServiceParts = {
    policy,
    limiter: new Limiter({ store: policy.store, prefix: config.prefix }),
    activity,
    live,
    audit: new AuditTrail(policy.store, { prefix: config.prefix }),
    llmUsage: new UsageBook(policy.store, { prefix: config.prefix }),
    metrics,
    callers: tokenSet(
      options.apiTokens?.map((t) => ({ ...t, access: 'write' as const })),
      'apiTokens',
    ),
    admins: tokenSet(options.adminTokens, 'adminTokens'),
    envoyJson: undefined,
    lifecycle,
  };
  const envoy = await startEnvoy(parts, options);
  if (envoy) parts.envoyJson = envoy.json;
  const app = buildApp(parts, { logger: options.logger ?? false });
  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8080 });
  lifecycle.ready = true;
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    grpcPort: envoy?.grpc?.port,
    parts,
    close: () => {
      closing ??= shutdown(app, parts, options, envoy?.grpc);
      return closing;
    },
  };
}

async function shutdown(
  app: ReturnType<typeof buildApp>,
  parts: ServiceParts,
  options: ServerOptions,
  grpc: GrpcServer | undefined,
): Promise<void> {
  parts.lifecycle.draining = true;
  if (options.readinessGraceMs) await new Promise((r) => setTimeout(r, options.readinessGraceMs));
  // Fastify stops accepting connections and waits for in-flight requests; past the bound, their
  // connections are closed. The gRPC server drains the same way, within the same bound.
  const drainMs = options.drainMs ?? 10_000;
  const drained = Promise.all([app.close(), grpc?.close(drainMs)]);
  const bound = setTimeout(() => app.server.closeAllConnections(), drainMs);
  await drained.finally(() => clearTimeout(bound));
  await parts.activity.stop().catch(() => undefined);
  await parts.policy.close();
}

/**
 * Envoy's rate limit service, when asked for: its `/json` handler and, with `grpcPort`, the gRPC
 * server. Loaded only then (the gRPC libraries are optional peers). Envoy-configured domains are
 * counted by the ad-hoc limiter; other domains' descriptors are decided by the policies.
 */
async function startEnvoy(
  parts: ServiceParts,
  options: ServerOptions,
): Promise<{ json: ServiceParts['envoyJson']; grpc: GrpcServer | undefined } | undefined> {
  if (options.grpcPort === undefined && !options.envoyConfig?.length) return undefined;
  const envoy = await import('./envoy/index.js');
  const service = envoy.createRateLimitService({
    policies: parts.policy,
    ...(options.envoyConfig?.length ? { limiter: parts.limiter, envoyConfig: options.envoyConfig } : {}),
  });
  const grpc =
    options.grpcPort === undefined
      ? undefined
      : await envoy.startGrpcServer({ host: options.host ?? '127.0.0.1', port: options.grpcPort, service });
  return { json: (body) => envoy.handleEnvoyJson(service, body), grpc };
}

function tokenSet(tokens: ServerOptions['adminTokens'], field: string): TokenSet | undefined {
  return tokens && tokens.length > 0 ? new TokenSet(tokens, field) : undefined;
}

/** prom-client is an optional peer: without it, the service runs without /metrics. */
async function loadMetrics(): Promise<SluiceMetrics | undefined> {
  try {
    const { SluiceMetrics } = await import('../observability/metrics.js');
    return new SluiceMetrics({ tenantLabels: {}, identityLabels: {} });
  } catch (error) {
    process.emitWarning(
      `sluice: metrics off (${(error as Error).message}); npm install prom-client for /metrics`,
    );
    return undefined;
  }
}

/** The policy limiter's one observer: metrics (which watch the limiter), the console's live counts and the activity boards. */
class ObserverFanOut implements DecisionObserver {
  activity: Activity | undefined;
  constructor(
    private readonly metrics: SluiceMetrics | undefined,
    private readonly live: LiveCounts,
  ) {}

  decided(event: DecisionEvent): void {
    try {
      this.metrics?.decided(event);
    } finally {
      try {
        this.live.decided(event);
      } finally {
        this.activity?.decided(event);
      }
    }
  }

  watch(source: ObservedSource): void {
    this.metrics?.watch(source);
  }
}
