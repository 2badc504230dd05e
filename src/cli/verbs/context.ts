/** The request context verbs build from TENANT [IDENTITY] and the --endpoint / --roles / --ip flags. */
import type { RequestContext } from '../../index.js';
import { type FlagSpec, type FlagValues, parseIdentity, stringOf } from '../args.js';
import { invalid } from '../failures.js';

export const CONTEXT_FLAGS = {
  endpoint: { type: 'string' },
  roles: { type: 'string' },
  ip: { type: 'string' },
} as const satisfies FlagSpec;

export const CONTEXT_USAGE = `  IDENTITY          user:ID, ip:ADDR, or a bare user id
  --endpoint ROUTE  the route pattern ("/users/:id") or resource ("llm:openai")
  --roles a,b       the caller's roles
  --ip ADDR         the client address, beside a user IDENTITY`;

/** TENANT, IDENTITY (optional) and the context flags, as a RequestContext. */
export function contextOf(tenant: string, identity: string | undefined, values: FlagValues): RequestContext {
  const ctx: RequestContext = { tenant, ...(identity === undefined ? {} : parseIdentity(identity)) };
  const ip = stringOf(values, 'ip');
  if (ip !== undefined) {
    if (ctx.ip !== undefined) throw invalid('--ip', 'IDENTITY is already an ip: give one of them');
    ctx.ip = ip;
  }
  const endpoint = stringOf(values, 'endpoint');
  if (endpoint !== undefined) ctx.endpoint = endpoint;
  const roles = stringOf(values, 'roles');
  if (roles !== undefined) ctx.roles = roles.split(',').filter((r) => r !== '');
  return ctx;
}

/** Whether the context names anything beside its tenant. */
export function namesMoreThanTenant(ctx: RequestContext): boolean {
  return Object.keys(ctx).some((k) => k !== 'tenant');
}
