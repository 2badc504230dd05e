/**
 * `sluice/server`: Sluice as a service — the decision API, the admin API, health and metrics over
 * HTTP (Fastify), started by `sluice serve` or `startServer()`.
 */
export { type Access, parseTokenList, type ServiceToken } from './auth.js';
export type { ServerOptions } from './options.js';
export type { Lifecycle, ServiceParts } from './parts.js';
export { type RunningServer, startServer } from './service.js';
export type { Verdict } from './verdict.js';
