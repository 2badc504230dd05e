import type { AlgorithmName } from '../core/types.js';
import { concurrency } from './concurrency/index.js';
import { fixedWindow, fixedWindowLua } from './fixed-window/index.js';
import { logLua, slidingLog } from './sliding-log/index.js';
import { slidingWindow, slidingWindowLua } from './sliding-window/index.js';
import { tokenBucket, tokenBucketLua } from './token-bucket/index.js';
import type { Algorithm } from './types.js';

export type { Algorithm } from './types.js';

/** Every built-in algorithm, by name. Adding one: a folder beside these, and one line here and below. */
export const ALGORITHMS: Readonly<Record<AlgorithmName, Algorithm>> = {
  'fixed-window': fixedWindow as Algorithm,
  'sliding-window': slidingWindow as Algorithm,
  'sliding-log': slidingLog as Algorithm,
  'token-bucket': tokenBucket as Algorithm,
  concurrency: concurrency as Algorithm,
};

export const ALGORITHM_NAMES = Object.keys(ALGORITHMS) as AlgorithmName[];

/**
 * The Lua half of every algorithm, by code: a fragment in sections (see src/stores/redis/scripts.ts)
 * that the Redis store inlines, per limit, into one straight-line script per decision layout.
 */
export const LUA_FRAGMENTS: Readonly<Record<string, string>> = {
  fw: fixedWindowLua,
  sw: slidingWindowLua,
  sl: logLua('sl'),
  cc: logLua('cc'),
  tb: tokenBucketLua,
};
