/**
 * Every error Sluice throws is a SluiceError with a stable `code`, so callers can branch on the code
 * instead of parsing messages. Rejections ("rate limited") are never errors: they are decisions.
 */
export class SluiceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SluiceError';
    this.code = code;
  }
}

/** Stable codes of {@link ValidationError}. */
export type ValidationCode =
  | 'ERR_SLUICE_INVALID_COST'
  | 'ERR_SLUICE_INVALID_LIMIT'
  | 'ERR_SLUICE_INVALID_DURATION'
  | 'ERR_SLUICE_INVALID_ALGORITHM'
  | 'ERR_SLUICE_INVALID_IDENTIFIER'
  | 'ERR_SLUICE_INVALID_OPTION';

/** A bad input: thrown before any state is read or written, so nothing is consumed. */
export class ValidationError extends SluiceError {
  /** Path of the offending field, for example `limits[1].window` or `tenant`. */
  readonly field: string;
  constructor(code: ValidationCode, field: string, message: string) {
    super(code, `${field}: ${message}`);
    this.name = 'ValidationError';
    this.field = field;
  }
}

/**
 * The store could not decide (connection lost, timeout, script error, memory store full). Never a
 * rejection: the caller (or the failure policy) chooses what a failed decision means.
 */
export class StoreError extends SluiceError {
  readonly backend: string;
  constructor(backend: string, message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'ERR_SLUICE_STORE', `${backend} store: ${message}`, options);
    this.name = 'StoreError';
    this.backend = backend;
  }
}
