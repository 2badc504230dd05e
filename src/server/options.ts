/** Options of startServer, documented and validated strictly (unknown keys are errors). */
import { ValidationError } from '../core/errors.js';
import { rejectUnknownKeys } from '../core/options.js';
import type { ActivityOptions } from '../observability/activity.js';
import type { Store } from '../stores/store.js';
import type { ServiceToken } from './auth.js';

export interface ServerOptions {
  /** The policy document (parsed YAML/JSON or a SluiceConfig). Default: `configFile`, else Sluice's defaults. */
  config?: unknown;
  /** A YAML or JSON policy document, reloaded when it changes (see `watchConfig`). */
  configFile?: string;
  /** Reload `configFile` when it changes (default true; a broken file keeps the last good one). */
  watchConfig?: boolean;
  /** Address to listen on. Default 127.0.0.1 (a private service: expose it on purpose). */
  host?: string;
  /** Port; 0 picks a free one (read `url`). Default 8080. */
  port?: number;
  /** Admin API tokens (read-only or read-write). None: the admin API is off (404). */
  adminTokens?: ServiceToken[];
  /** Tokens callers of the decision API must send. None: the decision API is open (a private network). */
  apiTokens?: Array<Omit<ServiceToken, 'access'>>;
  /** How long a shutdown waits for in-flight requests before closing their connections (ms, default 10,000). */
  drainMs?: number;
  /** How long readiness fails before the listener closes on shutdown (ms, default 0): a load balancer's probe interval. */
  readinessGraceMs?: number;
  /** Overrides the store the configuration describes. */
  store?: Store;
  /** Prometheus metrics at /metrics (needs prom-client). Default true. */
  metrics?: boolean;
  /** The tenant index and top limited identities (see Activity). */
  activity?: Omit<ActivityOptions, 'prefix' | 'clock'>;
  /** Fastify's request log (pino) on stdout. Default false. */
  logger?: boolean;
  /** Envoy's rate limit service over gRPC on this port (0: a free one). Default: off. */
  grpcPort?: number;
  /** envoyproxy/ratelimit configuration files (YAML): their descriptors are decided instead of the policies'. */
  envoyConfig?: string[];
}

export const SERVER_OPTION_KEYS = [
  'config',
  'configFile',
  'watchConfig',
  'host',
  'port',
  'adminTokens',
  'apiTokens',
  'drainMs',
  'readinessGraceMs',
  'store',
  'metrics',
  'activity',
  'logger',
  'grpcPort',
  'envoyConfig',
] as const;

export function validateServerOptions(options: ServerOptions): void {
  rejectUnknownKeys(options, 'options', SERVER_OPTION_KEYS);
  port(options.port, 'port');
  port(options.grpcPort, 'grpcPort');
  whole(options.drainMs, 'drainMs', 600_000);
  whole(options.readinessGraceMs, 'readinessGraceMs', 600_000);
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host.length === 0)) {
    throw invalid('host', 'must be a host name or address');
  }
  for (const key of ['watchConfig', 'metrics', 'logger'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean')
      throw invalid(key, 'must be true or false');
  }
  if (options.configFile !== undefined && typeof options.configFile !== 'string') {
    throw invalid('configFile', 'must be a file path');
  }
  if (
    options.envoyConfig !== undefined &&
    !(Array.isArray(options.envoyConfig) && options.envoyConfig.every((f) => typeof f === 'string'))
  ) {
    throw invalid('envoyConfig', 'must be a list of file paths');
  }
  for (const key of ['adminTokens', 'apiTokens'] as const) {
    if (options[key] !== undefined && !Array.isArray(options[key]))
      throw invalid(key, 'must be a list of tokens');
  }
}

function port(value: unknown, field: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65_535) {
    throw invalid(field, 'must be a port number from 0 (any free port) to 65535');
  }
}

function whole(value: unknown, field: string, max: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max) {
    throw invalid(field, `must be a whole number of ms from 0 to ${max}`);
  }
}

function invalid(field: string, why: string): ValidationError {
  return new ValidationError('ERR_SLUICE_INVALID_OPTION', field, why);
}
