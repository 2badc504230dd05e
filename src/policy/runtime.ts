import { z } from 'zod';
import { ConfigError } from './config.js';
import { MODES, type Mode, type TenantOverride } from './types.js';

/**
 * Runtime overrides: what operators change without a redeploy (a tenant's tier or quotas, a policy's
 * mode, the global mode). Held in the shared store as one versioned JSON document, so every instance
 * sees the same overrides; layered over the configuration file.
 */
export interface RuntimeOverrides {
  mode?: Mode;
  /** Operator's hand on platform protection: forced open (shed all but the top tier) or closed. */
  platform?: 'open' | 'closed';
  /** Operator's hand on the store circuit breaker: forced open (failure modes decide) or closed. */
  circuit?: 'open' | 'closed';
  /** Bumped to forget every identity's reputation at once (no key scan). */
  reputationEpoch?: number;
  policyModes?: Record<string, Mode>;
  tenants?: Record<string, TenantOverride>;
}

const overridesSchema = z.strictObject({
  mode: z.enum(MODES).optional(),
  platform: z.enum(['open', 'closed']).optional(),
  circuit: z.enum(['open', 'closed']).optional(),
  reputationEpoch: z.number().int().nonnegative().optional(),
  policyModes: z.record(z.string(), z.enum(MODES)).optional(),
  tenants: z
    .record(
      z.string().min(1).max(256),
      z.strictObject({
        tier: z.string().min(1).optional(),
        rps: z.number().int().positive().optional(),
        burst: z.number().int().positive().optional(),
        maxConcurrent: z.number().int().positive().optional(),
        priority: z.number().positive().optional(),
      }),
    )
    .optional(),
});

export function parseOverrides(input: unknown, source = 'runtime overrides'): RuntimeOverrides {
  const result = overridesSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
      source,
    );
  }
  return result.data as RuntimeOverrides;
}
