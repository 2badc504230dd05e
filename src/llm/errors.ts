import { SluiceError } from '../core/errors.js';
import type { Decision } from '../core/types.js';

/** A call refused by a Sluice limit (or by a provider pause after a 429): nothing was sent. */
export class RateLimitExceededError extends SluiceError {
  /** Ms until the call would fit (Infinity: it never can, e.g. a reservation larger than the limit). */
  readonly retryAfterMs: number;
  /** Name of the limit that refused (for example `openai:rpm`, `pool:openai:tpm`, `blocked`). */
  readonly limit: string;
  /** What that limit has left. */
  readonly remaining: number;
  /** The refusing decision. */
  readonly decision: Decision;
  constructor(decision: Decision) {
    const b = decision.binding;
    const wait =
      decision.retryAfterMs === Number.POSITIVE_INFINITY
        ? 'never fits'
        : `retry after ${decision.retryAfterMs} ms`;
    super(
      'ERR_SLUICE_LLM_RATE_LIMITED',
      `LLM call refused by ${refuser(decision)} (${b.remaining} of ${b.limit} left; ${wait})`,
    );
    this.name = 'RateLimitExceededError';
    this.retryAfterMs = decision.retryAfterMs;
    this.limit = b.name;
    this.remaining = b.remaining;
    this.decision = decision;
  }
}

function refuser(decision: Decision): string {
  if (decision.reason === 'blocked') return 'a provider pause (a 429 from the provider)';
  if (decision.reason === 'store_unavailable')
    return `the store (unavailable: ${decision.storeError?.code ?? 'unknown'}; failure mode closed)`;
  return `limit ${decision.binding.name}`;
}

/** A call the configuration cannot price or limit (an unpriced model under a cost budget...). */
export class LlmConfigError extends SluiceError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('ERR_SLUICE_LLM_CONFIG', `${field}: ${message}`);
    this.name = 'LlmConfigError';
    this.field = field;
  }
}

/** A stream stopped because its output ran past its reservation plus the debt (`stopOverrunningStreams`). */
export class StreamStoppedError extends SluiceError {
  constructor(
    readonly outputTokens: number,
    readonly allowed: number,
  ) {
    super(
      'ERR_SLUICE_LLM_STREAM_STOPPED',
      `stream stopped: ${outputTokens} output tokens streamed, ${allowed} reserved plus debt`,
    );
    this.name = 'StreamStoppedError';
  }
}
