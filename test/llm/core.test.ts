/**
 * The reserve/settle core on memory (ManualClock at EPOCH) and Redis: seed 004's tiers, a token limit
 * that admits a call only when its reservation fits, refunds at settlement, excess charged up to the
 * debt, a failed call released, a dead holder's slot expiring, unpriced models refused.
 */
import { describe, expect, it } from 'vitest';
import { createLimiter, ManualClock, MemoryStore } from '../../src/index.js';
import {
  LlmConfigError,
  LlmLimiter,
  type LlmLimiterOptions,
  RateLimitExceededError,
  type Reservation,
} from '../../src/llm/index.js';
import { EPOCH, freshPrefix, useBackends } from '../regressions/support.js';

const backends = useBackends();

function limiterOn(name: 'memory' | 'redis', options: Omit<LlmLimiterOptions, 'limiter'> = {}) {
  const b = name === 'memory' ? backends.memory() : backends.redis();
  // No time budget (a loaded 2-core machine): exact numbers need every decision answered.
  const limiter = createLimiter({ store: b.store, prefix: freshPrefix(), guard: false });
  return { llm: new LlmLimiter({ ...options, limiter }), clock: b.clock };
}

/** What the named limit of a reservation had left right after it was admitted. */
const left = (reservation: Reservation, name: string) =>
  reservation.held.flatMap((h) => h.decision.limits).find((l) => l.name === name)?.remaining;

const openai = (inputTokens: number, maxOutputTokens?: number) => ({
  provider: 'openai' as const,
  model: 'gpt-4o',
  inputTokens,
  maxOutputTokens,
});

