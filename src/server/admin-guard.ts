/**
 * Access to the admin API: a known admin token for every route (401 otherwise), a read-write one for
 * every change (403 for a read-only token). The token's name is the audit trail's actor.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServiceToken, TokenSet } from './auth.js';
import { problem, sendProblem } from './problems.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin token the request was authenticated with (admin routes only). */
    adminToken?: ServiceToken;
  }
}

export function adminGuard(admins: TokenSet) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const auth = admins.authenticate(request.headers.authorization);
    if (!('token' in auth)) {
      const detail =
        auth.refused === 'missing'
          ? 'an admin token is required (Authorization: Bearer ...)'
          : 'unknown token';
      await sendProblem(reply, problem(401, detail), { 'www-authenticate': 'Bearer realm="sluice-admin"' });
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD' && auth.token.access !== 'write') {
      await sendProblem(
        reply,
        problem(403, `token "${auth.token.name}" is read-only: changes need a read-write token`),
      );
      return;
    }
    request.adminToken = auth.token;
  };
}
