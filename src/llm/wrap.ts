import { LlmConfigError, RateLimitExceededError } from './errors.js';
import type { LlmLimiter } from './llm-limiter.js';
import { type IdentitySource, limitedFetch, refusals, WIRES } from './transport.js';
import type { LlmIdentity, LlmProvider, LlmUsage } from './types.js';

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface WrapOptions {
  llm: LlmLimiter;
  /** Who the calls are for; absent: the identity set by `withLlmIdentity` around the call. */
  identity?: IdentitySource;
}

/** The part of a Stainless SDK client (openai, @anthropic-ai/sdk) the wrapper uses. */
interface StainlessClient {
  fetch: Fetch;
  withOptions(options: { fetch: Fetch }): unknown;
}

/**
 * A copy of a Stainless client (the same class, so the same API and types) whose transport is limited:
 * every HTTP attempt, whatever method or helper made it (`create`, `.stream`, `.parse`, `.runTools`,
 * `messages.stream`...) and every SDK retry, is reserved and settled. A refusal surfaces as a
 * RateLimitExceededError thrown by the SDK's own request path (a 429 it is told not to retry).
 */
function wrapStainless<T extends object>(provider: LlmProvider, sdkClient: T, options: WrapOptions): T {
  // `fetch` and `makeStatusError` are not public in the SDKs' types: the client is typed loosely here.
  const client = sdkClient as unknown as StainlessClient;
  if (typeof client.withOptions !== 'function' || typeof client.fetch !== 'function') {
    throw new LlmConfigError('client', `is not a ${provider} SDK client (no withOptions/fetch)`);
  }
  const fetch = limitedFetch(options.llm, client.fetch, {
    provider,
    identity: options.identity,
    refusal: 'response',
  });
  const wrapped = client.withOptions({ fetch }) as { makeStatusError: (...args: unknown[]) => Error };
  const own = wrapped.makeStatusError;
  wrapped.makeStatusError = function (this: unknown, ...args: unknown[]) {
    const headers = args[3];
    const refusal = headers instanceof Headers ? refusals.get(headers) : undefined;
    return refusal ?? own.apply(this, args);
  };
  return wrapped as unknown as T;
}

/** `wrapOpenAI(new OpenAI(...), { llm, identity })`: the same client, limited. */
export function wrapOpenAI<T extends object>(client: T, options: WrapOptions): T {
  return wrapStainless('openai', client, options);
}

/** `wrapAnthropic(new Anthropic(...), { llm, identity })`: the same client, limited. */
export function wrapAnthropic<T extends object>(client: T, options: WrapOptions): T {
  return wrapStainless('anthropic', client, options);
}

interface GeminiOptions {
  httpOptions?: { fetch?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

/**
 * Options for `new GoogleGenAI(...)` whose transport is limited (`httpOptions.fetch`): models and chats
 * (which share the client's transport) are reserved and settled; a refusal throws RateLimitExceededError.
 */
export function limitGeminiOptions<T extends GeminiOptions>(options: T, wrap: WrapOptions): T {
  const base = (options.httpOptions?.fetch as Fetch | undefined) ?? ((input, init) => fetch(input, init));
  const limited = limitedFetch(wrap.llm, base, {
    provider: 'gemini',
    identity: wrap.identity,
    refusal: 'throw',
  });
  return { ...options, httpOptions: { ...(options.httpOptions ?? {}), fetch: limited } };
}

/** Options of {@link withLlmRateLimit}. */
export interface FunctionLimitOptions<A extends unknown[]> {
  llm: LlmLimiter;
  provider: LlmProvider;
  /** Who the call is for, from its arguments (seed 004: `user_id`, `tier`). */
  identity: (...args: A) => LlmIdentity;
  /** What the call asks for: its model, prompt tokens (estimated) and output bound. */
  request: (...args: A) => { model: string; inputTokens: number; maxOutputTokens?: number };
  /** Its usage from its result; default: the provider's usage fields (`usage`, `usageMetadata`). */
  usage?: (result: unknown) => LlmUsage | undefined;
}

/**
 * Seed 004's `@with_llm_rate_limit` for any call site: reserves before `fn`, settles with the usage of
 * its result (or releases if it throws), and throws RateLimitExceededError without calling it when a
 * limit refuses. For a bare SDK call (a call through a wrapped client is limited already).
 */
export function withLlmRateLimit<A extends unknown[], R>(
  options: FunctionLimitOptions<A>,
  fn: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  const usageOf = options.usage ?? ((result: unknown) => WIRES[options.provider].usageOf(result));
  return async (...args: A) => {
    const request = options.request(...args);
    const reservation = await options.llm.reserve(options.identity(...args), {
      provider: options.provider,
      ...request,
    });
    let result: R;
    try {
      result = await fn(...args);
    } catch (error) {
      await reservation.release();
      throw error;
    }
    const usage = usageOf(result) ?? {
      inputTokens: request.inputTokens,
      outputTokens: reservation.output.tokens,
    };
    await reservation.settle(usage);
    return result;
  };
}

export { RateLimitExceededError };
