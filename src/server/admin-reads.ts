/** The admin API's reads: tenants, one tenant, one identity's status, top limited, LLM usage, quotas, audit, health. */
import type { FastifyInstance } from 'fastify';
import type { RequestContext } from '../policy/types.js';
import { countQuery, llmUsageQuery, statusQuery } from './admin-bodies.js';
import { parseBody } from './bodies.js';
import type { ServiceParts } from './parts.js';

export const ADMIN = '/admin/ratelimit';

interface TenantParams {
  tenant: string;
}

export function adminReads(app: FastifyInstance, parts: ServiceParts, health: () => Promise<unknown>): void {
  const { policy, activity, audit } = parts;
  app.get(`${ADMIN}/tenants`, async (request) => {
    const { count } = parseBody(countQuery, request.query, 'query');
    return { tenants: await activity.tenants(count ?? 1000) };
  });
  app.get<{ Params: TenantParams }>(`${ADMIN}/tenants/:tenant`, async (request) => {
    const tenant = request.params.tenant;
    const ctx: RequestContext = { tenant };
    const [peek, limits, top] = await Promise.all([
      policy.peek(ctx),
      policy.usage(ctx),
      activity.topLimited(tenant, 10),
    ]);
    const override = policy.overrides.tenants?.[tenant] ?? policy.config.tenants[tenant] ?? null;
    return { tenant, tier: peek.tier, override, limits, top };
  });
  app.get<{ Params: TenantParams }>(`${ADMIN}/tenants/:tenant/status`, async (request) => {
    const q = parseBody(statusQuery, request.query, 'query');
    const ctx: RequestContext = { tenant: request.params.tenant };
    if (q.user !== undefined) ctx.user = q.user;
    if (q.ip !== undefined) ctx.ip = q.ip;
    if (q.endpoint !== undefined) ctx.endpoint = q.endpoint;
    if (q.roles !== undefined) ctx.roles = q.roles.split(',');
    const [peek, limits] = await Promise.all([policy.peek(ctx), policy.usage(ctx)]);
    return {
      tenant: ctx.tenant,
      tier: peek.tier,
      allowed: peek.allowed,
      binding: peek.binding?.name ?? null,
      limits,
    };
  });
  app.get<{ Params: TenantParams }>(`${ADMIN}/tenants/:tenant/top`, async (request) => {
    const { count } = parseBody(countQuery, request.query, 'query');
    return {
      tenant: request.params.tenant,
      top: await activity.topLimited(request.params.tenant, count ?? 10),
    };
  });
  app.get<{ Params: TenantParams }>(`${ADMIN}/tenants/:tenant/llm-usage`, async (request) => {
    const { hours = 24, user, top = 10 } = parseBody(llmUsageQuery, request.query, 'query');
    const tenant = request.params.tenant;
    if (user !== undefined) return parts.llmUsage.ofUser(tenant, user, hours);
    return parts.llmUsage.ofTenant(tenant, hours, top);
  });
  app.get(`${ADMIN}/quotas`, async () => {
    const config = policy.config;
    return {
      tiers: config.tiers,
      defaultTier: config.defaultTier,
      policies: config.policies,
      mode: policy.overrides.mode ?? config.mode,
      policyModes: policy.overrides.policyModes ?? {},
      tenants: { ...config.tenants, ...(policy.overrides.tenants ?? {}) },
      configVersion: policy.configVersion,
    };
  });
  app.get(`${ADMIN}/audit`, async (request) => {
    const { count } = parseBody(countQuery, request.query, 'query');
    return { entries: await audit.entries(count ?? 100) };
  });
  app.get(`${ADMIN}/health`, health);
}
