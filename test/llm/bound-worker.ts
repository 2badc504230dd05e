/**
 * Child process of bound.test.ts: its own RedisStore connection and LlmLimiter; fires `calls` calls at
 * once on one user (reserve, then settle with a random usage, some beyond the reservation; one in 20 never
 * settled, as if the process had died), and prints one JSON line: what it counted. It prints `ready`
 * once connected and fires when it reads a line on stdin.
 * Usage: node --import tsx test/llm/bound-worker.ts '<config JSON>'
 */
import { mulberry32 } from '../../bench/lib/spread-keys.js';
import { createLimiter, RedisStore } from '../../src/index.js';
import { LlmLimiter, RateLimitExceededError } from '../../src/llm/index.js';

export interface BoundConfig {
  url: string;
  prefix: string;
  seed: number;
  calls: number;
  tokensPerMinute: number;
  debt: number;
}

export interface BoundReport {
  admitted: number;
  refused: number;
  /** Tokens the admitted calls left counted: settled usage minus what was unbilled, plus unsettled reservations. */
  counted: number;
  unbilled: number;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] as string) as BoundConfig;
  const store = new RedisStore({ url: config.url });
  await store.ready();
  const llm = new LlmLimiter({
    // No time budget: a decision abandoned past the budget may still land in Redis (counted but
    // reported refused, which only ever over-counts), and this test checks the accounting exactly.
    limiter: createLimiter({ store, prefix: config.prefix, guard: false }),
    debt: { tokens: config.debt },
    providers: {
      openai: {
        tiers: { pro: { requestsPerMinute: 1_000_000, tokensPerMinute: config.tokensPerMinute } },
        defaultTier: 'pro',
      },
    },
  });
  // Both processes fire together: ready, then wait for the parent's "go".
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.pause();
  const rand = mulberry32(config.seed);
  const report: BoundReport = { admitted: 0, refused: 0, counted: 0, unbilled: 0 };
  const one = async () => {
    const input = 10 + Math.floor(rand() * 190);
    const max = 10 + Math.floor(rand() * 290);
    const output = Math.floor(rand() * 2 * max);
    const dies = rand() < 0.05;
    try {
      const r = await llm.reserve(
        { user: 'shared' },
        { provider: 'openai', model: 'gpt-4o', inputTokens: input, maxOutputTokens: max },
      );
      report.admitted += 1;
      if (dies) {
        report.counted += input + max;
        return;
      }
      const s = await r.settle({ inputTokens: input, outputTokens: output });
      const unbilled = s.unbilled.tokens ?? 0;
      report.unbilled += unbilled;
      report.counted += input + output - unbilled;
    } catch (error) {
      if (!(error instanceof RateLimitExceededError)) throw error;
      report.refused += 1;
    }
  };
  // Waves of concurrent calls: reservations and settlements of both processes interleave.
  for (let done = 0; done < config.calls; done += 10) {
    await Promise.all(Array.from({ length: 10 }, one));
    await new Promise((resolve) => setTimeout(resolve, 20)); // spread over time: the processes interleave
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await llm.close();
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
