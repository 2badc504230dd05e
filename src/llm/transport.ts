import { AsyncLocalStorage } from 'node:async_hooks';
import { RateLimitExceededError, StreamStoppedError } from './errors.js';
import type { LlmLimiter } from './llm-limiter.js';
import { anthropicWire } from './providers/anthropic.js';
import { geminiWire } from './providers/gemini.js';
import { openAiWire } from './providers/openai.js';
import type { StreamState, WireFormat } from './providers/wire.js';
import type { Reservation } from './reservation.js';
import { countPromptTokens } from './tokens.js';
import type { LlmIdentity, LlmProvider, LlmUsage } from './types.js';

export const WIRES: Record<LlmProvider, WireFormat> = {
  openai: openAiWire,
  anthropic: anthropicWire,
  gemini: geminiWire,
};

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Who a call is for: fixed, computed per call, or (absent) the one set by `withLlmIdentity`. */
export type IdentitySource = LlmIdentity | (() => LlmIdentity | undefined);

const current = new AsyncLocalStorage<LlmIdentity>();

/** Runs `fn` with calls made inside it (through any wrapped client) counted for `identity`. */
export function withLlmIdentity<T>(identity: LlmIdentity, fn: () => T): T {
  return current.run(identity, fn);
}

/** Tells a wrapped SDK client that a refusal response is Sluice's: the error to throw instead of its own. */
export const refusals = new WeakMap<Headers, Error>();

export interface TransportOptions {
  provider: LlmProvider;
  identity?: IdentitySource;
  /** What a refusal becomes: a synthetic 429 the SDK turns into the error (openai, anthropic), or a throw. */
  refusal: 'response' | 'throw';
}

/**
 * A fetch that limits every metered request it carries (every attempt, so SDK retries are counted):
 * reserve before sending, settle from the usage of the JSON body or of the SSE stream as it passes
 * (a broken or aborted stream settles from what was streamed), release on a failure, and pause the
 * provider's pool on a 429 until the instant it gave.
 */
export function limitedFetch(llm: LlmLimiter, base: Fetch, options: TransportOptions): Fetch {
  const wire = WIRES[options.provider];
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const parsed = parseBody(init?.body);
    const call = parsed ? wire.requestOf(url, parsed) : undefined;
    if (!call || !parsed) return base(input, init);
    const rewritten = wire.rewrite?.(url, parsed);
    const sent = rewritten ? { ...init, body: JSON.stringify(rewritten) } : init;
    const { tokens } = await countPromptTokens(options.provider, call.model, call.texts, llm.charsPerToken);
    let reservation: Reservation;
    try {
      const identity = identityOf(options.identity);
      reservation = await llm.reserve(identity, {
        provider: options.provider,
        model: call.model,
        inputTokens: tokens,
        maxOutputTokens: call.maxOutputTokens,
      });
    } catch (error) {
      // Thrown from a fetch, the SDK would retry it and report a connection error: it is answered instead.
      if (options.refusal === 'response' && error instanceof Error) return refusalResponse(error);
      throw error;
    }
    let response: Response;
    try {
      response = await base(input, sent);
    } catch (error) {
      await reservation.release();
      throw error;
    }
    return settleResponse(llm, wire, tokens, reservation, response);
  };
}

