/**
 * Envoy's rate limit service (envoy.service.ratelimit.v3) decided by Sluice: the gRPC server, the
 * `/json` handler, envoyproxy/ratelimit's configuration, and descriptors mapped onto policies.
 */
export type { EnvoyConfigDocument, EnvoyRule, EnvoyRules } from './config.js';
export { parseEnvoyConfig } from './config.js';
export { loadEnvoyConfig } from './config-files.js';
export type { GrpcServer, GrpcServerOptions } from './grpc-server.js';
export { startGrpcServer } from './grpc-server.js';
export type { JsonReply } from './json-handler.js';
export { handleEnvoyJson } from './json-handler.js';
export type { ContextField, DescriptorMapping } from './policy-mapping.js';
export { DEFAULT_DESCRIPTOR_KEYS } from './policy-mapping.js';
export { protoDir, RLS_PROTO } from './protos.js';
export { parseRateLimitRequest, REQUEST_BOUNDS } from './request.js';
export type { RateLimitService, RateLimitServiceOptions, ResponseHeaders } from './service.js';
export { createRateLimitService } from './service.js';
export type {
  DescriptorEntry,
  RlsDescriptor,
  RlsLimit,
  RlsRequest,
  RlsResponse,
  RlsStatus,
} from './types.js';
export type { Unit } from './units.js';
export { UNIT_SECONDS, UNITS } from './units.js';
export { toGrpcResponse, toJsonResponse } from './wire.js';
