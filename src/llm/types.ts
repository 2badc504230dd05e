/** The providers `sluice/llm` knows the wire format of. */
export const LLM_PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

/** Who makes a call: a user (the key of the per-user limits), its tenant and its tier. */
export interface LlmIdentity {
  user: string;
  /** Sluice tenant the user's counters live in (default `default`); also the fair-share tenant of a pool. */
  tenant?: string;
  /** Tier whose limits apply (default: the provider's `defaultTier`). */
  tier?: string;
}

/** What a call asks for, before it is sent. */
export interface LlmCallRequest {
  provider: LlmProvider;
  model: string;
  /** Prompt tokens, counted or estimated (see tokens.ts). */
  inputTokens: number;
  /** The call's output bound (`max_tokens` or equivalent); absent: estimated from settled calls. */
  maxOutputTokens?: number;
}

/** Usage the provider reported (or what was counted of a broken stream). */
export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's cache (priced at the cached rate when one is given). */
  cachedInputTokens?: number;
}

/** What a settlement did: given back, charged after the fact, and what the debt could not cover. */
export interface Settlement {
  /** Units given back per dimension (tokens, input, output, cost units). */
  refunded: Record<string, number>;
  /** Excess units charged after the fact per dimension. */
  charged: Record<string, number>;
  /** Excess units no limit had room for, even with the debt: used at the provider, not counted. */
  unbilled: Record<string, number>;
  /** Cost of the call in dollars, from the price table. */
  costUsd: number;
}
