/**
 * The real openai SDK pointed at the fake provider, wrapped: every call and helper limited at the
 * transport, settled from (streamed) usage, refusals thrown as RateLimitExceededError, SDK retries
 * counted, a provider 429 pausing every instance sharing the pool.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, MemoryStore } from '../../src/index.js';
import {
  countPromptTokens,
  LlmLimiter,
  type LlmLimiterOptions,
  type PoolOptions,
  RateLimitExceededError,
  StreamStoppedError,
  withLlmIdentity,
  wrapOpenAI,
} from '../../src/llm/index.js';
import { freshPrefix, useRedis } from '../regressions/support.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-llm-providers.js';

let fake: FakeProvider;
const redis = useRedis();
beforeAll(async () => {
  fake = await startFakeProvider();
});
afterAll(() => fake?.close());

const pro = (limits: Record<string, number>): LlmLimiterOptions => ({
  providers: { openai: { tiers: { pro: { requestsPerMinute: 100, ...limits } }, defaultTier: 'pro' } },
});
const sdk = (maxRetries = 0) => new OpenAI({ apiKey: 'sk-fake', baseURL: `${fake.url}/v1`, maxRetries });
const messages = [{ role: 'user' as const, content: 'Hello there, how are you?' }];
const who = { user: 'u' };
/** The prompt's tokens as reserved: o200k counts of "user" and the content, plus 4 per part and 2. */
let PROMPT = 0;
beforeAll(async () => {
  PROMPT = (await countPromptTokens('openai', 'gpt-4o', ['user', messages[0]?.content as string], 4)).tokens;
});

/** Two instances (LlmLimiters on one Redis, one prefix) sharing an OpenAI pool, each with a wrapped client. */
function twoInstances(pool: PoolOptions) {
  const prefix = freshPrefix();
  const store = () => Object.create(redis.store, { close: { value: async () => {} } });
  const options: LlmLimiterOptions = {
    providers: { openai: { tiers: { pro: { requestsPerMinute: 100 } }, defaultTier: 'pro', pool } },
  };
  const instance = () =>
    new LlmLimiter({ ...options, limiter: createLimiter({ store: store(), prefix, guard: false }) });
  const a = instance();
  const b = instance();
  const clientA = wrapOpenAI(sdk(), { llm: a, identity: { user: 'x', tenant: 't1' } });
  const clientB = wrapOpenAI(sdk(), { llm: b, identity: { user: 'y', tenant: 't2' } });
  return { a, b, clientA, clientB };
}

