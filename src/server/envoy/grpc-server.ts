import * as grpc from '@grpc/grpc-js';
import { ValidationError } from '../../index.js';
import { failureOf } from './errors.js';
import { rateLimitServiceDefinition } from './protos.js';
import type { RateLimitService } from './service.js';
import { toGrpcResponse } from './wire.js';

export interface GrpcServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0: a free port, told in the result. */
  port: number;
  service: RateLimitService;
  /** Another directory of Sluice's protos (default: the package's `proto/`). */
  protoDir?: string;
}

export interface GrpcServer {
  port: number;
  /**
   * Stops accepting calls and lets the calls in flight finish; after `graceMs` (default 10 s) the
   * remaining ones are cancelled. Resolves once the server is down.
   */
  close(graceMs?: number): Promise<void>;
}

const OPTION_KEYS = ['host', 'port', 'service', 'protoDir'];

/** Serves `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit` over gRPC (plaintext HTTP/2). */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  validate(options);
  const server = new grpc.Server();
  server.addService(rateLimitServiceDefinition(options.protoDir), {
    ShouldRateLimit: (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      options.service.decide(call.request).then(
        (response) => callback(null, toGrpcResponse(response)),
        (error: unknown) => callback(grpcError(error)),
      );
    },
  });
  const host = options.host ?? '127.0.0.1';
  const address =
    host.includes(':') && !host.startsWith('[') ? `[${host}]:${options.port}` : `${host}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  return { port, close: (graceMs = 10_000) => shutdown(server, graceMs) };
}

function validate(options: GrpcServerOptions): void {
  const invalid = (field: string, message: string) =>
    new ValidationError('ERR_SLUICE_INVALID_OPTION', field, message);
  if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key))
      throw invalid(key, `unknown option; expected one of ${OPTION_KEYS.join(', ')}`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535)
    throw invalid('port', 'must be an integer from 0 to 65535');
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host === ''))
    throw invalid('host', 'must be a non-empty string');
  if (typeof options.service?.decide !== 'function')
    throw invalid('service', 'must be a RateLimitService (createRateLimitService)');
}

/** Bad requests are INVALID_ARGUMENT naming the field; a store that cannot decide, UNAVAILABLE. */
function grpcError(error: unknown): Partial<grpc.StatusObject> {
  const failure = failureOf(error);
  const details = (error as Error).message;
  if (failure === 'invalid') return { code: grpc.status.INVALID_ARGUMENT, details };
  if (failure === 'store') return { code: grpc.status.UNAVAILABLE, details };
  return { code: grpc.status.INTERNAL, details: 'internal error' };
}

function shutdown(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    force.unref();
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
