/**
 * `sluice serve`: the service from flags and the environment (flags win), on the memory store unless
 * `--redis`, REDIS_URL or the configuration say otherwise. Runs until SIGTERM or SIGINT, then shuts
 * down gracefully and resolves with the exit code.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SluiceError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { ConfigError } from '../policy/config.js';
import { configFromEnv } from '../policy/env.js';
import { loadConfigFile } from '../policy/load.js';
import { parseTokenList, type ServiceToken } from './auth.js';
import type { ServerOptions } from './options.js';
import { type RunningServer, startServer } from './service.js';

export const SERVE_USAGE = `usage: sluice serve [--config FILE] [--host HOST] [--port PORT] [--redis URL]
                    [--grpc-port PORT] [--envoy-config FILE]... [--watch] [--log]
  --config FILE        policy document, YAML or JSON (env SLUICE_CONFIG); RATE_LIMIT_* and other
                       variables of the source limiters apply over it
  --host HOST          address to listen on (env SLUICE_HOST, default 127.0.0.1)
  --port PORT          HTTP port, 0 for a free one (env SLUICE_PORT, default 8080)
  --redis URL          decide on Redis at URL (env REDIS_URL) instead of the in-process memory store
  --grpc-port PORT     Envoy's rate limit service over gRPC (env SLUICE_GRPC_PORT; default off)
  --envoy-config FILE  envoyproxy/ratelimit YAML (env SLUICE_ENVOY_CONFIG, comma-separated)
  --watch              reload --config when the file changes (the environment is not applied again)
  --log                request logs (pino JSON) on stdout (env SLUICE_LOG=true)
  --console-token      without admin tokens, make a one-off read-write one (printed) for the console
Tokens (environment only): SLUICE_ADMIN_TOKENS="name:token[:ro|rw],..." or SLUICE_ADMIN_TOKEN=token
(one read-write token "admin") turn the admin API on; SLUICE_API_TOKENS="name:token,..." makes callers
of the decision API authenticate. SLUICE_DRAIN_MS (10000): shutdown bound for in-flight requests.`;

const FLAGS = {
  config: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  redis: { type: 'string' },
  'grpc-port': { type: 'string' },
  'envoy-config': { type: 'string', multiple: true },
  watch: { type: 'boolean' },
  log: { type: 'boolean' },
  'console-token': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Output {
  write(text: string): unknown;
}

export async function serveCommand(
  argv: string[],
  out: Output,
  err: Output,
  env = process.env,
): Promise<number> {
  let options: ServerOptions;
  let oneOff: string | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: FLAGS,
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      out.write(`${SERVE_USAGE}\n`);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    options = serverOptionsOf(values, env);
    if (values['console-token'] && !options.adminTokens) {
      // For trying the console locally (npm start): a secret that lives as long as the process.
      oneOff = randomBytes(16).toString('hex');
      options.adminTokens = [{ name: 'console', token: oneOff, access: 'write' }];
    }
  } catch (error) {
    return reportStartError(error, err);
  }
  let server: RunningServer;
  try {
    server = await startServer(options);
  } catch (error) {
    return reportStartError(error, err);
  }
  out.write(banner(server, options, oneOff));
  await untilSignalled();
  out.write('sluice: shutting down (draining in-flight requests)\n');
  await server.close();
  out.write('sluice: stopped\n');
  return 0;
}

class UsageError extends Error {}

/** Variables read by configFromEnv (README: Where the defaults come from). */
const SOURCE_VARIABLES =
  /^(RATE_LIMIT_|PRODUCTION_(RATE|BURST)|DISTRIBUTED_RATE_LIMITING|HYBRID_RATE_LIMITING|FAIL_OPEN_ON_REDIS|REDIS_(ENABLED|HOST|PORT|PASSWORD|DB|CONNECTION|SOCKET|MAX)|AURUM_API_)/;