describe('openai, wrapped', () => {
  it('seed 004: 4 calls on the free tier, the 4th refused before it is sent', async () => {
    const llm = new LlmLimiter();
    const client = wrapOpenAI(sdk(), { llm, identity: { user: 'free-user', tier: 'free' } });
    const before = fake.requests.length;
    for (let i = 0; i < 3; i++)
      await client.chat.completions.create({ model: 'gpt-3.5-turbo', messages, max_tokens: 5 });
    const error = await client.chat.completions
      .create({ model: 'gpt-3.5-turbo', messages, max_tokens: 5 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceededError);
    expect(error).toMatchObject({ limit: 'openai:rpm', remaining: 0 });
    expect((error as RateLimitExceededError).retryAfterMs).toBeGreaterThan(55_000);
    expect(fake.requests.length - before).toBe(3);
  });

  it('create keeps its APIPromise and types; usage settles the reservation exactly', async () => {
    const llm = new LlmLimiter(pro({ tokensPerMinute: 10_000 }));
    const client = wrapOpenAI(sdk(), { llm, identity: who });
    fake.plan({ outputTokens: 7, inputTokens: 20 });
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages, max_tokens: 50 })
      .withResponse();
    expect(response.status).toBe(200);
    expect(data.usage?.completion_tokens).toBe(7);
    expect((await llm.remaining(who, 'openai', 'gpt-4o'))['openai:tpm']).toBe(10_000 - 27);
    // The prompt was counted with gpt-tokenizer (o200k for gpt-4o): 7 tokens + 4 per message + 2.
    expect(fake.requests.at(-1)?.body.max_tokens).toBe(50);
  });

  it('a long call is admitted only when its reservation fits', async () => {
    const llm = new LlmLimiter(pro({ tokensPerMinute: 600 }));
    const client = wrapOpenAI(sdk(), { llm, identity: { user: 'long' } });
    await expect(
      client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 600 }),
    ).rejects.toMatchObject({ limit: 'openai:tpm', retryAfterMs: Number.POSITIVE_INFINITY });
    fake.plan({ outputTokens: 100, inputTokens: 10 });
    await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 400 });
    const left = (await llm.remaining({ user: 'long' }, 'openai', 'gpt-4o'))['openai:tpm'];
    expect(left).toBe(490); // 110 used; the unused 300 were refunded
    await expect(
      client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 480 }),
    ).rejects.toMatchObject({ limit: 'openai:tpm', remaining: 490 });
  });

  it('the .stream() helper is limited and settled from the streamed usage chunk (asked for by the wrapper)', async () => {
    const llm = new LlmLimiter(pro({ tokensPerMinute: 10_000 }));
    const client = wrapOpenAI(sdk(), { llm, identity: { user: 's' } });
    fake.plan({ outputTokens: 12, inputTokens: 30 });
    const stream = client.chat.completions.stream({ model: 'gpt-4o', messages, max_tokens: 100 });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe('w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w0 w1 ');
    expect(fake.requests.at(-1)?.body.stream_options).toEqual({ include_usage: true });
    expect((await llm.remaining({ user: 's' }, 'openai', 'gpt-4o'))['openai:tpm']).toBe(10_000 - 42);
  });

  it('an aborted stream settles from what was streamed; a broken one too', async () => {
    const llm = new LlmLimiter(pro({ tokensPerMinute: 10_000 }));
    const client = wrapOpenAI(sdk(), { llm, identity: { user: 'a' } });
    fake.plan({ outputTokens: 40, inputTokens: 30, chunkDelayMs: 5 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      max_tokens: 1000,
      stream: true,
    });
    let chunks = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) chunks += 1;
      if (chunks === 8) break; // the SDK aborts the request
    }
    await waitFor(
      async () =>
        (await llm.remaining({ user: 'a' }, 'openai', 'gpt-4o'))['openai:tpm'] !== 10_000 - 30 - 1000,
    );
    // No usage came: the prompt's count, and 8 (or a few more, already buffered) chunks of "wN " (3
    // characters each) by the characters rule (ceil(24 / 4) = 6 tokens).
    const left = (await llm.remaining({ user: 'a' }, 'openai', 'gpt-4o'))['openai:tpm'] as number;
    expect(10_000 - left).toBeGreaterThanOrEqual(PROMPT + 6);
    expect(10_000 - left).toBeLessThan(PROMPT + 30);
    fake.plan({ outputTokens: 40, inputTokens: 30, breakAfter: 20, chunkDelayMs: 2 });
    const broken = await client.chat.completions.create({
      model: 'gpt-4o',
      messages,
      max_tokens: 1000,
      stream: true,
    });
    await expect(
      (async () => {
        for await (const _ of broken);
      })(),
    ).rejects.toThrow();
    await waitFor(
      async () =>
        ((await llm.remaining({ user: 'a' }, 'openai', 'gpt-4o'))['openai:tpm'] as number) > left - 1000,
    );
    const after = (await llm.remaining({ user: 'a' }, 'openai', 'gpt-4o'))['openai:tpm'] as number;
    expect(left - after).toBe(PROMPT + 15); // 20 chunks of 3 characters = 60 characters = 15 tokens
  });

  it('a stream past its reservation plus the debt is stopped (stopOverrunningStreams) and settled from what it streamed', async () => {
    const llm = new LlmLimiter({
      ...pro({ tokensPerMinute: 10_000 }),
      debt: { tokens: 5 },
      stopOverrunningStreams: true,
      estimate: { defaultOutputTokens: 10 },
    });
    const client = wrapOpenAI(sdk(), { llm, identity: { user: 'o' } });
    fake.plan({ outputTokens: 40, inputTokens: 30, chunkDelayMs: 1 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true }); // no bound: 10 reserved
    let chunks = 0;
    const error = await (async () => {
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) chunks += 1;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StreamStoppedError);
    expect(chunks).toBe(20); // the 21st chunk takes it to 63 characters = 16 tokens > 10 + 5: not delivered
    const left = (await llm.remaining({ user: 'o' }, 'openai', 'gpt-4o'))['openai:tpm'] as number;
    expect(10_000 - left).toBe(PROMPT + 16); // what the provider streamed (the stopping chunk too), charged
  });

  it('SDK retries are counted: each attempt is a request, and a failed attempt gives its tokens back', async () => {
    const llm = new LlmLimiter(pro({ tokensPerMinute: 10_000 }));
    const client = wrapOpenAI(sdk(2), { llm, identity: { user: 'r' } });
    fake.plan({ status: 500 }, { status: 500 }, { outputTokens: 5, inputTokens: 10 });
    const before = fake.requests.length;
    await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 50 });
    expect(fake.requests.length - before).toBe(3);
    const left = await llm.remaining({ user: 'r' }, 'openai', 'gpt-4o');
    expect(left['openai:rpm']).toBe(97);
    expect(left['openai:tpm']).toBe(10_000 - 15);
  });

  it('the identity of a call can come from withLlmIdentity', async () => {
    const llm = new LlmLimiter();
    const client = wrapOpenAI(sdk(), { llm });
    await withLlmIdentity({ user: 'ctx', tier: 'free' }, () =>
      client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 5 }),
    );
    expect((await llm.remaining({ user: 'ctx', tier: 'free' }, 'openai', 'gpt-4o'))['openai:rpm']).toBe(2);
    await expect(client.chat.completions.create({ model: 'gpt-4o', messages })).rejects.toThrow(
      /no identity/,
    );
  });

  it('a provider 429 pauses every instance of the pool until the instant it gave (Redis)', async () => {
    const { clientA, clientB } = twoInstances({ requestsPerMinute: 1000 });
    fake.plan({ rateLimited: { retryAfterMs: 3000 } });
    const first = await clientA.chat.completions
      .create({ model: 'gpt-4o', messages, max_tokens: 5 })
      .catch((e: unknown) => e);
    expect(first).toBeInstanceOf(OpenAI.RateLimitError); // the provider's own 429, as the SDK reports it
    const before = fake.requests.length;
    const paused = await clientB.chat.completions
      .create({ model: 'gpt-4o', messages, max_tokens: 5 })
      .catch((e: unknown) => e);
    expect(paused).toBeInstanceOf(RateLimitExceededError);
    expect((paused as RateLimitExceededError).decision.reason).toBe('blocked');
    expect((paused as RateLimitExceededError).retryAfterMs).toBeGreaterThan(2000);
    expect((paused as RateLimitExceededError).retryAfterMs).toBeLessThanOrEqual(3000);
    expect(fake.requests.length).toBe(before); // nothing sent
  });

  it("the pool follows the provider's remaining headers: what it says is used elsewhere is charged (Redis)", async () => {
    const { b, clientA, clientB } = twoInstances({
      requestsPerMinute: 100,
      tokensPerMinute: 10_000,
      followRemaining: true,
      refresh: 1,
    });
    fake.plan({ outputTokens: 5, inputTokens: 20, remaining: { requests: 10, tokens: 500 } });
    await clientA.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 5 });
    // Instance b sees the pool as the provider does: 10 requests and 500 tokens left.
    const left = await b.remaining({ user: 'y', tenant: 't2' }, 'openai', 'gpt-4o');
    expect([left['pool:openai:rpm'], left['pool:openai:tpm']]).toEqual([10, 500]);
    fake.plan({ outputTokens: 5, inputTokens: 20, remaining: { requests: 0 } });
    await new Promise((r) => setTimeout(r, 5)); // past `refresh`
    await clientB.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 5 });
    const before = fake.requests.length;
    const refused = await clientA.chat.completions
      .create({ model: 'gpt-4o', messages, max_tokens: 5 })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ limit: 'pool:openai:rpm', remaining: 0 });
    expect(fake.requests.length).toBe(before); // not sent
    // Headers that say more than the pool knows change nothing (it never grows past its own count).
    expect((await b.remaining({ user: 'y', tenant: 't2' }, 'openai', 'gpt-4o'))['pool:openai:tpm']).toBe(
      500 - 25,
    );
  });

  it('memory and the SDK helpers: parse goes through the transport too', async () => {
    const llm = new LlmLimiter({
      ...pro({ tokensPerMinute: 1000 }),
      limiter: createLimiter({ store: new MemoryStore() }),
    });
    const client = wrapOpenAI(sdk(), { llm, identity: { user: 'p' } });
    fake.plan({ outputTokens: 3, inputTokens: 10 });
    await client.chat.completions.parse({ model: 'gpt-4o', messages, max_tokens: 20 });
    expect((await llm.remaining({ user: 'p' }, 'openai', 'gpt-4o'))['openai:tpm']).toBe(987);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
