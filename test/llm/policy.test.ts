/**
 * The policy model applies to LLM calls: a PolicyLimiter given to the LLM limiter checks every call as
 * a request to the endpoint `llm:<provider>`, in the same reservation; refused by it, the call takes
 * nothing elsewhere; refused elsewhere, the policy's request is given back.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, MemoryStore, PolicyLimiter } from '../../src/index.js';
import { LlmLimiter, RateLimitExceededError } from '../../src/llm/index.js';
import { EPOCH } from '../regressions/support.js';

function policyWith(limit: number) {
  const clock = new ManualClock(EPOCH);
  return new PolicyLimiter({
    config: {
      tierPolicy: { enabled: false },
      policies: [{ name: 'llm-user', scope: 'user', match: ['alice'], limits: [{ limit, window: '1h' }] }],
    },
    store: new MemoryStore({ clock: clock.now }),
  });
}

const call = { provider: 'openai' as const, model: 'gpt-4o', inputTokens: 10, maxOutputTokens: 10 };

describe('LLM calls under the policy model', () => {
  it("a user's policy refuses the call; the tier's counters are left untouched", async () => {
    const llm = new LlmLimiter({ policy: policyWith(2) });
    const alice = { user: 'alice', tenant: 'acme', tier: 'pro' };
    await llm.reserve(alice, call);
    await llm.reserve(alice, call);
    const error = await llm.reserve(alice, call).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceededError);
    expect((error as RateLimitExceededError).decision.binding.name).toMatch(/llm-user|1h/);
    // OpenAI pro: 60/min; the refused call's request was given back there.
    expect((await llm.remaining(alice, 'openai', 'gpt-4o'))['openai:rpm']).toBe(58);
    await llm.reserve({ user: 'bob', tenant: 'acme', tier: 'pro' }, call); // no policy for bob
  });

  it("refused by a tier limit, the policy's request is given back", async () => {
    const policy = policyWith(10);
    const llm = new LlmLimiter({ policy });
    const alice = { user: 'alice', tenant: 'acme', tier: 'free' };
    for (let i = 0; i < 3; i++) await llm.reserve(alice, call);
    await expect(llm.reserve(alice, call)).rejects.toMatchObject({ limit: 'openai:rpm' });
    const peek = await policy.peek({ tenant: 'acme', user: 'alice', endpoint: 'llm:openai' });
    expect(peek.remaining).toBe(7);
  });
});

describe('LLM calls under the policy model, in flight', () => {
  it("a long call keeps the policy's concurrency slot too (renewed through the PolicyLimiter)", async () => {
    const policy = new PolicyLimiter({
      config: {
        tierPolicy: { enabled: false },
        policies: [
          {
            name: 'llm-inflight',
            scope: 'user',
            match: ['alice'],
            limits: [{ algorithm: 'concurrency', limit: 1, window: 400 }],
          },
        ],
      },
      store: new MemoryStore(),
    });
    const llm = new LlmLimiter({ policy });
    const alice = { user: 'alice', tenant: 'acme', tier: 'pro' };
    const long = await llm.reserve(alice, call);
    await new Promise((r) => setTimeout(r, 900)); // past two of the policy's lease TTLs
    const refused = await llm.reserve(alice, call).catch((e: unknown) => e);
    expect((refused as RateLimitExceededError).decision.binding.algorithm).toBe('concurrency');
    await long.settle({ inputTokens: 10, outputTokens: 10 });
    await (await llm.reserve(alice, call)).release();
  });
});
