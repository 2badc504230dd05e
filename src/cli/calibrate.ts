/**
 * `sluice calibrate FILE [--tenants a,b] [--percentile 0.99] [--factor 1.5] [--env]`: reads the rates
 * recorded by RateRecorder in the configuration's store, for the tenants named and those the
 * configuration lists, and prints the proposed limits as a configuration document.
 */
import { calibrate, calibrationDocument } from '../observability/proposal.js';
import { parseConfig } from '../policy/config.js';
import { configFromEnv } from '../policy/env.js';
import { loadConfigFile } from '../policy/load.js';
import { PolicyLimiter } from '../policy/policy-limiter.js';
import type { Output } from './main.js';

export const CALIBRATE_USAGE = `usage: sluice calibrate FILE [--tenants a,b] [--percentile 0.99] [--factor 1.5] [--env]
  FILE          the configuration document (its store and prefix are where the rates were recorded)
  --tenants     tenants to calibrate, beside those the configuration lists under tenants
  --percentile  of the per-second rates (default 0.99)
  --factor      the safety margin (default 1.5)`;

interface CalibrateArgs {
  file: string;
  tenants: string[];
  percentile: number;
  factor: number;
  env: boolean;
}

function parseArgs(argv: string[]): CalibrateArgs | string {
  const [file, ...rest] = argv;
  if (!file || file.startsWith('--')) return 'FILE is required';
  const args: CalibrateArgs = { file, tenants: [], percentile: 0.99, factor: 1.5, env: false };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    if (flag === '--env') {
      args.env = true;
      continue;
    }
    const value = rest[++i];
    if (value === undefined) return `${flag} needs a value`;
    if (flag === '--tenants') args.tenants = value.split(',').filter((t) => t !== '');
    else if (flag === '--percentile') args.percentile = Number(value);
    else if (flag === '--factor') args.factor = Number(value);
    else return `unknown option ${flag}`;
  }
  if (!(args.percentile > 0 && args.percentile <= 1)) return '--percentile must be in (0, 1]';
  if (!(args.factor > 0)) return '--factor must be a number > 0';
  return args;
}

export async function calibrateCommand(argv: string[], out: Output, err: Output): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    err.write(`${args}\n${CALIBRATE_USAGE}\n`);
    return 2;
  }
  let doc = loadConfigFile(args.file);
  if (args.env) doc = configFromEnv(process.env, (doc ?? {}) as Record<string, unknown>);
  const config = parseConfig(doc, args.file);
  const limiter = await PolicyLimiter.create({ config, requireStore: true });
  try {
    const tenants = [...new Set([...args.tenants, ...Object.keys(config.tenants)])];
    const result = await calibrate({
      store: limiter.store,
      prefix: config.prefix,
      tenants,
      tierOf: async (tenant) => (await limiter.peek({ tenant })).tier,
      percentile: args.percentile,
      factor: args.factor,
    });
    out.write(calibrationDocument(result));
    return 0;
  } finally {
    await limiter.close();
  }
}
