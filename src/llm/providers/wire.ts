import type { LlmProvider, LlmUsage } from '../types.js';

/** What a metered request asks for, read from its URL and JSON body. */
export interface WireRequest {
  model: string;
  /** Every string of the prompt (messages, system, tools), one entry per part. */
  texts: string[];
  maxOutputTokens?: number;
  stream: boolean;
}

/** What a stream told so far: the usage it reported (if any) and the characters of output it carried. */
export interface StreamState {
  inputTokens?: number;
  outputTokens?: number;
  cachedInputTokens?: number;
  /** Characters of generated text (or tool arguments) streamed. */
  outputChars: number;
}

/** One provider's wire format. */
export interface WireFormat {
  readonly provider: LlmProvider;
  /** The call a request makes, or undefined for requests that generate nothing (lists, token counts). */
  requestOf(url: URL, body: unknown): WireRequest | undefined;
  /** The body to send instead (OpenAI: ask a stream for its usage), or undefined to send it as it is. */
  rewrite?(url: URL, body: Record<string, unknown>): Record<string, unknown> | undefined;
  /** Usage of a JSON response. */
  usageOf(json: unknown): LlmUsage | undefined;
  /** One SSE event (its `event:` name and parsed `data:`), folded into the stream's state. */
  onEvent(state: StreamState, event: string | undefined, data: unknown): void;
  /** The instant (epoch ms) a 429 says to come back at, from its headers or body. */
  retryAt(headers: Headers, body: string, now: number): number | undefined;
  /** What the provider's own quota has left, from a response's headers (providers that send them). */
  remainingOf?(headers: Headers): ProviderRemaining | undefined;
}

/** Requests and tokens a provider says its quota (the organisation's key) has left. */
export interface ProviderRemaining {
  requests?: number;
  tokens?: number;
}

/** ProviderRemaining from two headers (absent or not a whole number: left out; neither: undefined). */
export function remainingFrom(requests: string | null, tokens: string | null): ProviderRemaining | undefined {
  const out: ProviderRemaining = {};
  const whole = (text: string | null) =>
    text !== null && /^\d{1,12}$/.test(text) ? Number(text) : undefined;
  const r = whole(requests);
  const t = whole(tokens);
  if (r !== undefined) out.requests = r;
  if (t !== undefined) out.tokens = t;
  return r === undefined && t === undefined ? undefined : out;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the wire
export type Json = any;

/** `retry-after-ms`, then `retry-after` (seconds or an HTTP date). */
export function standardRetryAt(headers: Headers, now: number): number | undefined {
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return now + ms;
  const after = headers.get('retry-after');
  if (after === null) return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds) && seconds >= 0) return now + seconds * 1000;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : date;
}

/** Go-style durations of OpenAI's reset headers and Gemini's retryDelay: "20ms", "1s", "6m0s", "1.5s". */
export function parseResetDuration(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0) return undefined;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * (unit[p[2] as string] as number), 0);
}

export function positiveInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}
