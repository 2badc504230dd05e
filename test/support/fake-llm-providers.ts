/**
 * A fake LLM provider on a free port, speaking three wire formats as the SDKs expect them
 * (../shared/reference/llm-sdks.md): OpenAI chat completions (`POST /v1/chat/completions`), Anthropic
 * messages (`POST /v1/messages`) and Gemini (`POST /v1beta/models/{m}:generateContent` and
 * `:streamGenerateContent?alt=sse`), JSON or SSE, with usage, and 429s with each provider's headers.
 *
 * What it answers is planned: `fake.plan({...})` queues the next answers (else the default: an answer
 * of `outputTokens` words, one token each, capped by the request's output bound; input tokens =
 * ceil(prompt characters / 4)). `fake.requests` records every request (path, headers, body).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakePlan {
  /** Words (= tokens) of the answer. Default 8, capped by the request's bound. */
  outputTokens?: number;
  /** Reported input tokens. Default: ceil(prompt characters / 4). */
  inputTokens?: number;
  cachedInputTokens?: number;
  /** Answer 429 with this provider's rate-limit headers, telling the client to come back in `retryAfterMs`. */
  rateLimited?: { retryAfterMs: number };
  /** Streams: destroy the connection after this many content chunks (no usage, no end). */
  breakAfter?: number;
  /** Streams: ms between chunks. */
  chunkDelayMs?: number;
  /** Report no usage at all. */
  noUsage?: boolean;
  /** Answer with this status and a provider error body. */
  status?: number;
  /** Success answers carry the provider's "remaining" rate-limit headers with these values. */
  remaining?: { requests?: number; tokens?: number };
}

export interface FakeRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

export interface FakeProvider {
  /** `http://127.0.0.1:PORT` (OpenAI's baseURL is this + `/v1`; Anthropic's and Gemini's are this). */
  url: string;
  requests: FakeRequest[];
  plan(...plans: FakePlan[]): void;
  close(): Promise<void>;
}

function words(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `w${i % 10} `);
}

function promptChars(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (Array.isArray(value)) return value.reduce((s: number, v) => s + promptChars(v), 0);
  if (value && typeof value === 'object')
    return Object.values(value).reduce((s: number, v) => s + promptChars(v), 0);
  return 0;
}

type Format = 'openai' | 'anthropic' | 'gemini';

function formatOf(path: string): Format | undefined {
  if (path.startsWith('/v1/chat/completions')) return 'openai';
  if (path.startsWith('/v1/messages')) return 'anthropic';
  if (/\/models\/[^/:]+:(generateContent|streamGenerateContent)/.test(path)) return 'gemini';
  return undefined;
}

