import { z } from 'zod';
import { ConfigError } from '../policy/config.js';
import { LLM_PROVIDERS } from './types.js';

/** A quantity that becomes a Sluice limit: 1 to 10^9. */
const quantity = z.number().int().positive().max(1_000_000_000);
const dollars = z.number().positive().finite();
const duration = z.union([z.string().min(1), z.number().int().positive()]);

/** The limits of one tier (or one model within a tier), each optional. */
export const tierLimitsSchema = z.strictObject({
  requestsPerMinute: quantity.optional(),
  requestsPerDay: quantity.optional(),
  tokensPerMinute: quantity.optional(),
  tokensPerDay: quantity.optional(),
  /** Anthropic counts input and output separately (ITPM/OTPM). */
  inputTokensPerMinute: quantity.optional(),
  outputTokensPerMinute: quantity.optional(),
  inputTokensPerDay: quantity.optional(),
  outputTokensPerDay: quantity.optional(),
  /** Money budgets, in dollars, from the price table (a 30-day window for the month). */
  costPerDay: dollars.optional(),
  costPerMonth: dollars.optional(),
  /** Calls in flight at once. */
  concurrent: quantity.optional(),
});
export type TierLimits = z.infer<typeof tierLimitsSchema>;

const weight = z.number().positive().finite();

/** A provider-wide quota (the organisation's key) shared among tenants by weight. */
export const poolSchema = z.strictObject({
  requestsPerMinute: quantity.optional(),
  tokensPerMinute: quantity.optional(),
  /** Tenant weights under contention (default weight `defaultWeight`). */
  weights: z.record(z.string().min(1), weight).optional(),
  defaultWeight: weight.optional(),
  /** A tenant that made no call for this long is idle: its share goes to the others. Default 10s. */
  activeWindow: duration.optional(),
  /** How often an instance reads which tenants are active. Default 1s. */
  refresh: duration.optional(),
  /**
   * Follow the provider's own count: when a response says its quota has fewer requests or tokens
   * left (OpenAI's `x-ratelimit-remaining-*`, Anthropic's `anthropic-ratelimit-*-remaining`) than
   * the pool thinks, the difference is charged to the pool (at most once per `refresh` per
   * instance), so the pool never sends more than the provider will take (the key is also used
   * elsewhere, or the quota shrank). Use it when the pool is one provider quota. Default false.
   */
  followRemaining: z.boolean().optional(),
});
export type PoolOptions = z.infer<typeof poolSchema>;

export const providerSchema = z.strictObject({
  tiers: z.record(z.string().min(1), tierLimitsSchema).optional(),
  defaultTier: z.string().min(1).optional(),
  /** Per model, per tier: more limits on top of the tier's (counted per user and model). */
  models: z.record(z.string().min(1), z.record(z.string().min(1), tierLimitsSchema)).optional(),
  pool: poolSchema.optional(),
});
export type ProviderOptions = z.infer<typeof providerSchema>;

/** Dollars per million tokens. */
export const priceSchema = z.strictObject({
  input: z.number().nonnegative().finite(),
  output: z.number().nonnegative().finite(),
  cachedInput: z.number().nonnegative().finite().optional(),
});
export type Price = z.infer<typeof priceSchema>;

export const estimateSchema = z.strictObject({
  /** Characters per token for models without a bundled tokenizer. Default 4. */
  charsPerToken: z.number().positive().max(100).optional(),
  /** Output reserved when a call sets no bound and nothing was settled yet. Default 1024. */
  defaultOutputTokens: quantity.optional(),
  /** Largest output ever reserved from history (a call's own bound is kept). Default 16384. */
  maxOutputTokens: quantity.optional(),
  /** Per tenant and model, how many settled calls the estimate remembers (bounded). Default 64. */
  history: z.number().int().min(1).max(10_000).optional(),
  /** Tenants x models remembered (least recently used go first). Default 10000. */
  maxSubjects: z.number().int().min(1).max(10_000_000).optional(),
});

export const llmOptionsShape = {
  providers: z.partialRecord(z.enum(LLM_PROVIDERS), providerSchema).optional(),
  prices: z.record(z.string().min(1), priceSchema).optional(),
  /** What a call to a model missing from `prices` costs under a budget: an error (default) or this price. */
  unpriced: z.union([z.literal('error'), priceSchema]).optional(),
  /** How far a settlement may take a limit past its size to charge what a call used beyond its reservation. */
  debt: z
    .strictObject({
      tokens: z.number().int().nonnegative().max(1_000_000_000).optional(),
      cost: z.number().nonnegative().finite().optional(),
    })
    .optional(),
  /**
   * Stop a stream whose output runs past its reserved output plus `debt.tokens` (counted as it passes):
   * the stream errors with ERR_SLUICE_LLM_STREAM_STOPPED and settles from what was streamed. Default false.
   */
  stopOverrunningStreams: z.boolean().optional(),
  /** Cost units per dollar (the budgets' integer unit). Default 10^6 (micro-dollars). */
  costUnitsPerDollar: z.number().int().positive().max(1_000_000_000).optional(),
  /**
   * Lease TTL of a call in flight: a holder that dies frees its slot after this. A live call renews
   * its lease every third of it (a stream may outlast it), up to `maxCallDuration`. Default 10m.
   */
  leaseTtl: duration.optional(),
  /**
   * How long a call's slot is kept renewed while it is in flight (a call never settled, a stream
   * nobody reads, stops being renewed then and frees its slot a lease TTL later). Default 1h.
   */
  maxCallDuration: duration.optional(),
  estimate: estimateSchema.optional(),
  /** Usage (in the store, by epoch hour) kept for this many hours: each usage key's TTL. Default 24. */
  usageHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 31)
    .optional(),
  /**
   * Identities whose usage is kept on their own, per tenant and hour. Default 10000. Past it, a new
   * identity's calls of that hour count in the tenant's totals only.
   */
  maxUsageIdentities: z.number().int().min(1).max(1_000_000).optional(),
  /** Provider x model series kept per tenant (and per identity) and hour; past it, model `*`. Default 100. */
  maxUsageModels: z.number().int().min(1).max(10_000).optional(),
};
const llmOptionsSchema = z.strictObject(llmOptionsShape);
export type LlmConfig = z.infer<typeof llmOptionsSchema>;

/** Validates the configuration part of the options; every problem named by its path, in one ConfigError. */
export function parseLlmConfig(input: unknown): LlmConfig {
  const parsed = llmOptionsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
      'LLM limiter options',
    );
  }
  return parsed.data;
}

/** Seed 004's tiers (requests per minute per user), the defaults when a provider sets no tiers. */
export const DEFAULT_LLM_TIERS: Readonly<Record<(typeof LLM_PROVIDERS)[number], Record<string, TierLimits>>> =
  Object.freeze({
    openai: {
      free: { requestsPerMinute: 3 },
      pro: { requestsPerMinute: 60 },
      enterprise: { requestsPerMinute: 500 },
    },
    anthropic: {
      free: { requestsPerMinute: 5 },
      pro: { requestsPerMinute: 50 },
      enterprise: { requestsPerMinute: 500 },
    },
    gemini: {
      free: { requestsPerMinute: 15 },
      pro: { requestsPerMinute: 60 },
      enterprise: { requestsPerMinute: 1000 },
    },
  });
