/** Bodies and query strings of the admin API (strict: unknown fields are errors). */
import { z } from 'zod';
import { MAX_USAGE_HOURS } from '../llm/usage.js';

const text = z.string().min(1).max(1024);
const identity = { user: text.optional(), ip: text.optional() };

export const countQuery = z.strictObject({ count: z.coerce.number().int().min(1).max(10_000).optional() });
export const llmUsageQuery = z.strictObject({
  hours: z.coerce.number().int().min(1).max(MAX_USAGE_HOURS).optional(),
  user: text.optional(),
  top: z.coerce.number().int().min(0).max(100).optional(),
});
export const statusQuery = z.strictObject({
  ...identity,
  endpoint: text.optional(),
  roles: text.optional(),
});
export const limitResetBody = z.strictObject({
  ...identity,
  endpoint: text.optional(),
  roles: z.array(text).max(32).optional(),
  policy: text.optional(),
  limit: text.optional(),
});
export const overrideBody = z.strictObject({ override: z.record(z.string(), z.unknown()).nullable() });
export const tierBody = z.strictObject({ tier: text.nullable() });
export const modeBody = z.strictObject({
  mode: z.enum(['enforce', 'shadow', 'disabled']).nullable(),
  policy: text.optional(),
});
export const forcedBody = z.strictObject({ state: z.enum(['open', 'closed']).nullable() });
export const blockBody = z.strictObject({
  tenant: text,
  ...identity,
  duration: z.union([text, z.number()]),
});
export const targetBody = z.strictObject({ tenant: text, ...identity });
