/**
 * The operator console: its files under /console (public: they hold no data), and what its pages
 * read beyond the admin API, behind the admin guard: who the token is, the live decision stream
 * (server-sent events, per-second counts by outcome), the shadow rollout view and a tenant's standing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { liveProposal } from '../observability/live-proposal.js';
import { ADMIN } from './admin-reads.js';
import { parseBody } from './bodies.js';
import { CONSOLE_CSP, type ConsoleAsset, consoleDir, loadConsoleAssets } from './console-assets.js';
import type { LiveStreams } from './live-stream.js';
import type { ServiceParts } from './parts.js';
import { problem, sendProblem } from './problems.js';

const text = z.string().min(1).max(1024);
const liveQuery = z.strictObject({
  tenant: text.optional(),
  seconds: z.coerce.number().int().min(1).max(299).optional(),
});
const windowQuery = z.strictObject({ seconds: z.coerce.number().int().min(1).max(299).optional() });
const standingQuery = z.strictObject({ user: text.optional(), ip: text.optional() });

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The console's files; without a build, /console says how to make one. */
export function consoleRoutes(app: FastifyInstance, dir = consoleDir()): void {
  const assets = dir ? loadConsoleAssets(dir) : new Map<string, ConsoleAsset>();
  app.get('/console', (_request, reply) => reply.redirect('/console/', 302));
  app.get<{ Params: { '*': string } }>('/console/*', async (request, reply) => {
    if (assets.size === 0) {
      return sendProblem(reply, problem(503, 'the console is not built: run `npm run build`'));
    }
    const path = request.params['*'] || 'index.html';
    const asset = assets.get(path);
    if (!asset) return sendProblem(reply, problem(404, `no console file ${path}`));
    return sendAsset(request, reply, asset, path === 'index.html');
  });
}

function sendAsset(request: FastifyRequest, reply: FastifyReply, asset: ConsoleAsset, page: boolean) {
  reply.headers(SECURITY_HEADERS).header('etag', asset.etag);
  reply.header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (page) reply.header('content-security-policy', CONSOLE_CSP).header('x-frame-options', 'DENY');
  if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  return reply.type(asset.type).send(asset.body);
}

/** Reads for the console, registered inside the admin guard. */
export function consoleAdminRoutes(app: FastifyInstance, parts: ServiceParts, streams: LiveStreams): void {
  const { live, policy } = parts;
  app.get(`${ADMIN}/whoami`, async (request) => ({
    name: request.adminToken?.name ?? null,
    access: request.adminToken?.access ?? 'read',
  }));
  app.get(`${ADMIN}/live`, (request, reply) => {
    const { tenant, seconds } = parseBody(liveQuery, request.query, 'query');
    streams.open(request, reply, { tenant, seconds: seconds ?? 60 });
  });
  app.get(`${ADMIN}/shadow`, async (request) => {
    const { seconds = 60 } = parseBody(windowQuery, request.query, 'query');
    const overrides = policy.overrides;
    const globalMode = overrides.mode ?? policy.config.mode;
    const policies = policy.config.policies.map((p) => {
      const own = overrides.policyModes?.[p.name] ?? p.mode ?? 'enforce';
      return { name: p.name, scope: p.scope, mode: own, effective: effectiveMode(globalMode, own) };
    });
    return {
      seconds,
      globalMode,
      policies,
      wouldReject: live.shadowRejections(seconds),
      proposal: liveProposal(live.tenantPeaks(seconds), (t) => live.tierOf(t)),
    };
  });
  app.get<{ Params: { tenant: string } }>(`${ADMIN}/tenants/:tenant/standing`, async (request) => {
    const who = parseBody(standingQuery, request.query, 'query');
    const tenant = request.params.tenant;
    const peek = await policy.peek({ tenant, ...who });
    return {
      tenant,
      blocked: peek.reason === 'blocked',
      blockedUntil: peek.blockedUntil ?? null,
      violations: peek.violations ?? null,
      adaptiveFactor: peek.adaptiveFactor ?? null,
      recentRejections: live.recentRejections(tenant),
    };
  });
}

/** A policy's mode after the global switch, as the resolver applies it: disabled, then shadow, then enforce. */
function effectiveMode(global: string, own: string): string {
  if (global === 'disabled' || own === 'disabled') return 'disabled';
  if (global === 'shadow' || own === 'shadow') return 'shadow';
  return 'enforce';
}