async function settleResponse(
  llm: LlmLimiter,
  wire: WireFormat,
  input: number,
  reservation: Reservation,
  response: Response,
): Promise<Response> {
  if (!response.ok) {
    await reservation.release();
    if (response.status === 429 && llm.hasPool(wire.provider)) {
      const body =
        wire.provider === 'gemini'
          ? await response
              .clone()
              .text()
              .catch(() => '')
          : '';
      const at = wire.retryAt(response.headers, body, Date.now());
      if (at !== undefined) await llm.pause(wire.provider, at);
    }
    return response;
  }
  // After settlement: the pool then counts what this call used, as the provider's headers do.
  const follow = () => llm.followProvider(wire.provider, wire.remainingOf?.(response.headers));
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('text/event-stream') && response.body)
    return meteredStream(llm, wire, input, reservation, response, follow);
  // Read once and handed on as a new response (a clone tees the body: slower, and held twice).
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    await reservation.settle(counted(llm, { outputChars: 0 }, input));
    throw error;
  }
  await reservation.settle(wire.usageOf(parseJson(text)) ?? counted(llm, { outputChars: 0 }, input));
  await follow();
  return new Response(text, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What a stream without reported usage used: the reported parts, else the prompt estimate and the characters rule. */
function counted(llm: LlmLimiter, state: StreamState, input: number): LlmUsage {
  return {
    inputTokens: state.inputTokens ?? input,
    outputTokens: state.outputTokens ?? Math.ceil(state.outputChars / llm.charsPerToken),
    cachedInputTokens: state.cachedInputTokens ?? 0,
  };
}

/** The response, its body passed through an SSE reader that settles at the end, on a break or on a cancel. */
function meteredStream(
  llm: LlmLimiter,
  wire: WireFormat,
  input: number,
  reservation: Reservation,
  response: Response,
  settled: () => Promise<void>,
): Response {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const state: StreamState = { outputChars: 0 };
  const events = new SseReader((event, data) => wire.onEvent(state, event, data));
  const finish = () =>
    reservation
      .settle(counted(llm, state, input))
      .then(settled)
      .catch(() => undefined);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        await finish();
        controller.error(error);
        return;
      }
      if (chunk.done) {
        events.end();
        await finish();
        controller.close();
        return;
      }
      events.push(chunk.value);
      const overrun = overrunOf(llm, state, reservation);
      if (overrun) {
        await finish();
        await reader.cancel(overrun).catch(() => undefined);
        controller.error(overrun);
        return;
      }
      controller.enqueue(chunk.value);
    },
    async cancel(reason) {
      await finish();
      await reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** The error that stops a stream past its reserved output plus the debt, when streams are stopped. */
function overrunOf(
  llm: LlmLimiter,
  state: StreamState,
  reservation: Reservation,
): StreamStoppedError | undefined {
  if (llm.streamOverrun === undefined) return undefined;
  const output = state.outputTokens ?? Math.ceil(state.outputChars / llm.charsPerToken);
  const allowed = reservation.output.tokens + llm.streamOverrun;
  return output > allowed ? new StreamStoppedError(output, allowed) : undefined;
}

/** Splits an SSE byte stream into events (`event:` and `data:` lines), parsing each data as JSON. */
class SseReader {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  constructor(private readonly onEvent: (event: string | undefined, data: unknown) => void) {}

  push(bytes: Uint8Array): void {
    this.buffer += this.decoder.decode(bytes, { stream: true });
    let end = this.boundary();
    while (end >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end).replace(/^(\r?\n)+/, '');
      this.dispatch(block);
      end = this.boundary();
    }
  }

  end(): void {
    if (this.buffer.trim()) this.dispatch(this.buffer);
    this.buffer = '';
  }

  private boundary(): number {
    const lf = this.buffer.indexOf('\n\n');
    const crlf = this.buffer.indexOf('\r\n\r\n');
    if (lf < 0) return crlf;
    return crlf < 0 ? lf : Math.min(lf, crlf);
  }

  private dispatch(block: string): void {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    const text = data.join('\n');
    if (!text || text === '[DONE]') return;
    try {
      this.onEvent(event, JSON.parse(text));
    } catch {
      // a non-JSON event: nothing to count
    }
  }
}

function parseBody(body: unknown): Record<string, unknown> | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const value = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function identityOf(source: IdentitySource | undefined): LlmIdentity {
  const identity = typeof source === 'function' ? source() : (source ?? current.getStore());
  const resolved = identity ?? current.getStore();
  if (!resolved || typeof resolved.user !== 'string') {
    throw new TypeError(
      'sluice/llm: no identity for this call: give the wrapper an identity, or call inside withLlmIdentity()',
    );
  }
  return resolved;
}

/**
 * A response the SDK will not retry (`x-should-retry: false`): a 429 for a refusal, a 400 for any other
 * error (no identity, an unpriced model), mapped back to that error by the wrapped client.
 */
function refusalResponse(error: Error): Response {
  const headers = new Headers({ 'content-type': 'application/json', 'x-should-retry': 'false' });
  const refused = error instanceof RateLimitExceededError;
  if (refused) {
    const wait = Number.isFinite(error.retryAfterMs) ? error.retryAfterMs : 0;
    headers.set('retry-after-ms', String(wait));
    headers.set('retry-after', String(Math.ceil(wait / 1000)));
    headers.set('x-sluice-limit', error.limit);
    headers.set('x-sluice-remaining', String(error.remaining));
  }
  const body = {
    error: {
      message: error.message,
      type: refused ? 'rate_limit_exceeded' : 'sluice_error',
      code: (error as { code?: string }).code ?? null,
    },
  };
  const response = new Response(JSON.stringify(body), { status: refused ? 429 : 400, headers });
  refusals.set(response.headers, error);
  return response;
}
