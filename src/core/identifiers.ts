import { ValidationError } from './errors.js';

/** Longest identifier (tenant, key, limit name) accepted, in UTF-8 bytes. */
export const MAX_IDENTIFIER_BYTES = 256;

/**
 * Validates an untrusted identifier and encodes it for use inside a Redis key.
 *
 * The encoding keeps [A-Za-z0-9._~-] and percent-encodes every other byte of the UTF-8 form, so the
 * result never contains `:` (our separator), `{`/`}` (Cluster hash tags), `*`, whitespace or control
 * characters, and two different identifiers never encode to the same string.
 */
export function encodeIdentifier(value: unknown, field: string): string {
  // Every decision encodes its tenant and key: the common case (short, all safe) is one pass, no regex.
  if (typeof value === 'string' && isShortAndSafe(value)) return value;
  return encodeOther(value, field);
}

function encodeOther(value: unknown, field: string): string {
  if (typeof value !== 'string') {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_IDENTIFIER',
      field,
      `must be a string, got ${typeof value}`,
    );
  }
  if (value.length === 0) {
    throw new ValidationError('ERR_SLUICE_INVALID_IDENTIFIER', field, 'must not be empty');
  }
  if (Buffer.byteLength(value, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_IDENTIFIER',
      field,
      `is longer than ${MAX_IDENTIFIER_BYTES} bytes (hash long identifiers before passing them)`,
    );
  }
  if (SAFE.test(value)) return value;
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    throw new ValidationError(
      'ERR_SLUICE_INVALID_IDENTIFIER',
      field,
      'is not valid Unicode (lone surrogate)',
    );
  }
  return encoded.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Inverse of {@link encodeIdentifier}. */
export function decodeIdentifier(encoded: string): string {
  return decodeURIComponent(encoded);
}

const SAFE = /^[A-Za-z0-9._~-]+$/;

/** Char codes kept as is by the encoding: [A-Za-z0-9._~-]. */
const SAFE_CODES = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-') {
  SAFE_CODES[c.charCodeAt(0)] = 1;
}

/** Non-empty, at most MAX_IDENTIFIER_BYTES, every character safe (ASCII: one byte each). */
function isShortAndSafe(value: string): boolean {
  const length = value.length;
  if (length === 0 || length > MAX_IDENTIFIER_BYTES) return false;
  for (let i = 0; i < length; i++) {
    if (SAFE_CODES[value.charCodeAt(i)] !== 1) return false;
  }
  return true;
}
