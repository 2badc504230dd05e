/**
 * Tokens of the service: callers of the decision API and operators of the admin API. Compared in
 * constant time (digests of equal length through timingSafeEqual), so a response's timing says
 * nothing of how much of a guess was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../core/errors.js';

export type Access = 'read' | 'write';

export interface ServiceToken {
  /** Who holds it: the audit trail's actor. */
  name: string;
  token: string;
  /** Admin tokens: read-only (GET) or read-write. Caller tokens are always "write". */
  access: Access;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const MIN_TOKEN_LENGTH = 16;

/** The outcome of authenticating a request: its token, or why there is none. */
export type Authenticated = { token: ServiceToken } | { refused: 'missing' | 'unknown' };

export class TokenSet {
  private readonly digests: Array<{ digest: Buffer; token: ServiceToken }>;

  constructor(tokens: readonly ServiceToken[], field: string) {
    const names = new Set<string>();
    this.digests = tokens.map((token, i) => {
      checkToken(token, `${field}[${i}]`);
      if (names.has(token.name)) throw invalid(`${field}[${i}].name`, `"${token.name}" is given twice`);
      names.add(token.name);
      return { digest: digestOf(token.token), token };
    });
  }

  get size(): number {
    return this.digests.length;
  }

  /** Reads `Authorization: Bearer <token>`; every known token is compared, whichever matches. */
  authenticate(authorization: string | undefined): Authenticated {
    const match = /^Bearer ([^\s]+)$/i.exec(authorization ?? '');
    if (!match) return { refused: 'missing' };
    const offered = digestOf(match[1] as string);
    let found: ServiceToken | undefined;
    for (const { digest, token } of this.digests) {
      if (timingSafeEqual(digest, offered) && found === undefined) found = token;
    }
    return found ? { token: found } : { refused: 'unknown' };
  }
}

/**
 * Parses "name:token[:ro|rw],..." (SLUICE_ADMIN_TOKENS, SLUICE_API_TOKENS). A token without an access
 * is read-write. Bad entries are errors naming the variable and the entry's position.
 */
export function parseTokenList(text: string, field: string): ServiceToken[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry, i) => {
      const [name = '', token = '', access = 'rw', ...rest] = entry.split(':');
      if (rest.length > 0 || (access !== 'ro' && access !== 'rw')) {
        throw invalid(`${field}[${i}]`, 'must be name:token, name:token:ro or name:token:rw');
      }
      return { name, token, access: access === 'ro' ? 'read' : 'write' } as ServiceToken;
    });
}

function checkToken(token: ServiceToken, field: string): void {
  if (typeof token !== 'object' || token === null) throw invalid(field, 'must be {name, token, access}');
  if (typeof token.name !== 'string' || !NAME.test(token.name)) {
    throw invalid(`${field}.name`, 'must be 1-64 characters of [A-Za-z0-9._-]');
  }
  if (
    typeof token.token !== 'string' ||
    token.token.length < MIN_TOKEN_LENGTH ||
    /\s|,|:/.test(token.token)
  ) {
    throw invalid(
      `${field}.token`,
      `must be at least ${MIN_TOKEN_LENGTH} characters, without spaces, commas or colons`,
    );
  }
  if (token.access !== 'read' && token.access !== 'write')
    throw invalid(`${field}.access`, 'must be "read" or "write"');
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function invalid(field: string, why: string): ValidationError {
  return new ValidationError('ERR_SLUICE_INVALID_OPTION', field, why);
}
