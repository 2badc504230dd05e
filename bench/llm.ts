/**
 * `npm run bench:llm`: the overhead of a wrapped OpenAI client over the bare one, on the fake provider
 * (test/support/fake-llm-providers.ts), with the counters in memory and in Redis (a throwaway
 * redis-server, or BENCH_REDIS_URL), and the fair-share figures of a contended pool. Calls are
 * sequential (one in flight: the latency a caller sees); rounds alternate bare, memory and Redis so
 * that drift hits all three alike. Writes bench/results/llm.md.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import OpenAI from 'openai';
import { createLimiter, ManualClock, MemoryStore, RedisStore } from '../dist/index.js';
import { LlmLimiter, RateLimitExceededError, wrapOpenAI } from '../dist/llm.js';
import { startFakeProvider } from '../test/support/fake-llm-providers.js';
import { provideRedis } from './lib/redis-server.js';

const ROUNDS = Number(process.env.BENCH_LLM_ROUNDS ?? 10);
const CALLS = Number(process.env.BENCH_LLM_CALLS ?? 300);
const WARMUP = 200;
const big = 1_000_000_000;
const tiers = {
  providers: {
    openai: {
      tiers: { pro: { requestsPerMinute: big, tokensPerMinute: big, concurrent: 1000 } },
      defaultTier: 'pro',
    },
  },
} as const;
const messages = [
  { role: 'user' as const, content: 'Summarise the plot of Hamlet in two sentences, please.' },
];

type Call = () => Promise<unknown>;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number;
}

async function timed(call: Call, n: number, into: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await call();
    into.push(performance.now() - start);
  }
}

async function overhead(): Promise<string[]> {
  const fake = await startFakeProvider();
  const redis = await provideRedis();
  const store = new RedisStore({ url: redis.url });
  await store.ready();
  const bare = new OpenAI({ apiKey: 'sk', baseURL: `${fake.url}/v1`, maxRetries: 0 });
  const memoryLlm = new LlmLimiter({ ...tiers, limiter: createLimiter({ store: new MemoryStore() }) });
  // A 1 s time budget (default 50 ms): the machine is shared, and a refusal would end the run.
  const redisLlm = new LlmLimiter({
    ...tiers,
    limiter: createLimiter({ store, prefix: `benchllm${Date.now()}`, guard: { budgetMs: 1000 } }),
  });
  const memoryClient = wrapOpenAI(bare, { llm: memoryLlm, identity: { user: 'bench' } });
  const redisClient = wrapOpenAI(bare, { llm: redisLlm, identity: { user: 'bench' } });
  const make =
    (client: OpenAI): Call =>
    () =>
      client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 64 });
  const calls: Record<string, Call> = {
    bare: make(bare),
    memory: make(memoryClient),
    redis: make(redisClient),
  };
  const samples: Record<string, number[]> = { bare: [], memory: [], redis: [] };
  for (const call of Object.values(calls)) await timed(call, WARMUP, []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, call] of Object.entries(calls)) await timed(call, CALLS, samples[name] as number[]);
  }
  await Promise.all([memoryLlm.close(), redisLlm.close()]);
  await fake.close();
  await redis.stop();
  const stats = Object.fromEntries(
    Object.entries(samples).map(([name, s]) => {
      const sorted = [...s].sort((a, b) => a - b);
      return [name, { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), n: s.length }];
    }),
  ) as Record<string, { p50: number; p99: number; n: number }>;
  const base = stats.bare as { p50: number; p99: number };
  const row = (name: string) => {
    const s = stats[name] as { p50: number; p99: number; n: number };
    const added =
      name === 'bare' ? '' : ` | +${(s.p50 - base.p50).toFixed(3)} | +${(s.p99 - base.p99).toFixed(3)}`;
    return `| ${name} | ${s.n} | ${s.p50.toFixed(3)} | ${s.p99.toFixed(3)}${added || ' | | '} |`;
  };
  return [
    '| client | calls | p50 ms | p99 ms | added p50 ms | added p99 ms |',
    '| --- | --- | --- | --- | --- | --- |',
    ...['bare', 'memory', 'redis'].map(row),
    '',
    'Targets (issue 16): < 1 ms added at p50 and < 2 ms at p99 on Redis.',
  ];
}

/** Two tenants, weights 1 and 3, calling as fast as refused on a pool of 4,000 tokens a minute (driven clock). */
async function fairness(): Promise<string[]> {
  const clock = new ManualClock(1_800_000_000_123);
  const llm = new LlmLimiter({
    clock: clock.now,
    limiter: createLimiter({ store: new MemoryStore({ clock: clock.now }) }),
    providers: {
      openai: {
        tiers: { pro: { requestsPerMinute: big } },
        defaultTier: 'pro',
        pool: { tokensPerMinute: 4000, weights: { light: 1, heavy: 3 } },
      },
    },
  });
  const got = { light: 0, heavy: 0 };
  for (let t = 0; t < 600_000; t += 100) {
    for (const tenant of ['light', 'heavy'] as const) {
      for (;;) {
        try {
          const r = await llm.reserve(
            { user: tenant, tenant },
            { provider: 'openai', model: 'gpt-4o', inputTokens: 50, maxOutputTokens: 50 },
          );
          await r.settle({ inputTokens: 50, outputTokens: 50 });
          if (t >= 60_000) got[tenant] += 100;
        } catch (error) {
          if (!(error instanceof RateLimitExceededError)) throw error;
          break;
        }
      }
    }
    clock.advance(100);
  }
  const total = got.light + got.heavy;
  return [
    '| tenant | weight | tokens admitted (minutes 1 to 10) | share |',
    '| --- | --- | --- | --- |',
    `| light | 1 | ${got.light} | ${((100 * got.light) / total).toFixed(2)} % |`,
    `| heavy | 3 | ${got.heavy} | ${((100 * got.heavy) / total).toFixed(2)} % |`,
    `| pool | | ${total} of ${9 * 4000} | ${((100 * total) / (9 * 4000)).toFixed(1)} % used |`,
  ];
}

async function main(): Promise<void> {
  const lines = [
    '# bench:llm',
    '',
    `${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' / ',
      )} at the start, ${ROUNDS} rounds of ${CALLS} sequential calls per client (after ${WARMUP} warm-up calls each): \`npm run bench:llm\``,
    '',
    '## Overhead of a wrapped OpenAI client (chat.completions.create on the fake provider, one call in flight)',
    '',
    ...(await overhead()),
    '',
    '## Fair shares of a contended pool (memory, driven clock)',
    '',
    ...(await fairness()),
    '',
  ];
  const text = lines.join('\n');
  writeFileSync(new URL('./results/llm.md', import.meta.url), text);
  process.stdout.write(`${text}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
