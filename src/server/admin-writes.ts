/**
 * The admin API's changes. Each one is done, then written to the audit trail with the token's name
 * (a change whose audit entry cannot be stored is still done, and says so in its answer).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Mode, RequestContext, TenantOverride } from '../policy/types.js';
import {
  blockBody,
  forcedBody,
  limitResetBody,
  modeBody,
  overrideBody,
  targetBody,
  tierBody,
} from './admin-bodies.js';
import { ADMIN } from './admin-reads.js';
import { parseBody } from './bodies.js';
import type { ServiceParts } from './parts.js';

type Params = { tenant: string };
type Change = { action: string; target: string; detail?: unknown; result: Record<string, unknown> };

export function adminWrites(app: FastifyInstance, parts: ServiceParts): void {
  const { policy } = parts;
  const change = (
    route: string,
    method: 'POST' | 'PUT' | 'DELETE',
    run: (r: FastifyRequest) => Promise<Change>,
  ) => {
    app.route({
      method,
      url: `${ADMIN}${route}`,
      handler: async (request) => audited(parts, request, await run(request)),
    });
  };
  change('/tenants/:tenant/reset', 'DELETE', async (r) => {
    const tenant = (r.params as Params).tenant;
    await policy.resetTenant(tenant);
    return { action: 'tenant.reset', target: tenant, result: { reset: true } };
  });
  change('/tenants/:tenant/limits/reset', 'POST', async (r) => {
    const tenant = (r.params as Params).tenant;
    const { policy: only, limit, ...who } = parseBody(limitResetBody, r.body ?? {});
    const ctx: RequestContext = { tenant, ...who };
    await policy.reset(
      ctx,
      only || limit ? { ...(only ? { policy: only } : {}), ...(limit ? { limit } : {}) } : undefined,
    );
    return {
      action: 'limits.reset',
      target: targetOf(tenant, who),
      detail: { policy: only, limit },
      result: { reset: true },
    };
  });
  change('/tenants/:tenant/override', 'PUT', async (r) => {
    const tenant = (r.params as Params).tenant;
    const { override } = parseBody(overrideBody, r.body);
    const version = await policy.setTenantOverride(tenant, override as TenantOverride | null);
    return { action: 'tenant.override', target: tenant, detail: { override }, result: { version } };
  });
  change('/tenants/:tenant/tier', 'PUT', async (r) => {
    const tenant = (r.params as Params).tenant;
    const { tier } = parseBody(tierBody, r.body);
    const version = await policy.setTenantTier(tenant, tier);
    return { action: 'tenant.tier', target: tenant, detail: { tier }, result: { version } };
  });
  change('/mode', 'PUT', async (r) => {
    const { mode, policy: name } = parseBody(modeBody, r.body);
    const version = await policy.setMode(mode as Mode | null, name);
    return { action: 'mode.set', target: name ?? 'global', detail: { mode }, result: { version } };
  });
  forcedChanges(change, parts);
  blockChanges(change, parts);
}

type Register = (
  route: string,
  method: 'POST' | 'PUT' | 'DELETE',
  run: (r: FastifyRequest) => Promise<Change>,
) => void;

function forcedChanges(change: Register, { policy }: ServiceParts): void {
  change('/circuit-breaker/reset', 'POST', async () => {
    const version = await policy.resetCircuit();
    return { action: 'circuit.reset', target: 'global', result: { version } };
  });
  change('/circuit', 'PUT', async (r) => {
    const { state } = parseBody(forcedBody, r.body);
    const version = await policy.forceCircuit(state);
    return { action: 'circuit.force', target: 'global', detail: { state }, result: { version } };
  });
  change('/platform', 'PUT', async (r) => {
    const { state } = parseBody(forcedBody, r.body);
    const version = await policy.forcePlatform(state);
    return { action: 'platform.force', target: 'global', detail: { state }, result: { version } };
  });
}

function blockChanges(change: Register, { policy }: ServiceParts): void {
  change('/blocks', 'POST', async (r) => {
    const { duration, ...target } = parseBody(blockBody, r.body);
    await policy.block(target, duration);
    return {
      action: 'block',
      target: targetOf(target.tenant, target),
      detail: { duration },
      result: { blocked: true },
    };
  });
  change('/blocks', 'DELETE', async (r) => {
    const target = parseBody(targetBody, r.body);
    await policy.unblock(target);
    return { action: 'unblock', target: targetOf(target.tenant, target), result: { unblocked: true } };
  });
  change('/reputation/reset', 'POST', async (r) => {
    const { tenant, ...who } = parseBody(targetBody, r.body);
    await policy.resetReputation(tenant, who.user || who.ip ? who : undefined);
    return { action: 'reputation.reset', target: targetOf(tenant, who), result: { reset: true } };
  });
}

/** "acme", "acme/user:alice", "acme/ip:10.0.0.1". */
function targetOf(tenant: string, who: { user?: string; ip?: string }): string {
  if (who.user !== undefined) return `${tenant}/user:${who.user}`;
  if (who.ip !== undefined) return `${tenant}/ip:${who.ip}`;
  return tenant;
}

async function audited(
  parts: ServiceParts,
  request: FastifyRequest,
  done: Change,
): Promise<Record<string, unknown>> {
  const actor = request.adminToken?.name ?? 'unknown';
  try {
    await parts.audit.record({ actor, action: done.action, target: done.target, detail: done.detail });
    return done.result;
  } catch (error) {
    request.log.warn({ err: error }, 'audit entry not stored');
    return { ...done.result, audited: false };
  }
}
