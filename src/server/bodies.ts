/**
 * Shapes of the request bodies, checked strictly (unknown fields are errors) before anything is
 * decided; the values themselves (identifiers, costs, limits) are then checked by the limiter, whose
 * ValidationError names the field too.
 */
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';

const text = z.string().max(1024);
const record = z.record(z.string(), z.unknown());

export const contextSchema = z.strictObject({
  tenant: text,
  user: text.optional(),
  roles: z.array(text).max(32).optional(),
  ip: text.optional(),
  endpoint: text.optional(),
  tier: text.optional(),
  cost: z.number().optional(),
  routeLimits: z.array(record).max(16).optional(),
});

/** Requests in one batch, at most. */
export const MAX_BATCH = 100;

export const batchSchema = z.strictObject({ requests: z.array(contextSchema).min(1).max(MAX_BATCH) });
export const refundSchema = z.strictObject({
  decision: record,
  /** One count for every limit, or one per limit of the decision (limits asked their own costs). */
  units: z.union([z.number(), z.array(z.number()).max(16)]).optional(),
});
export const releaseSchema = z.strictObject({ lease: record });
export const adHocSchema = z.strictObject({
  tenant: text,
  key: text.optional(),
  cost: z.number().optional(),
  limits: z.array(record).min(1).max(16),
  /** Per limit, the units asked of it instead of `cost` (requests and tokens in one decision). */
  costs: z.array(z.number()).max(16).optional(),
});

/**
 * The query of a decision route: `answer=compact` asks for `{allowed, status, headers}` only. Other
 * parameters are ignored, as they always were on these routes.
 */
export const answerQuerySchema = z.object({ answer: z.enum(['full', 'compact']).optional() });

/** Parses a body against a schema; the first issue becomes a ValidationError naming its path. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown, root = 'body'): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const keys = issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : [];
  const path = [...issue.path, ...keys]
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('');
  throw new ValidationError('ERR_SLUICE_INVALID_OPTION', `${root}${path}`, issue.message);
}
