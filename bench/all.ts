/**
 * `npm run bench`: the accuracy bench (seconds), the decisions bench (one key: the best case, every
 * decision coalescing with the last; about 1 min 45 s) and the spread bench (keys and tenants spread as
 * real traffic is, a hot key 90 % rejected, redis-benchmark as the physical limit, memory per key;
 * about 7 min 30 s), one after another, each in its own process (a fresh heap for each), all on one
 * throwaway redis-server started here (or BENCH_REDIS_URL). The spread bench's targets table reads the
 * decisions bench's single-key figures of this same run. In all about 9 min 30 s at the defaults on a
 * 2-core machine (plus the build); each bench's own settings (BENCH_*, BENCH_SPREAD_*) apply.
 *
 *   npm run bench
 *   BENCH_SECONDS=1 BENCH_WARMUP_SECONDS=0.5 BENCH_ROUNDS=1 BENCH_SPREAD_SECONDS=1 \
 *     BENCH_SPREAD_WARMUP_SECONDS=0.5 BENCH_SPREAD_ROUNDS=1 npm run bench        (a quick check)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { provideRedis, SHARED_REDIS_ENV } from './lib/redis-server.js';
import { DECISIONS_JSON_ENV } from './lib/settings.js';

const DECISIONS_JSON = fileURLToPath(new URL('./results/decisions.json', import.meta.url));
const STEPS = [
  { name: 'accuracy', script: 'accuracy.ts' },
  { name: 'decisions (single key)', script: 'decisions.ts' },
  { name: 'spread (many keys, tenants, hot key)', script: 'spread.ts' },
];

async function main(): Promise<void> {
  const startedAt = Date.now();
  const redis = await provideRedis();
  // Ctrl-C stops the running bench (same process group) and, here, the shared server.
  process.once('SIGINT', () => {
    void redis.stop().finally(() => process.exit(130));
  });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(redis.external ? {} : { [SHARED_REDIS_ENV]: redis.url }),
    [DECISIONS_JSON_ENV]: DECISIONS_JSON,
  };
  try {
    for (const [i, step] of STEPS.entries()) {
      console.log(`\n=== ${i + 1}/${STEPS.length}: ${step.name} ===\n`);
      const code = await run(fileURLToPath(new URL(step.script, import.meta.url)), env);
      if (code !== 0) throw new Error(`bench/${step.script} failed (exit ${code}); later benches not run`);
    }
    console.log(`\nnpm run bench: done in ${Math.round((Date.now() - startedAt) / 1000)} s`);
  } finally {
    await redis.stop();
  }
}

/** Runs one bench script under tsx in its own process, its output on ours; resolves to its exit code. */
function run(script: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { env, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
