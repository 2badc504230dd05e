import { stringsOf } from '../tokens.js';
import {
  type Json,
  positiveInt,
  remainingFrom,
  type StreamState,
  standardRetryAt,
  type WireFormat,
} from './wire.js';

/** Anthropic messages (JSON and SSE). Input counts cache writes and reads; reads are also `cachedInputTokens`. */
export const anthropicWire: WireFormat = {
  provider: 'anthropic',
  requestOf(url, body: Json) {
    if (!url.pathname.endsWith('/v1/messages') || typeof body?.model !== 'string') return undefined;
    return {
      model: body.model,
      texts: stringsOf([body.system, body.messages, body.tools]),
      maxOutputTokens: positiveInt(body.max_tokens),
      stream: body.stream === true,
    };
  },
  usageOf(json: Json) {
    const u = json?.usage;
    if (!u || typeof u.input_tokens !== 'number') return undefined;
    const cached = u.cache_read_input_tokens ?? 0;
    return {
      inputTokens: u.input_tokens + (u.cache_creation_input_tokens ?? 0) + cached,
      outputTokens: u.output_tokens ?? 0,
      cachedInputTokens: cached,
    };
  },
  onEvent(state: StreamState, event, data: Json) {
    const type = event ?? data?.type;
    if (type === 'message_start') {
      const usage = this.usageOf(data?.message);
      if (usage) Object.assign(state, usage);
    } else if (type === 'content_block_delta') {
      const delta = data?.delta;
      const text = delta?.text ?? delta?.partial_json ?? delta?.thinking;
      if (typeof text === 'string') state.outputChars += text.length;
    } else if (type === 'message_delta') {
      // Cumulative: overwrite, never add.
      const out = data?.usage?.output_tokens;
      if (typeof out === 'number') state.outputTokens = out;
    }
  },
  remainingOf: (headers) =>
    remainingFrom(
      headers.get('anthropic-ratelimit-requests-remaining'),
      headers.get('anthropic-ratelimit-tokens-remaining'),
    ),
  retryAt(headers, _body, now) {
    const standard = standardRetryAt(headers, now);
    if (standard !== undefined) return standard;
    const resets = ['requests', 'tokens', 'input-tokens', 'output-tokens']
      .filter((k) => headers.get(`anthropic-ratelimit-${k}-remaining`) === '0')
      .map((k) => Date.parse(headers.get(`anthropic-ratelimit-${k}-reset`) ?? ''))
      .filter((t) => !Number.isNaN(t));
    return resets.length > 0 ? Math.max(...resets) : undefined;
  },
};