describe.each(['memory', 'redis'] as const)('LLM reserve and settle on %s', (name) => {
  it("seed 004: 4 calls on OpenAI's free tier, the 4th refused with a typed error", async () => {
    const { llm } = limiterOn(name);
    const who = { user: 'u1', tier: 'free' };
    for (let i = 0; i < 3; i++)
      await (await llm.reserve(who, openai(10, 10))).settle({ inputTokens: 10, outputTokens: 5 });
    const error = await llm.reserve(who, openai(10, 10)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceededError);
    const refused = error as RateLimitExceededError;
    expect(refused.limit).toBe('openai:rpm');
    expect(refused.remaining).toBe(0);
    expect(refused.retryAfterMs).toBeGreaterThan(59_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    // Anthropic free is 5/min, Gemini free 15/min: their own counters.
    for (let i = 0; i < 5; i++)
      await llm.reserve(who, {
        provider: 'anthropic',
        model: 'claude-x',
        inputTokens: 1,
        maxOutputTokens: 1,
      });
    await expect(
      llm.reserve(who, { provider: 'anthropic', model: 'claude-x', inputTokens: 1, maxOutputTokens: 1 }),
    ).rejects.toThrow(/anthropic:rpm/);
  });

  it('a token limit admits a long call only when its reservation fits, and a short answer is refunded', async () => {
    const { llm } = limiterOn(name, {
      providers: {
        openai: { tiers: { pro: { requestsPerMinute: 100, tokensPerMinute: 1000 } }, defaultTier: 'pro' },
      },
    });
    const who = { user: 'u2' };
    const first = await llm.reserve(who, openai(100, 500)); // 600 reserved
    const refused = await llm.reserve(who, openai(100, 400)).catch((e: RateLimitExceededError) => e); // 500 > 400 left
    expect(refused).toBeInstanceOf(RateLimitExceededError);
    expect((refused as RateLimitExceededError).limit).toBe('openai:tpm');
    expect((refused as RateLimitExceededError).remaining).toBe(400);
    const s = await first.settle({ inputTokens: 100, outputTokens: 50 }); // 150 used: 450 back
    expect(s.refunded.tokens).toBe(450);
    const second = await llm.reserve(who, openai(100, 400));
    expect(left(second, 'openai:tpm')).toBe(1000 - 150 - 500);
    // The refused call's request was never counted (one atomic decision): 2 requests counted.
    expect(left(second, 'openai:rpm')).toBe(98);
  });

  it('a call is one atomic decision over all its limits: a refusal charges none, with nothing to undo', async () => {
    const b = name === 'memory' ? backends.memory() : backends.redis();
    const decided: string[] = [];
    const limiter = createLimiter({
      store: b.store,
      prefix: freshPrefix(),
      guard: false,
      observer: { decided: ({ decision }) => decided.push(decision.limits.map((l) => l.name).join(',')) },
    });
    const refunds: unknown[] = [];
    const refund = limiter.refund.bind(limiter);
    limiter.refund = (...args) => {
      refunds.push(args[1]);
      return refund(...args);
    };
    const llm = new LlmLimiter({
      limiter,
      providers: {
        anthropic: {
          tiers: {
            pro: {
              requestsPerMinute: 5,
              inputTokensPerMinute: 1000,
              outputTokensPerMinute: 300,
              concurrent: 2,
            },
          },
          defaultTier: 'pro',
        },
      },
    });
    const call = (input: number, output: number) =>
      llm.reserve(
        { user: 'a' },
        { provider: 'anthropic', model: 'claude-x', inputTokens: input, maxOutputTokens: output },
      );
    const first = await call(400, 200);
    expect(decided).toEqual(['anthropic:rpm,anthropic:itpm,anthropic:otpm,anthropic:concurrent']);
    expect(first.held[0]?.decision.limits.map((l) => [l.cost, l.remaining])).toEqual([
      [1, 4],
      [400, 600],
      [200, 100],
      [1, 1],
    ]);
    await expect(call(400, 200)).rejects.toThrow(/anthropic:otpm/); // 200 output > 100 left
    expect(decided).toHaveLength(2);
    expect(refunds).toEqual([]); // nothing to give back: the refusal charged nothing
    const next = await call(600, 100); // exactly what is left of each
    expect(next.held[0]?.decision.limits.map((l) => l.remaining)).toEqual([3, 0, 0, 0]);
    // Settled: each limit gets back its own difference in one refund.
    await first.settle({ inputTokens: 400, outputTokens: 50 });
    expect(refunds).toEqual([[0, 0, 150, 0]]);
  });

  it('excess usage is charged up to the debt, never past limit + debt', async () => {
    const { llm } = limiterOn(name, {
      debt: { tokens: 200 },
      providers: {
        openai: { tiers: { pro: { requestsPerMinute: 100, tokensPerMinute: 1000 } }, defaultTier: 'pro' },
      },
    });
    const who = { user: 'u3' };
    const a = await llm.reserve(who, openai(100, 800)); // 900 reserved, 100 left
    const s = await a.settle({ inputTokens: 100, outputTokens: 1200 }); // used 1300: 400 excess, room 100 + 200 debt
    expect(s.charged.tokens).toBe(300);
    expect(s.unbilled.tokens).toBe(100);
    // The window counts 1200 = limit + debt: nothing more is admitted, not even one token.
    const refused = await llm.reserve(who, openai(1, 0)).catch((e: RateLimitExceededError) => e);
    expect(refused).toBeInstanceOf(RateLimitExceededError);
    expect((refused as RateLimitExceededError).remaining).toBe(0);
  });

  it('a failed call gives back every token and frees its slot; the request stays counted', async () => {
    const { llm } = limiterOn(name, {
      providers: {
        openai: {
          tiers: { pro: { requestsPerMinute: 10, tokensPerMinute: 1000, concurrent: 1 } },
          defaultTier: 'pro',
        },
      },
    });
    const who = { user: 'u4' };
    const a = await llm.reserve(who, openai(100, 100));
    await expect(llm.reserve(who, openai(1, 1))).rejects.toThrow(/openai:concurrent/);
    const s = await a.release();
    expect(s.refunded.tokens).toBe(200);
    const b = await llm.reserve(who, openai(100, 100));
    expect(left(b, 'openai:tpm')).toBe(800);
    expect(left(b, 'openai:rpm')).toBe(8);
  });

  it('a model missing from the price table under a budget is an error, never free; an explicit rule prices it', async () => {
    const budget = {
      providers: { openai: { tiers: { free: { requestsPerMinute: 10, costPerDay: 1 } } } },
      prices: { 'gpt-4o': { input: 2.5, output: 10 } },
    };
    const { llm } = limiterOn(name, budget);
    await expect(
      llm.reserve(
        { user: 'u5' },
        { provider: 'openai', model: 'mystery', inputTokens: 1, maxOutputTokens: 1 },
      ),
    ).rejects.toBeInstanceOf(LlmConfigError);
    // 'gpt-4o-2024-08-06' is priced by its prefix: 1000 in + 1000 out = $0.0125 = 12500 micro-dollars.
    const r = await llm.reserve(
      { user: 'u5' },
      { provider: 'openai', model: 'gpt-4o-2024-08-06', inputTokens: 1000, maxOutputTokens: 1000 },
    );
    expect(r.reserved.cost).toBe(12_500);
    const s = await r.settle({ inputTokens: 1000, outputTokens: 100 }); // $0.0035
    expect(s.refunded.cost).toBe(9000);
    expect(s.costUsd).toBeCloseTo(0.0035, 10);
    const ruled = limiterOn(name, { ...budget, unpriced: { input: 100, output: 100 } }).llm;
    const big = await ruled.reserve(
      { user: 'u5' },
      { provider: 'openai', model: 'mystery', inputTokens: 1000, maxOutputTokens: 1000 },
    );
    expect(big.reserved.cost).toBe(200_000);
  });
});

describe('dead holders and estimates (memory, ManualClock)', () => {
  it("a dead holder's slot frees itself after the lease TTL; its tokens leave with the window", async () => {
    const clock = new ManualClock(EPOCH);
    const limiter = createLimiter({ store: new MemoryStore({ clock: clock.now }) });
    const llm = new LlmLimiter({
      limiter,
      leaseTtl: '30s',
      providers: {
        openai: {
          tiers: { pro: { requestsPerMinute: 10, tokensPerMinute: 500, concurrent: 1 } },
          defaultTier: 'pro',
        },
      },
    });
    await llm.reserve({ user: 'd' }, openai(100, 100)); // the holder dies: never settled
    clock.advance(29_999);
    await expect(llm.reserve({ user: 'd' }, openai(1, 1))).rejects.toThrow(/openai:concurrent/);
    clock.advance(1);
    const next = await llm.reserve({ user: 'd' }, openai(100, 100));
    expect(left(next, 'openai:tpm')).toBe(100);
    clock.advance(30_000); // the dead call's 200 tokens left the 1-minute window
    await next.release();
    const later = await llm.reserve({ user: 'd' }, openai(100, 100));
    expect(left(later, 'openai:tpm')).toBe(300);
  });

  it('without max_tokens the output is estimated from settled calls (p95 of the last ones) and excesses are reported', async () => {
    const llm = new LlmLimiter({
      estimate: { defaultOutputTokens: 1000, history: 20 },
      providers: { openai: { tiers: { pro: { requestsPerMinute: 1000 } }, defaultTier: 'pro' } },
    });
    const who = { user: 'e', tenant: 't' };
    const first = await llm.reserve(who, openai(10));
    expect(first.output).toEqual({ tokens: 1000, estimated: true });
    await first.settle({ inputTokens: 10, outputTokens: 50 });
    for (let i = 0; i < 18; i++)
      await (await llm.reserve(who, openai(10))).settle({ inputTokens: 10, outputTokens: 50 });
    const estimated = await llm.reserve(who, openai(10));
    expect(estimated.output).toEqual({ tokens: 50, estimated: true });
    await estimated.settle({ inputTokens: 10, outputTokens: 80 });
    const bounded = await llm.reserve(who, openai(10, 70));
    expect(bounded.output).toEqual({ tokens: 70, estimated: false });
    expect(llm.estimates()).toEqual({
      estimated: 20,
      exceeded: 1,
      excessTokens: 30,
      maxExcess: 30,
      subjects: 1,
    });
    expect(await llm.usage({ user: 'e', tenant: 't' })).toEqual([
      {
        provider: 'openai',
        model: 'gpt-4o',
        calls: 20,
        inputTokens: 200,
        outputTokens: 50 * 19 + 80,
        cachedInputTokens: 0,
        costUsd: 0,
      },
    ]);
  });

  it('options are strict, every problem named', () => {
    expect(
      () => new LlmLimiter({ providers: { openai: { tiers: { free: { requestsPerMinut: 3 } } } } } as never),
    ).toThrow(/requestsPerMinut/);
    expect(() => new LlmLimiter({ debts: {} } as never)).toThrow(/debts/);
    expect(() => new LlmLimiter({ providers: { openai: { defaultTier: 'gold' } } })).toThrow(/defaultTier/);
  });
});

describe("providers' remaining headers", () => {
  it('are read strictly: whole numbers only, anything else ignored', async () => {
    const { remainingFrom } = await import('../../src/llm/providers/wire.js');
    expect(remainingFrom('12', '3400')).toEqual({ requests: 12, tokens: 3400 });
    expect(remainingFrom('12', 'lots')).toEqual({ requests: 12 });
    for (const hostile of ['-1', '1e9', '1.5', ' 7', '9999999999999', '', null]) {
      expect(remainingFrom(hostile, null), String(hostile)).toBeUndefined();
    }
  });
});

describe('long calls keep their slot (real time, memory and Redis)', () => {
  it.each(['memory', 'redis'] as const)(
    'on %s: a call in flight past its lease TTL is renewed, up to maxCallDuration; settled, it frees the slot',
    async (name) => {
      const store = name === 'memory' ? new MemoryStore() : backends.redis().store;
      const limiter = createLimiter({ store, prefix: freshPrefix(), guard: false });
      const llm = new LlmLimiter({
        limiter,
        leaseTtl: 400,
        maxCallDuration: 1000,
        providers: { openai: { tiers: { pro: { concurrent: 1 } }, defaultTier: 'pro' } },
      });
      const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const long = await llm.reserve({ user: 'l' }, openai(10, 10));
      await wait(900); // past two TTLs: held only because it was renewed
      await expect(llm.reserve({ user: 'l' }, openai(1, 1))).rejects.toThrow(/openai:concurrent/);
      await long.settle({ inputTokens: 10, outputTokens: 10 });
      const next = await llm.reserve({ user: 'l' }, openai(1, 1)); // freed at once by the settlement
      // Never settled: renewed for maxCallDuration (1 s), then freed a TTL later.
      await wait(1000 + 400 + 200);
      await (await llm.reserve({ user: 'l' }, openai(1, 1))).release();
      void next;
    },
  );
});