export async function startFakeProvider(): Promise<FakeProvider> {
  const queue: FakePlan[] = [];
  const requests: FakeRequest[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => {
      raw += d;
    });
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      requests.push({ path, headers: req.headers, body });
      const format = formatOf(path);
      if (!format) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
        return;
      }
      answer(format, path, body, queue.shift() ?? {}, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    plan: (...plans) => queue.push(...plans),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(
  format: Format,
  path: string,
  body: Record<string, unknown>,
  plan: FakePlan,
  res: ServerResponse,
): void {
  if (plan.rateLimited) {
    rateLimited(format, plan.rateLimited.retryAfterMs, res);
    return;
  }
  if (plan.status) {
    providerError(format, plan.status, res);
    return;
  }
  const bound = boundOf(format, body);
  const output = Math.min(plan.outputTokens ?? 8, bound ?? Number.POSITIVE_INFINITY);
  const input =
    plan.inputTokens ??
    Math.ceil(promptChars([body.messages, body.system, body.contents, body.systemInstruction]) / 4);
  const usage = { input, output, cached: plan.cachedInputTokens ?? 0 };
  const stream = format === 'gemini' ? path.includes(':streamGenerateContent') : body.stream === true;
  const model = format === 'gemini' ? (/models\/([^/:]+):/.exec(path)?.[1] ?? 'm') : String(body.model);
  const limits = remainingHeaders(format, plan.remaining);
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json', ...limits });
    res.end(
      JSON.stringify(JSON_BODIES[format](model, words(output).join(''), plan.noUsage ? undefined : usage)),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...limits });
  const includeUsage =
    format !== 'openai' ||
    (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const events = STREAMS[format](model, words(output), plan.noUsage || !includeUsage ? undefined : usage);
  void sendEvents(events, res, plan);
}

async function sendEvents(
  events: Array<{ event?: string; data: string; content?: boolean }>,
  res: ServerResponse,
  plan: FakePlan,
): Promise<void> {
  let contents = 0;
  for (const e of events) {
    if (plan.breakAfter !== undefined && e.content && contents === plan.breakAfter) {
      res.destroy(); // a broken stream: no usage, no end
      return;
    }
    if (e.content) contents += 1;
    if (res.destroyed) return;
    res.write(`${e.event ? `event: ${e.event}\n` : ''}data: ${e.data}\n\n`);
    if (plan.chunkDelayMs) await new Promise((r) => setTimeout(r, plan.chunkDelayMs));
  }
  res.end();
}

function boundOf(format: Format, body: Record<string, unknown>): number | undefined {
  const n = (v: unknown) => (typeof v === 'number' ? v : undefined);
  if (format === 'openai') return n(body.max_completion_tokens) ?? n(body.max_tokens);
  if (format === 'anthropic') return n(body.max_tokens);
  return n((body.generationConfig as Record<string, unknown> | undefined)?.maxOutputTokens);
}

type Usage = { input: number; output: number; cached: number } | undefined;

const JSON_BODIES: Record<Format, (model: string, text: string, usage: Usage) => unknown> = {
  openai: (model, text, u) => ({
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_800_000_000,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    ...(u && {
      usage: {
        prompt_tokens: u.input,
        completion_tokens: u.output,
        total_tokens: u.input + u.output,
        prompt_tokens_details: { cached_tokens: u.cached },
      },
    }),
  }),
  anthropic: (model, text, u) => ({
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: u
      ? {
          input_tokens: u.input - u.cached,
          output_tokens: u.output,
          cache_read_input_tokens: u.cached,
          cache_creation_input_tokens: 0,
        }
      : undefined,
  }),
  gemini: (model, text, u) => ({
    candidates: [{ content: { parts: [{ text }], role: 'model' }, finishReason: 'STOP', index: 0 }],
    ...(u && {
      usageMetadata: {
        promptTokenCount: u.input,
        candidatesTokenCount: u.output,
        totalTokenCount: u.input + u.output,
        cachedContentTokenCount: u.cached,
      },
    }),
    modelVersion: model,
  }),
};

type Event = { event?: string; data: string; content?: boolean };
const j = JSON.stringify;

const STREAMS: Record<Format, (model: string, parts: string[], usage: Usage) => Event[]> = {
  openai: (model, parts, u) => {
    const chunk = (delta: object, finish: string | null) => ({
      id: 'chatcmpl-fake',
      object: 'chat.completion.chunk',
      created: 1_800_000_000,
      model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    });
    return [
      { data: j(chunk({ role: 'assistant', content: '' }, null)) },
      ...parts.map((p) => ({ data: j(chunk({ content: p }, null)), content: true })),
      { data: j(chunk({}, 'stop')) },
      ...(u
        ? [
            {
              data: j({
                id: 'chatcmpl-fake',
                object: 'chat.completion.chunk',
                created: 1_800_000_000,
                model,
                choices: [],
                usage: {
                  prompt_tokens: u.input,
                  completion_tokens: u.output,
                  total_tokens: u.input + u.output,
                },
              }),
            },
          ]
        : []),
      { data: '[DONE]' },
    ];
  },
  anthropic: (model, parts, u) => [
    {
      event: 'message_start',
      data: j({
        type: 'message_start',
        message: {
          id: 'msg_fake',
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: u?.input ?? 0, output_tokens: 1 },
        },
      }),
    },
    {
      event: 'content_block_start',
      data: j({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    },
    ...parts.map((p) => ({
      event: 'content_block_delta',
      data: j({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }),
      content: true,
    })),
    { event: 'content_block_stop', data: j({ type: 'content_block_stop', index: 0 }) },
    {
      event: 'message_delta',
      data: j({
        type: 'message_delta',
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: u?.output ?? parts.length },
      }),
    },
    { event: 'message_stop', data: j({ type: 'message_stop' }) },
  ],
  gemini: (model, parts, u) =>
    parts.map((p, i) => ({
      content: true,
      data: j({
        candidates: [
          {
            content: { parts: [{ text: p }], role: 'model' },
            index: 0,
            ...(i === parts.length - 1 && { finishReason: 'STOP' }),
          },
        ],
        ...(u && {
          usageMetadata: {
            promptTokenCount: u.input,
            candidatesTokenCount: i + 1,
            totalTokenCount: u.input + i + 1,
          },
        }),
        modelVersion: model,
      }),
    })),
};

/** The provider's own names for what its quota has left (Gemini sends none). */
function remainingHeaders(format: Format, remaining: FakePlan['remaining']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!remaining) return out;
  for (const kind of ['requests', 'tokens'] as const) {
    const value = remaining[kind];
    if (value === undefined) continue;
    if (format === 'openai') out[`x-ratelimit-remaining-${kind}`] = String(value);
    if (format === 'anthropic') out[`anthropic-ratelimit-${kind}-remaining`] = String(value);
  }
  return out;
}

function rateLimited(format: Format, retryAfterMs: number, res: ServerResponse): void {
  const seconds = Math.ceil(retryAfterMs / 1000);
  if (format === 'openai') {
    res.writeHead(429, {
      'content-type': 'application/json',
      'retry-after-ms': String(retryAfterMs),
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': `${seconds}s`,
    });
    res.end(j({ error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }));
  } else if (format === 'anthropic') {
    const reset = new Date(Date.now() + retryAfterMs).toISOString();
    res.writeHead(429, {
      'content-type': 'application/json',
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': reset,
    });
    res.end(j({ type: 'error', error: { type: 'rate_limit_error', message: 'Rate limited' } }));
  } else {
    res.writeHead(429, { 'content-type': 'application/json' });
    res.end(
      j({
        error: {
          code: 429,
          message: 'Resource exhausted',
          status: 'RESOURCE_EXHAUSTED',
          details: [
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterMs / 1000}s` },
          ],
        },
      }),
    );
  }
}

function providerError(format: Format, status: number, res: ServerResponse): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  if (format === 'anthropic') res.end(j({ type: 'error', error: { type: 'api_error', message: 'boom' } }));
  else res.end(j({ error: { message: 'boom', type: 'server_error', code: status } }));
}
