/**
 * The `sluice` command line: `sluice config validate FILE [--env]` checks a configuration document
 * (YAML or JSON) and prints every problem with the path of the field; `sluice calibrate FILE ...`
 * proposes limits from recorded rates (see calibrate.ts).
 */
import { ConfigError, parseConfig } from '../policy/config.js';
import { configFromEnv } from '../policy/env.js';
import { loadConfigFile } from '../policy/load.js';
import { CALIBRATE_USAGE, calibrateCommand } from './calibrate.js';

const USAGE = `usage: sluice config validate FILE [--env]
  FILE   a YAML or JSON configuration document
  --env  apply the environment variables (RATE_LIMIT_*, REDIS_URL, ...) over it first
${CALIBRATE_USAGE}`;

/** Where the command writes: process.stdout/stderr, or anything with write() in tests. */
export interface Output {
  write(text: string): unknown;
}

export function main(
  argv: string[],
  out: Output = process.stdout,
  err: Output = process.stderr,
): number | Promise<number> {
  if (argv[0] === 'serve') {
    // Loaded only for this verb: the service needs Fastify, the other verbs do not.
    return import('../server/serve.js').then((m) => m.serveCommand(argv.slice(1), out, err));
  }
  if (argv[0] === 'calibrate') return reportErrors(calibrateCommand(argv.slice(1), out, err), err);
  const [group, command, file, ...rest] = argv;
  if (group !== 'config' || command !== 'validate' || !file || rest.some((a) => a !== '--env')) {
    err.write(`${USAGE}\n`);
    return 2;
  }
  try {
    let doc = loadConfigFile(file);
    if (rest.includes('--env')) doc = configFromEnv(process.env, (doc ?? {}) as Record<string, unknown>);
    const config = parseConfig(doc, file);
    out.write(
      `${file}: valid (${config.policies.length} policies, tiers ${Object.keys(config.tiers).join(', ')}, store ${config.store.type}, mode ${config.mode})\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      err.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** A configuration error of an async command: printed, exit code 1 (others propagate). */
async function reportErrors(run: Promise<number>, err: Output): Promise<number> {
  try {
    return await run;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err.write(`${error.message}\n`);
    return 1;
  }
}
