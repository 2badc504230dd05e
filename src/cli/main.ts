/**
 * The `sluice` command line: the dispatcher, the usage text and the exit codes (failures.ts). Each
 * verb is its own module (verbs/, calibrate.ts); `serve` is loaded only when asked for, so the other
 * verbs never load the service's dependencies (Fastify, gRPC).
 */

import { SluiceError, StoreError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { calibrateVerb } from './calibrate.js';
import { CliFailure, EXIT, UsageError } from './failures.js';
import type { Output } from './output.js';
import type { Env } from './transport.js';
import { runVerb, usageOf, type Verb } from './verb.js';
import { checkVerb } from './verbs/check.js';
import { configValidateVerb } from './verbs/config.js';
import { blockVerb, modeVerb, resetVerb, tierVerb, unblockVerb } from './verbs/control.js';
import { auditVerb, healthVerb, statusVerb, tenantsVerb, topVerb } from './verbs/inspect.js';

export type { Output };

const VERBS: Verb[] = [
  checkVerb,
  statusVerb,
  topVerb,
  tenantsVerb,
  resetVerb,
  blockVerb,
  unblockVerb,
  modeVerb,
  tierVerb,
  auditVerb,
  healthVerb,
  configValidateVerb,
  calibrateVerb,
];

const SERVE_SUMMARY = 'start the service: decision and admin API over HTTP (and Envoy gRPC)';

export const USAGE = `usage: sluice VERB [ARGS] [--json] [--help]
${[['serve', SERVE_SUMMARY] as const, ...VERBS.map((v) => [v.name, v.summary] as const)]
  .map(([name, summary]) => `  ${name.padEnd(17)}${summary}`)
  .join('\n')}
  sluice --version, sluice help VERB (or sluice VERB --help) for a verb's flags
where: --url URL (or $SLUICE_URL) a running service; --redis URL [--config FILE] the store itself
exit codes: 0 ok, 1 refused or invalid input, 2 usage, 3 service or store unreachable`;

export async function main(
  argv: string[],
  out: Output = process.stdout,
  err: Output = process.stderr,
  env: Env = process.env,
): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-V') {
    out.write(rest.includes('--json') ? `${JSON.stringify({ version: VERSION })}\n` : `sluice ${VERSION}\n`);
    return EXIT.ok;
  }
  if (first === '--help' || first === '-h' || first === 'help') return help(rest, out, err);
  if (first === 'serve') return serve(rest, out, err, env);
  const found = findVerb(argv);
  if (typeof found === 'string') {
    err.write(`sluice: ${found}\n${USAGE}\n`);
    return EXIT.usage;
  }
  try {
    return await runVerb(found.verb, found.args, { out, err, env });
  } catch (error) {
    return failed(error, found.verb, found.args.includes('--json') ? out : undefined, err);
  }
}

/** The verb the arguments name (`config validate` is two words), or what is wrong. */
function findVerb(argv: string[]): { verb: Verb; args: string[] } | string {
  const [first, second] = argv;
  if (first === undefined) return 'no verb given';
  if (first === 'config') {
    if (second === 'validate') return { verb: configValidateVerb, args: argv.slice(2) };
    return second === undefined
      ? 'config needs a sub-verb: config validate FILE'
      : `unknown verb "config ${second}"`;
  }
  const verb = VERBS.find((v) => v.name === first);
  return verb ? { verb, args: argv.slice(1) } : `unknown verb ${JSON.stringify(first)}`;
}

async function help(rest: string[], out: Output, err: Output): Promise<number> {
  if (rest.length === 0) {
    out.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (rest[0] === 'serve') return serve(['--help'], out, err, process.env);
  const found = findVerb(rest);
  if (typeof found === 'string') {
    err.write(`sluice: ${found}\n${USAGE}\n`);
    return EXIT.usage;
  }
  out.write(`${usageOf(found.verb)}\n`);
  return EXIT.ok;
}

/** `sluice serve`: the service (src/server/), imported only for this verb. */
async function serve(argv: string[], out: Output, err: Output, env: Env): Promise<number> {
  const { serveCommand } = await import('../server/serve.js');
  return serveCommand(argv, out, err, env);
}

/** What a verb's error means: its message on stderr (and one JSON document with --json), an exit code. */
function failed(error: unknown, verb: Verb, json: Output | undefined, err: Output): number {
  const code = exitCodeOf(error);
  if (code === undefined) throw error;
  const message = (error as Error).message;
  err.write(`sluice ${verb.name}: ${message}\n`);
  if (code === EXIT.usage) err.write(`${usageOf(verb)}\n`);
  else if (json) {
    // A ConfigError's issues (told by shape: its module loads the configuration's validation).
    const listed = (error as { issues?: unknown }).issues;
    const issues = error instanceof SluiceError && Array.isArray(listed) ? { issues: listed } : {};
    const errorCode = error instanceof SluiceError ? { code: error.code } : {};
    json.write(`${JSON.stringify({ error: { exitCode: code, message, ...errorCode, ...issues } })}\n`);
  }
  return code;
}

function exitCodeOf(error: unknown): number | undefined {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof CliFailure) return error.exitCode;
  if (error instanceof StoreError) return EXIT.unreachable;
  // ConfigError, ValidationError and the other SluiceErrors: the input cannot be used.
  if (error instanceof SluiceError) return EXIT.failed;
  return undefined;
}