type Flags = {
  [K in keyof typeof FLAGS]?: (typeof FLAGS)[K] extends { multiple: true }
    ? string[]
    : (typeof FLAGS)[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

/** Flags over environment variables over defaults. */
export function serverOptionsOf(flags: Flags, env: NodeJS.ProcessEnv): ServerOptions {
  const file = flags.config ?? env.SLUICE_CONFIG;
  let doc = (file ? loadConfigFile(file) : {}) as Record<string, unknown>;
  // The source limiters' variables apply when any is set (without them configFromEnv would add seed
  // 001's default windows to every document).
  if (Object.keys(env).some((name) => SOURCE_VARIABLES.test(name))) doc = configFromEnv(env, doc ?? {});
  const redis = flags.redis ?? env.REDIS_URL;
  if (flags.redis !== undefined || (redis !== undefined && doc.store === undefined))
    doc.store = { type: 'redis', url: redis };
  const options: ServerOptions = {
    config: doc,
    host: flags.host ?? env.SLUICE_HOST ?? '127.0.0.1',
    port: portOf(flags.port ?? env.SLUICE_PORT ?? '8080', '--port'),
    logger: flags.log ?? env.SLUICE_LOG === 'true',
  };
  if (flags.watch && file) Object.assign(options, { configFile: file, watchConfig: true });
  const grpc = flags['grpc-port'] ?? env.SLUICE_GRPC_PORT;
  if (grpc !== undefined) options.grpcPort = portOf(grpc, '--grpc-port');
  const envoy = flags['envoy-config'] ?? env.SLUICE_ENVOY_CONFIG?.split(',').filter(Boolean);
  if (envoy && envoy.length > 0) options.envoyConfig = envoy;
  if (env.SLUICE_DRAIN_MS) options.drainMs = Number(env.SLUICE_DRAIN_MS);
  if (env.SLUICE_READINESS_GRACE_MS) options.readinessGraceMs = Number(env.SLUICE_READINESS_GRACE_MS);
  const admins = adminTokensOf(env);
  if (admins.length > 0) options.adminTokens = admins;
  if (env.SLUICE_API_TOKENS) options.apiTokens = parseTokenList(env.SLUICE_API_TOKENS, 'SLUICE_API_TOKENS');
  return options;
}

function adminTokensOf(env: NodeJS.ProcessEnv): ServiceToken[] {
  const tokens = env.SLUICE_ADMIN_TOKENS
    ? parseTokenList(env.SLUICE_ADMIN_TOKENS, 'SLUICE_ADMIN_TOKENS')
    : [];
  if (env.SLUICE_ADMIN_TOKEN) tokens.push({ name: 'admin', token: env.SLUICE_ADMIN_TOKEN, access: 'write' });
  return tokens;
}

function portOf(text: string, flag: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535)
    throw new UsageError(`${flag} ${JSON.stringify(text)}: must be a port number (0-65535)`);
  return port;
}

function banner(server: RunningServer, options: ServerOptions, oneOff?: string): string {
  const { policy, admins } = server.parts;
  const url = server.url;
  const lines = [
    `sluice: listening on ${url}${server.grpcPort !== undefined ? ` (grpc ${server.grpcPort})` : ''}`,
    `  sluice ${VERSION}, ${policy.store.backend} store, ${policy.config.policies.length} policies, mode ${policy.config.mode}`,
    `  decide:  curl -s ${url}/v1/check -H 'content-type: application/json' -d '{"tenant":"acme","user":"alice"}'`,
    `  health:  ${url}/health   metrics: ${options.metrics === false ? 'off' : `${url}/metrics`}`,
    admins
      ? `  admin:   curl -s ${url}/admin/ratelimit/tenants -H "authorization: Bearer $SLUICE_ADMIN_TOKEN"`
      : '  admin:   off (set SLUICE_ADMIN_TOKEN to a secret of 16+ characters to turn it on)',
    admins ? `  console: ${url}/console/` : '  console: off (it needs the admin API)',
  ];
  if (oneOff) lines.push(`  console token (one-off, this process only): ${oneOff}`);
  return `${lines.join('\n')}\n`;
}

function untilSignalled(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
}

function reportStartError(error: unknown, err: Output): number {
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    err.write(`sluice serve: ${(error as Error).message}\n${SERVE_USAGE}\n`);
    return 2;
  }
  if (error instanceof ConfigError || error instanceof SluiceError) {
    err.write(`sluice serve: ${error.message}\n`);
    return 1;
  }
  const code = (error as { code?: string }).code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    err.write(`sluice serve: cannot listen: ${(error as Error).message}\n`);
    return 1;
  }
  throw error;
}
