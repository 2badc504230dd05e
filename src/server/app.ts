/**
 * The service's HTTP application (Fastify), laid out as a request travels: health first (no token),
 * then the decision API (caller tokens), then the admin API (admin tokens; absent without one).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { adminGuard } from './admin-guard.js';
import { adminReads } from './admin-reads.js';
import { adminWrites } from './admin-writes.js';
import { consoleAdminRoutes, consoleRoutes } from './console-routes.js';
import { decisionRoutes } from './decision-routes.js';
import { healthOf, healthRoutes } from './health-routes.js';
import { LiveStreams } from './live-stream.js';
import type { ServiceParts } from './parts.js';
import { errorHandler, problem, sendProblem } from './problems.js';

/** Largest request body accepted (a batch of 100 contexts fits); past it, 413. */
export const BODY_LIMIT = 256 * 1024;

export function buildApp(parts: ServiceParts, options: { logger?: boolean } = {}): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT,
    // The decision API is called by gateways on a private network: keep-alive, and no request timeout
    // beyond the limiter's own budgets.
    keepAliveTimeout: 65_000,
    // Requests already on a connection when shutdown begins are decided, not refused: the drain bounds them.
    return503OnClosing: false,
  });
  app.setErrorHandler(errorHandler);
  // JSON only: a text body is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem(404, `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
  const health = healthOf(parts);
  healthRoutes(app, parts, health);
  decisionRoutes(app, parts);
  const admins = parts.admins;
  if (admins) {
    // The console exists only with the admin API: its files are public, its data needs an admin token.
    const streams = new LiveStreams(parts.live);
    app.addHook('preClose', async () => streams.closeAll());
    consoleRoutes(app);
    app.register(async (admin) => {
      admin.addHook('onRequest', adminGuard(admins));
      adminReads(admin, parts, health);
      adminWrites(admin, parts);
      consoleAdminRoutes(admin, parts, streams);
    });
  }
  return app;
}
