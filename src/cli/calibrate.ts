/**
 * `sluice calibrate FILE [--tenants a,b] [--percentile 0.99] [--factor 1.5] [--env]`: reads the rates
 * recorded by RateRecorder in the configuration's store, for the tenants named and those the
 * configuration lists, and prints the proposed limits as a configuration document.
 */
import { stringOf } from './args.js';
import { EXIT, invalid } from './failures.js';
import { printJson } from './output.js';
import type { Verb } from './verb.js';

export const calibrateVerb: Verb = {
  name: 'calibrate',
  summary: 'propose tier and tenant limits from the rates recorded in the store',
  usage: `usage: sluice calibrate FILE [--tenants a,b] [--percentile 0.99] [--factor 1.5] [--env]
  FILE          the configuration document (its store and prefix are where the rates were recorded)
  --tenants     tenants to calibrate, beside those the configuration lists under tenants
  --percentile  of the per-second rates (default 0.99)
  --factor      the safety margin (default 1.5)
  --env         apply the environment variables (RATE_LIMIT_*, REDIS_URL, ...) over FILE first
  Prints a configuration document to review (with --json: the proposals as data).`,
  flags: {
    tenants: { type: 'string' },
    percentile: { type: 'string' },
    factor: { type: 'string' },
    env: { type: 'boolean' },
  },
  positionals: { min: 1, max: 1, names: ['FILE'] },
  transport: false,
  async run(call) {
    const file = call.positionals[0] as string;
    const percentile = numberOf(stringOf(call.values, 'percentile'), '--percentile', 0.99);
    if (!(percentile > 0 && percentile <= 1)) throw invalid('--percentile', 'must be in (0, 1]');
    const factor = numberOf(stringOf(call.values, 'factor'), '--factor', 1.5);
    if (!(factor > 0)) throw invalid('--factor', 'must be a number > 0');
    const named = (stringOf(call.values, 'tenants') ?? '').split(',').filter((t) => t !== '');
    const { configFromEnv, loadConfigFile, PolicyLimiter, parseConfig } = await import('../index.js');
    const { calibrate, calibrationDocument } = await import('../observability/proposal.js');
    let doc = loadConfigFile(file);
    if (call.values.env === true) doc = configFromEnv(call.env, (doc ?? {}) as Record<string, unknown>);
    const config = parseConfig(doc, file);
    const limiter = await PolicyLimiter.create({ config, requireStore: true });
    try {
      const tenants = [...new Set([...named, ...Object.keys(config.tenants)])];
      const result = await calibrate({
        store: limiter.store,
        prefix: config.prefix,
        tenants,
        tierOf: async (tenant) => (await limiter.peek({ tenant })).tier,
        percentile,
        factor,
      });
      if (call.json) printJson(call.out, result);
      else call.out.write(calibrationDocument(result));
      return EXIT.ok;
    } finally {
      await limiter.close();
    }
  },
};

function numberOf(value: string | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw invalid(field, `${JSON.stringify(value)} is not a number`);
  return n;
}
