import { z } from 'zod';
import { ConfigError, priority, quantity } from './config.js';
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
        tier: z.string().min(1).max(256).optional(),
        rps: quantity.optional(),
        burst: quantity.optional(),
        maxConcurrent: quantity.optional(),
        priority: priority.optional(),
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
  const out = result.data as RuntimeOverrides;
  // Tables keyed by tenant ids and policy names: own properties only ("toString", "__proto__"...).
  if (out.tenants) out.tenants = ownTable(out.tenants);
  if (out.policyModes) out.policyModes = ownTable(out.policyModes);
  return out;
}

/** A copy of a table keyed by untrusted strings, without a prototype: no key reads Object.prototype. */
export function ownTable<T>(table: Record<string, T> | undefined): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  if (table) for (const key of Object.keys(table)) out[key] = table[key] as T;
  return out;
}

/** Reads an own property of a table keyed by untrusted strings (never one of Object.prototype). */
export function own<T>(table: Record<string, T> | undefined, key: string): T | undefined {
  return table !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Largest runtime overrides document accepted (bytes of its body): larger ones are refused and ignored. */
export const MAX_OVERRIDES_BYTES = 1024 * 1024;

/** The runtime overrides document as stored: the overrides, and who wrote them when. */
export interface OverridesDocument {
  overrides: RuntimeOverrides;
  /** The `actor` of the PolicyLimiter that wrote it (absent in documents written by hand). */
  actor?: string;
  /** When it was written (epoch ms). */
  at?: number;
}

const envelopeSchema = z.strictObject({
  overrides: z.unknown(),
  actor: z.string().max(256).optional(),
  at: z.number().int().nonnegative().optional(),
});

/**
 * Parses a stored document body: `{"overrides": {...}, "actor": "...", "at": ...}`, or (written by
 * hand, or by an earlier version) the bare overrides. Bad JSON or content is a ConfigError.
 */
export function parseOverridesDocument(body: string, source = 'runtime overrides'): OverridesDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    throw new ConfigError([{ path: '', message: `not JSON: ${(error as Error).message}` }], source);
  }
  if (typeof raw === 'object' && raw !== null && Object.hasOwn(raw, 'overrides')) {
    const envelope = envelopeSchema.safeParse(raw);
    if (!envelope.success) {
      throw new ConfigError(
        envelope.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
        source,
      );
    }
    const out: OverridesDocument = { overrides: parseOverrides(envelope.data.overrides, source) };
    if (envelope.data.actor !== undefined) out.actor = envelope.data.actor;
    if (envelope.data.at !== undefined) out.at = envelope.data.at;
    return out;
  }
  return { overrides: parseOverrides(raw, source) };
}

/** The stored body of a document. */
export function serializeOverridesDocument(doc: OverridesDocument): string {
  return JSON.stringify(doc);
}
