import type { Algorithm } from '../types.js';

/**
 * Sliding-window log: one entry per admitted cost unit, timestamped; an entry counts while it is younger
 * than the window. Exact, O(limit) memory. In Redis it is a sorted set (score = time), as in the seeds.
 * Entries carry ids so that the concurrency algorithm can reuse this log and remove its own leases.
 */
export interface LogState {
  /** Entry times, ascending. */
  times: number[];
  /** Entry ids, parallel to `times`. */
  ids: string[];
}

/** Drops entries at or before `cutoff` (they have left the window). */
export function dropUntil(state: LogState, cutoff: number): void {
  let n = 0;
  while (n < state.times.length && (state.times[n] as number) <= cutoff) n++;
  if (n > 0) {
    state.times.splice(0, n);
    state.ids.splice(0, n);
  }
}

function insert(state: LogState, time: number, id: string): void {
  // Keeps the log sorted even if the clock stepped back.
  let i = state.times.length;
  while (i > 0 && (state.times[i - 1] as number) > time) i--;
  state.times.splice(i, 0, time);
  state.ids.splice(i, 0, id);
}

export function createLogAlgorithm(name: 'sliding-log' | 'concurrency', code: string): Algorithm<LogState> {
  return {
    name,
    code,
    leases: name === 'concurrency',
    acceptsBurst: false,
    capacity: (limit) => limit,
    load(stored, now, { windowMs }) {
      const state = stored ?? { times: [], ids: [] };
      dropUntil(state, now - windowMs);
      return state;
    },
    fits(state, now, { limit, windowMs }, cost) {
      if (cost > limit) return { fits: false, retryAfterMs: -1 };
      const count = state.times.length;
      if (count + cost <= limit) return { fits: true, retryAfterMs: 0 };
      // The (count + cost - limit) oldest entries must leave the window first.
      const oldestToGo = state.times[count + cost - limit - 1] as number;
      return { fits: false, retryAfterMs: oldestToGo + windowMs - now };
    },
    commit(state, now, _limit, cost, id) {
      for (let i = 1; i <= cost; i++) insert(state, now, `${id}:${i}`);
    },
    refund(state, _now, _limit, cost) {
      const n = Math.min(cost, state.times.length);
      state.times.splice(state.times.length - n, n);
      state.ids.splice(state.ids.length - n, n);
    },
    view(state, now, { limit, windowMs }) {
      const count = state.times.length;
      return {
        remaining: limit - count,
        resetAt: count > 0 ? (state.times[count - 1] as number) + windowMs : now,
      };
    },
    expiresAt(state, now, { windowMs }) {
      const count = state.times.length;
      return count > 0 ? (state.times[count - 1] as number) + windowMs : now;
    },
  };
}

export const slidingLog = createLogAlgorithm('sliding-log', 'sl');

/**
 * Lua half, for code `code`: a template in sections that the Redis store inlines for every log limit of
 * a script (see stores/redis/scripts.ts). Sorted-set kind: member "<decision id>:<n>", score = time;
 * the sections call Redis themselves (trim, count, add). Shared by sliding-log and concurrency; only
 * lease-based algorithms (concurrency) are ever released.
 */
export function logLua(code: string): string {
  return `
-- ${code}: a log of entries in a sorted set
--- state: count, newest
--- load
redis.call('ZREMRANGEBYSCORE', KEY@, '-inf', int(now - W@))
if R > now - W@ then redis.call('ZREMRANGEBYSCORE', KEY@, '-inf', '(' .. Rs) end
count@ = redis.call('ZCARD', KEY@)
--- fits
if cost > L@ then w@ = -1
elseif count@ + cost > L@ then
  -- The (count + cost - limit) oldest entries must leave the window first.
  local k = count@ + cost - L@
  w@ = tonumber(redis.call('ZRANGE', KEY@, k - 1, k - 1, 'WITHSCORES')[2]) + W@ - now
end
--- commit
if cost == 1 then redis.call('ZADD', KEY@, int(now), id .. ':1')
else
  local score, args = int(now), {}
  for i = 1, cost do
    args[#args + 1] = score
    args[#args + 1] = id .. ':' .. i
    if #args >= 1000 or i == cost then
      redis.call('ZADD', KEY@, unpack(args))
      args = {}
    end
  end
end
count@ = count@ + cost
newest@ = now
--- refundable
min(cost, count@) ~= 0
--- refund
local n = min(cost, count@)
redis.call('ZPOPMAX', KEY@, n)
count@ = count@ - n
newest@ = nil
--- release
local members = {}
for k = 1, cost do
  members[#members + 1] = id .. ':' .. k
  if #members >= 1000 or k == cost then
    redis.call('ZREM', KEY@, unpack(members))
    members = {}
  end
end
--- remaining
L@ - count@
--- expires
count@ == 0 and now or (newest@ or tonumber(redis.call('ZRANGE', KEY@, -1, -1, 'WITHSCORES')[2])) + W@
`;
}
