/**
 * Liveness, readiness, seed 001's health document and Prometheus metrics: no token, so that load
 * balancers and scrapers reach them (they say nothing a caller could abuse).
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceParts } from './parts.js';

const STATUS = { ok: 'healthy', degraded: 'degraded', down: 'unhealthy' } as const;

/** The health document: seed 001's status word, the service's own facts and the limiter's report. */
export function healthOf(parts: ServiceParts): () => Promise<Record<string, unknown>> {
  return async () => {
    const report = await parts.policy.health();
    const { lifecycle } = parts;
    return {
      status: STATUS[report.status],
      version: lifecycle.version,
      uptimeSeconds: Math.round((Date.now() - lifecycle.startedAt) / 1000),
      ready: lifecycle.ready && !lifecycle.draining,
      ratelimit: report,
    };
  };
}

export function healthRoutes(
  app: FastifyInstance,
  parts: ServiceParts,
  health: () => Promise<unknown>,
): void {
  app.get('/livez', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const { ready, draining } = parts.lifecycle;
    if (ready && !draining) return { ready: true };
    return reply.code(503).send({ ready: false, reason: draining ? 'shutting down' : 'starting' });
  });
  app.get('/health', async (_request, reply) => {
    const body = (await health()) as { status: string };
    return reply.code(body.status === 'unhealthy' ? 503 : 200).send(body);
  });
  const metrics = parts.metrics;
  if (metrics) {
    app.get('/metrics', async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    });
  }
}
