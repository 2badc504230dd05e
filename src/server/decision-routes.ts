/**
 * The decision API: decide one request or a batch against the policies, peek, refund, release, or
 * decide ad-hoc limits. Answers 200 with the verdict whatever it is (a refusal is an answer, not an
 * error): the caller reads `allowed` and copies `status` and `headers` to its own client.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { ValidationError } from '../core/errors.js';
import type { Decision, Lease, LimitDefinition } from '../core/types.js';
import type { PolicyDecision, RequestContext } from '../policy/types.js';
import {
  adHocSchema,
  answerQuerySchema,
  batchSchema,
  contextSchema,
  parseBody,
  refundSchema,
  releaseSchema,
} from './bodies.js';
import type { ServiceParts } from './parts.js';
import { problem, sendProblem } from './problems.js';
import { compactVerdictOf, verdictOf } from './verdict.js';

export function decisionRoutes(app: FastifyInstance, parts: ServiceParts): void {
  const { policy, limiter } = parts;
  // Without caller tokens there is nothing to check: no hook at all, rather than one that returns.
  const route: RouteShorthandOptions = parts.callers ? { onRequest: callerGuard(parts) } : {};
  app.post('/v1/check', route, async (request) => {
    const answer = answerOf(request);
    return answer(await policy.check(parseBody(contextSchema, request.body) as RequestContext));
  });
  app.post('/v1/check/batch', route, async (request) => {
    const answer = answerOf(request);
    const { requests } = parseBody(batchSchema, request.body);
    const decisions = await Promise.all(requests.map((ctx) => policy.check(ctx as RequestContext)));
    const now = Date.now();
    return { results: decisions.map((d) => answer(d, now)) };
  });
  app.post('/v1/peek', route, async (request) => {
    const answer = answerOf(request);
    return answer(await policy.peek(parseBody(contextSchema, request.body) as RequestContext));
  });
  app.post('/v1/refund', route, async (request) => {
    const { decision, units } = parseBody(refundSchema, request.body);
    await policy.refund(decision as unknown as PolicyDecision, units);
    return { refunded: true };
  });
  app.post('/v1/release', route, async (request) => {
    const { lease } = parseBody(releaseSchema, request.body);
    await policy.release(lease as unknown as Lease);
    return { released: true };
  });
  app.post('/v1/renew', route, async (request) => {
    const { lease } = parseBody(releaseSchema, request.body);
    const renewed = await policy.renew(lease as unknown as Lease);
    return { renewed: renewed !== undefined, lease: renewed ?? null };
  });
  app.post('/v1/limits/check', route, async (request) => {
    const answer = answerOf(request);
    const body = parseBody(adHocSchema, request.body);
    if (body.costs !== undefined && body.costs.length !== body.limits.length) {
      throw new ValidationError('ERR_SLUICE_INVALID_OPTION', 'body.costs', 'must have one cost per limit');
    }
    const checks = body.limits.map((limit, i) => ({
      limit: limit as unknown as LimitDefinition,
      key: body.key,
      cost: body.costs?.[i],
    }));
    const decision: Decision = await limiter.decide({
      tenant: body.tenant,
      key: body.key,
      cost: body.cost,
      checks,
    });
    return answer(decision);
  });
  if (parts.envoyJson) {
    const handle = parts.envoyJson;
    app.post('/json', route, async (request, reply) => {
      const answer = await handle(request.body);
      return reply.code(answer.statusCode).type(answer.contentType).send(answer.body);
    });
  }
}

/** The whole verdict, or with `?answer=compact` only what a gateway copies (checked before deciding). */
function answerOf(request: FastifyRequest): typeof verdictOf | typeof compactVerdictOf {
  // Most calls have no query at all: skip parsing an empty object.
  if (!request.url.includes('?')) return verdictOf;
  const { answer } = parseBody(answerQuerySchema, request.query, 'query');
  return answer === 'compact' ? compactVerdictOf : verdictOf;
}

/** With caller tokens configured, every decision route needs one of them. */
function callerGuard(parts: ServiceParts) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!parts.callers) return;
    const auth = parts.callers.authenticate(request.headers.authorization);
    if ('token' in auth) return;
    const detail =
      auth.refused === 'missing' ? 'a caller token is required (Authorization: Bearer ...)' : 'unknown token';
    await sendProblem(reply, problem(401, detail), { 'www-authenticate': 'Bearer realm="sluice"' });
  };
}
