/**
 * The documented exit codes of `sluice`, and the errors a verb throws to end with one of them (main.ts
 * prints the message; a usage error also prints that verb's usage).
 */
export const EXIT = {
  ok: 0,
  /** A check refused, or invalid input or configuration (the message names what). */
  failed: 1,
  /** Unknown verb or flag, missing argument. */
  usage: 2,
  /** The service or the store could not be reached (connection refused, timeout). */
  unreachable: 3,
} as const;

/** Unknown verb or flag, a missing or extra argument: exit 2 with the verb's usage. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Something the command could not do: exit 1 (invalid input, refused by the service) or 3. */
export class CliFailure extends Error {
  override name = 'CliFailure';
  constructor(
    message: string,
    readonly exitCode: 1 | 3 = EXIT.failed,
  ) {
    super(message);
  }
}

/** Invalid input: a flag's or argument's value that cannot be used (exit 1, naming it). */
export function invalid(field: string, message: string): CliFailure {
  return new CliFailure(`${field}: ${message}`);
}

/** The service or the store did not answer (exit 3). */
export function unreachable(message: string): CliFailure {
  return new CliFailure(message, EXIT.unreachable);
}
