/**
 * What a verb is (its flags, arguments, usage and run), and running one: strict parsing, `--help`,
 * the transport opened lazily and always closed.
 */
import {
  COMMON_FLAGS,
  type FlagSpec,
  type FlagValues,
  parseVerbArgs,
  TRANSPORT_FLAGS,
  wantsHelp,
} from './args.js';
import type { Output } from './output.js';
import { type Admin, type Env, openAdmin } from './transport.js';

export interface VerbCall {
  values: FlagValues;
  positionals: string[];
  json: boolean;
  out: Output;
  err: Output;
  env: Env;
  /** The service or store the flags name (opened on first use, closed after the verb). */
  admin(): Promise<Admin>;
}

export interface Verb {
  /** As typed: `status`, `config validate`. */
  name: string;
  /** One line for `sluice --help`. */
  summary: string;
  /** The verb's usage (without the shared transport section, added when `transport`). */
  usage: string;
  flags: FlagSpec;
  positionals: { min: number; max: number; names: string[] };
  /** Whether it talks to Sluice (takes --url / --redis / --config / --timeout). */
  transport: boolean;
  run(call: VerbCall): Promise<number>;
}

/** The flags and environment of the transport, shared by every verb that talks to Sluice. */
export const TRANSPORT_USAGE = `where Sluice is (one of):
  --url URL       a running service (default $SLUICE_URL); tokens from $SLUICE_ADMIN_TOKEN
                  (admin verbs) and $SLUICE_API_TOKEN (check)
  --redis URL     straight to the store (redis://...), with the policies of --config
  --config FILE   the configuration (default $SLUICE_CONFIG); without --redis, its own store
  --timeout MS    for each call to the service, or to connect to the store (default 5000)`;

export const OUTPUT_USAGE = `  --json          print one JSON document instead of a table
  --help          this text
exit codes: 0 ok, 1 refused or invalid input, 2 usage, 3 service or store unreachable`;

/** The full usage text of a verb. */
export function usageOf(verb: Verb): string {
  return [verb.usage, verb.transport ? TRANSPORT_USAGE : '', OUTPUT_USAGE].filter((s) => s !== '').join('\n');
}

/** Parses and runs a verb; usage errors and failures propagate to main (which knows their exit codes). */
export async function runVerb(verb: Verb, argv: string[], io: { out: Output; err: Output; env: Env }) {
  if (wantsHelp(argv)) {
    io.out.write(`${usageOf(verb)}\n`);
    return 0;
  }
  const spec = { ...verb.flags, ...COMMON_FLAGS, ...(verb.transport ? TRANSPORT_FLAGS : {}) };
  const { values, positionals } = parseVerbArgs(argv, spec, verb.positionals);
  let opened: Promise<Admin> | undefined;
  const call: VerbCall = {
    values,
    positionals,
    json: values.json === true,
    ...io,
    admin: () => {
      opened ??= openAdmin(values, io.env, (message) => io.err.write(`warning: ${message}\n`));
      return opened;
    },
  };
  try {
    return await verb.run(call);
  } finally {
    if (opened) await opened.then((a) => a.close()).catch(() => undefined);
  }
}
