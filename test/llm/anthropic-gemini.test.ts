/**
 * The real @anthropic-ai/sdk and @google/genai pointed at the fake provider, wrapped: Anthropic's
 * separate input and output token limits, messages.stream settled from message_start and the
 * cumulative message_delta usage; Gemini's generateContent, streams (running totals) and chats all
 * limited through the client's transport; a Gemini 429 (RetryInfo) pausing the pool; seed 004's
 * decorator as a function wrapper.
 */
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LlmLimiter,
  limitGeminiOptions,
  RateLimitExceededError,
  withLlmRateLimit,
  wrapAnthropic,
} from '../../src/llm/index.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-llm-providers.js';

let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider();
});
afterAll(() => fake?.close());

const anthropic = () => new Anthropic({ apiKey: 'fake', baseURL: fake.url, maxRetries: 0 });
const gemini = (llm: LlmLimiter, user: string) =>
  new GoogleGenAI(
    limitGeminiOptions({ apiKey: 'fake', httpOptions: { baseUrl: fake.url } }, { llm, identity: { user } }),
  );
const messages = [{ role: 'user' as const, content: 'Hello there' }];

describe('anthropic, wrapped', () => {
  it('free tier: 5 calls a minute, the 6th refused', async () => {
    const llm = new LlmLimiter();
    const client = wrapAnthropic(anthropic(), { llm, identity: { user: 'f', tier: 'free' } });
    for (let i = 0; i < 5; i++)
      await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages });
    await expect(
      client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages }),
    ).rejects.toBeInstanceOf(RateLimitExceededError);
  });

  it('input and output tokens are limited separately; messages.stream settles from its usage events', async () => {
    const llm = new LlmLimiter({
      providers: {
        anthropic: {
          tiers: { pro: { requestsPerMinute: 50, inputTokensPerMinute: 1000, outputTokensPerMinute: 300 } },
          defaultTier: 'pro',
        },
      },
    });
    const who = { user: 'io' };
    const client = wrapAnthropic(anthropic(), { llm, identity: who });
    // The output bound alone exceeds the output limit: refused whatever the input.
    await expect(
      client.messages.create({ model: 'claude-x', max_tokens: 301, messages }),
    ).rejects.toMatchObject({
      limit: 'anthropic:otpm',
    });
    fake.plan({ inputTokens: 40, outputTokens: 25, chunkDelayMs: 1 });
    const stream = client.messages.stream({ model: 'claude-x', max_tokens: 200, messages });
    const final = await stream.finalMessage();
    expect(final.usage.output_tokens).toBe(25);
    const left = await llm.remaining(who, 'anthropic', 'claude-x');
    expect(left['anthropic:itpm']).toBe(960);
    expect(left['anthropic:otpm']).toBe(275);
    // withResponse survives the wrapper (it is the SDK's own APIPromise).
    fake.plan({ inputTokens: 10, outputTokens: 5 });
    const { response } = await client.messages
      .create({ model: 'claude-x', max_tokens: 50, messages })
      .withResponse();
    expect(response.status).toBe(200);
    expect((await llm.remaining(who, 'anthropic', 'claude-x'))['anthropic:otpm']).toBe(270);
  });
});

