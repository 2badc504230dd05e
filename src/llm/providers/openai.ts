import { stringsOf } from '../tokens.js';
import {
  type Json,
  parseResetDuration,
  positiveInt,
  remainingFrom,
  type StreamState,
  standardRetryAt,
  type WireFormat,
} from './wire.js';

/** OpenAI chat completions and responses (JSON and SSE). */
export const openAiWire: WireFormat = {
  provider: 'openai',
  requestOf(url, body: Json) {
    if (typeof body !== 'object' || body === null || typeof body.model !== 'string') return undefined;
    const path = url.pathname;
    const stream = body.stream === true;
    if (path.endsWith('/chat/completions')) {
      const max = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens);
      const n = positiveInt(body.n) ?? 1;
      return {
        model: body.model,
        texts: stringsOf([body.messages, body.tools]),
        maxOutputTokens: max === undefined ? undefined : max * n,
        stream,
      };
    }
    if (path.endsWith('/responses')) {
      return {
        model: body.model,
        texts: stringsOf([body.instructions, body.input, body.tools]),
        maxOutputTokens: positiveInt(body.max_output_tokens),
        stream,
      };
    }
    if (path.endsWith('/embeddings'))
      return { model: body.model, texts: stringsOf(body.input), maxOutputTokens: 0, stream: false };
    return undefined;
  },
  rewrite(url, body) {
    // A chat stream reports usage only when asked: ask (the SDK reads the extra chunk without choices).
    if (!url.pathname.endsWith('/chat/completions') || body.stream !== true) return undefined;
    const options = body.stream_options as Json;
    if (options?.include_usage === true) return undefined;
    return { ...body, stream_options: { ...(options ?? {}), include_usage: true } };
  },
  usageOf(json: Json) {
    const u = json?.usage;
    if (!u) return undefined;
    if (typeof u.prompt_tokens === 'number') {
      return {
        inputTokens: u.prompt_tokens,
        outputTokens: u.completion_tokens ?? 0,
        cachedInputTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
      };
    }
    if (typeof u.input_tokens === 'number') {
      return {
        inputTokens: u.input_tokens,
        outputTokens: u.output_tokens ?? 0,
        cachedInputTokens: u.input_tokens_details?.cached_tokens ?? 0,
      };
    }
    return undefined;
  },
  onEvent(state: StreamState, _event, data: Json) {
    if (typeof data !== 'object' || data === null) return;
    if (data.type === 'response.output_text.delta' && typeof data.delta === 'string')
      state.outputChars += data.delta.length;
    const usage = this.usageOf(data.type === 'response.completed' ? data.response : data);
    if (usage) Object.assign(state, usage);
    for (const choice of Array.isArray(data.choices) ? data.choices : []) {
      const delta = choice?.delta;
      if (typeof delta?.content === 'string') state.outputChars += delta.content.length;
      for (const call of Array.isArray(delta?.tool_calls) ? delta.tool_calls : []) {
        if (typeof call?.function?.arguments === 'string')
          state.outputChars += call.function.arguments.length;
      }
    }
  },
  remainingOf: (headers) =>
    remainingFrom(headers.get('x-ratelimit-remaining-requests'), headers.get('x-ratelimit-remaining-tokens')),
  retryAt(headers, _body, now) {
    const standard = standardRetryAt(headers, now);
    if (standard !== undefined) return standard;
    const resets = ['requests', 'tokens']
      .filter((k) => headers.get(`x-ratelimit-remaining-${k}`) === '0')
      .map((k) => parseResetDuration(headers.get(`x-ratelimit-reset-${k}`)))
      .filter((ms): ms is number => ms !== undefined);
    return resets.length > 0 ? now + Math.max(...resets) : undefined;
  },
};
