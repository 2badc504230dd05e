/**
 * Flag parsing shared by the verbs: strict (an unknown flag is a usage error naming it), with
 * node:util parseArgs, and the value syntaxes verbs share (IDENTITY, LIMIT, counts, durations).
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { invalid, UsageError } from './failures.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;
export type FlagValues = Record<string, string | boolean | undefined>;

/** Every verb: `--json`, `--help`. */
export const COMMON_FLAGS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies FlagSpec;

/** Where a verb's operation goes: a running service, or the store itself (see transport.ts). */
export const TRANSPORT_FLAGS = {
  url: { type: 'string' },
  redis: { type: 'string' },
  config: { type: 'string' },
  timeout: { type: 'string' },
} as const satisfies FlagSpec;

export interface ParsedArgs {
  values: FlagValues;
  positionals: string[];
}

/** Whether the arguments ask for help (before a `--` terminator). */
export function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** Parses a verb's arguments strictly: flags of `spec`, between `min` and `max` positionals. */
export function parseVerbArgs(
  argv: string[],
  spec: FlagSpec,
  positionals: { min: number; max: number; names: string[] },
): ParsedArgs {
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError(flagProblem(error as Error & { code?: string }));
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) {
    throw new UsageError(`missing ${positionals.names.slice(count, positionals.min).join(' ')}`);
  }
  if (count > positionals.max)
    throw new UsageError(`unexpected argument ${parsed.positionals[positionals.max]}`);
  return parsed;
}

/** parseArgs' error, said shortly with the flag's name. */
function flagProblem(error: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) return `unknown flag ${flag}`;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    return error.message.includes('argument missing') ? `${flag} needs a value` : `${flag} takes no value`;
  }
  return error.message;
}

/** Who an IDENTITY argument names: `user:ID`, `ip:ADDR`, or a bare user id. */
export interface Identity {
  user?: string;
  ip?: string;
}

export function parseIdentity(text: string, field = 'IDENTITY'): Identity {
  const [kind, value] = text.startsWith('ip:')
    ? (['ip', text.slice(3)] as const)
    : text.startsWith('user:')
      ? (['user', text.slice(5)] as const)
      : (['user', text] as const);
  if (value.length === 0)
    throw invalid(field, `${JSON.stringify(text)} names no ${kind} (user:ID, ip:ADDR or ID)`);
  return kind === 'ip' ? { ip: value } : { user: value };
}

/** `user:ID` or `ip:ADDR`, as an identity is printed. */
export function identityText(identity: Identity): string {
  return identity.ip !== undefined ? `ip:${identity.ip}` : `user:${identity.user}`;
}

/** A LIMIT argument: `POLICY` (its every limit) or `POLICY/LIMIT` (one limit, named as decisions show it). */
export interface LimitChoice {
  policy: string;
  limit?: string;
}

export function parseLimit(text: string): LimitChoice {
  const slash = text.indexOf('/');
  const policy = slash === -1 ? text : text.slice(0, slash);
  const limit = slash === -1 ? undefined : text.slice(slash + 1);
  if (policy === '' || limit === '')
    throw invalid('LIMIT', `${JSON.stringify(text)} must be POLICY or POLICY/LIMIT`);
  if (limit === undefined) return { policy };
  // Decisions name a policy's limit `policy.limit`: accept that name, or the limit's own.
  return { policy, limit: limit.startsWith(`${policy}.`) ? limit : `${policy}.${limit}` };
}

/** A whole number flag from 1 to `max`, or its default. */
export function countOf(
  value: string | boolean | undefined,
  field: string,
  fallback: number,
  max = 1000,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1 || n > max) {
    throw invalid(field, `${JSON.stringify(value)} must be a whole number from 1 to ${max}`);
  }
  return n;
}

/** A string flag's value (parseArgs typed it), or undefined. */
export function stringOf(values: FlagValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}
