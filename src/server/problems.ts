/**
 * Errors as RFC 9457 problem details. Every refusal of the service says what is wrong and, for a bad
 * body, which field: a client's mistake is 4xx, the store's failure 503, never a bare 500.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError, StoreError, ValidationError } from '../core/errors.js';
import { ConfigError } from '../policy/config.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  field?: string;
  code?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  503: 'Service Unavailable',
  500: 'Internal Server Error',
};

export function problem(status: number, detail: string, extra: Partial<Problem> = {}): Problem {
  return { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, ...extra };
}

export function sendProblem(
  reply: FastifyReply,
  p: Problem,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply.code(p.status).headers(headers).type('application/problem+json').send(p);
}

/** A thrown error as a problem: validation 400 (with its field), store 503, Fastify's own 4xx as they are. */
export function problemOf(error: unknown): Problem {
  if (error instanceof ValidationError) {
    return problem(400, error.message, { field: error.field, code: error.code });
  }
  if (error instanceof ConfigError) return problem(400, error.message, { code: error.code });
  if (error instanceof StoreError) return problem(503, error.message, { code: error.code });
  if (error instanceof SluiceError) return problem(400, error.message, { code: error.code });
  const fastify = error as FastifyError;
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    return problem(fastify.statusCode, fastify.message, { code: fastify.code });
  }
  return problem(500, 'internal error (logged by the service)');
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const p = problemOf(error);
  if (p.status >= 500 && p.status !== 503) request.log.error({ err: error }, 'unhandled error');
  return sendProblem(reply, p);
}