describe('gemini, limited through httpOptions.fetch', () => {
  it('generateContent, generateContentStream and chats are all limited and settled', async () => {
    const llm = new LlmLimiter({
      providers: {
        gemini: { tiers: { pro: { requestsPerMinute: 60, tokensPerMinute: 5000 } }, defaultTier: 'pro' },
      },
    });
    const ai = gemini(llm, 'g');
    fake.plan({ inputTokens: 20, outputTokens: 6 });
    const r = await ai.models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Hi',
      config: { maxOutputTokens: 100 },
    });
    expect(r.usageMetadata?.candidatesTokenCount).toBe(6);
    expect((await llm.remaining({ user: 'g' }, 'gemini', 'gemini-2.5-flash'))['gemini:tpm']).toBe(5000 - 26);
    fake.plan({ inputTokens: 10, outputTokens: 9 });
    let text = '';
    for await (const chunk of await ai.models.generateContentStream({
      model: 'gemini-2.5-flash',
      contents: 'Hi',
      config: { maxOutputTokens: 100 },
    }))
      text += chunk.text ?? '';
    expect(text).toBe('w0 w1 w2 w3 w4 w5 w6 w7 w8 ');
    expect((await llm.remaining({ user: 'g' }, 'gemini', 'gemini-2.5-flash'))['gemini:tpm']).toBe(
      5000 - 26 - 19,
    );
    fake.plan({ inputTokens: 5, outputTokens: 5 });
    const chat = ai.chats.create({ model: 'gemini-2.5-flash', config: { maxOutputTokens: 50 } });
    await chat.sendMessage({ message: 'Hello' });
    const left = await llm.remaining({ user: 'g' }, 'gemini', 'gemini-2.5-flash');
    expect(left['gemini:tpm']).toBe(5000 - 26 - 19 - 10);
    expect(left['gemini:rpm']).toBe(57);
  });

  it('a 429 with RetryInfo pauses the pool; the next call is refused without being sent', async () => {
    const llm = new LlmLimiter({
      providers: {
        gemini: {
          tiers: { pro: { requestsPerMinute: 60 } },
          defaultTier: 'pro',
          pool: { requestsPerMinute: 1000 },
        },
      },
    });
    const ai = gemini(llm, 'p');
    fake.plan({ rateLimited: { retryAfterMs: 2000 } });
    await expect(
      ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' }),
    ).rejects.toMatchObject({ status: 429 });
    const before = fake.requests.length;
    const error = await ai.models
      .generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceededError);
    expect((error as RateLimitExceededError).retryAfterMs).toBeGreaterThan(1000);
    expect((error as RateLimitExceededError).retryAfterMs).toBeLessThanOrEqual(2000);
    expect(fake.requests.length).toBe(before);
  });
});

describe("seed 004's @with_llm_rate_limit as a function wrapper", () => {
  it('limits any call site and settles from the result', async () => {
    const llm = new LlmLimiter({
      providers: { openai: { tiers: { free: { requestsPerMinute: 3, tokensPerMinute: 1000 } } } },
    });
    const bare = new OpenAI({ apiKey: 'sk', baseURL: `${fake.url}/v1`, maxRetries: 0 });
    const callOpenAi = withLlmRateLimit(
      {
        llm,
        provider: 'openai',
        identity: (_prompt: string, userId: string, tier: string) => ({ user: userId, tier }),
        request: (prompt: string) => ({
          model: 'gpt-4',
          inputTokens: Math.ceil(prompt.length / 4),
          maxOutputTokens: 50,
        }),
      },
      (prompt: string, _userId: string, _tier: string) =>
        bare.chat.completions.create({
          model: 'gpt-4',
          messages: [{ role: 'user', content: prompt }],
          max_tokens: 50,
        }),
    );
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      fake.plan({ inputTokens: 10, outputTokens: 4 });
      try {
        await callOpenAi(`Test ${i}`, 'user123', 'free');
        results.push('ok');
      } catch (error) {
        results.push(error instanceof RateLimitExceededError ? 'refused' : 'error');
      }
    }
    expect(results).toEqual(['ok', 'ok', 'ok', 'refused']);
    expect((await llm.remaining({ user: 'user123', tier: 'free' }, 'openai', 'gpt-4'))['openai:tpm']).toBe(
      1000 - 3 * 14,
    );
    expect(await llm.usage({ user: 'user123' })).toEqual([
      {
        provider: 'openai',
        model: 'gpt-4',
        calls: 3,
        inputTokens: 30,
        outputTokens: 12,
        cachedInputTokens: 0,
        costUsd: 0,
      },
    ]);
  });
});
