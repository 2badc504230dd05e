import { failureOf, fieldOf } from './errors.js';
import type { RateLimitService } from './service.js';
import { toJsonResponse } from './wire.js';

/** What the HTTP layer sends back: status, content type and body (JSON). */
export interface JsonReply {
  statusCode: number;
  contentType: 'application/json' | 'application/problem+json';
  body: Record<string, unknown>;
}

/**
 * envoyproxy/ratelimit's `POST /json`: a proto3 JSON RateLimitRequest in, the proto3 JSON
 * RateLimitResponse out, 200 when OK and 429 when OVER_LIMIT. A bad body is a 400 problem naming the
 * field; a store that cannot decide, 503. `body` is the parsed JSON (or its text).
 */
export async function handleEnvoyJson(service: RateLimitService, body: unknown): Promise<JsonReply> {
  let parsed = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      parsed = JSON.parse(body.toString());
    } catch (error) {
      return problem(400, `body: not JSON (${(error as Error).message})`, { field: 'body' });
    }
  }
  try {
    const response = await service.decide(parsed);
    const statusCode = response.overallCode === 'OK' ? 200 : 429;
    return { statusCode, contentType: 'application/json', body: toJsonResponse(response) };
  } catch (error) {
    const failure = failureOf(error);
    const { message, code } = error as { message: string; code: string };
    const field = fieldOf(error);
    if (failure === 'invalid') return problem(400, message, field === undefined ? { code } : { field, code });
    if (failure === 'store') return problem(503, message, { code });
    throw error;
  }
}

const TITLES: Record<number, string> = { 400: 'Bad Request', 503: 'Service Unavailable' };

function problem(status: number, detail: string, extra: Record<string, string>): JsonReply {
  return {
    statusCode: status,
    contentType: 'application/problem+json',
    body: { type: 'about:blank', title: TITLES[status], status, detail, ...extra },
  };
}
