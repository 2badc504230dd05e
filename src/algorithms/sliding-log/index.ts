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
 * Lua half, for code `code`. Sorted-set kind: member "<decision id>:<n>", score = time; the fragment
 * calls Redis itself (trim, count, add). Shared by sliding-log and concurrency.
 */
export function logLua(code: string): string {
  return `
ALG.${code} = {
  kind = 'z',
  load = function(key, now, L, W, X, R)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - W)
    if R > now - W then redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. R) end
    return { count = redis.call('ZCARD', key) }
  end,
  fits = function(st, key, now, L, W, X, cost)
    if cost > L then return false, -1 end
    if st.count + cost <= L then return true, 0 end
    local k = st.count + cost - L
    local r = redis.call('ZRANGE', key, k - 1, k - 1, 'WITHSCORES')
    return false, tonumber(r[2]) + W - now
  end,
  commit = function(st, key, now, L, W, X, cost, id)
    local score = now
    local args = {}
    for i = 1, cost do
      args[#args + 1] = score
      args[#args + 1] = id .. ':' .. i
      if #args >= 1000 or i == cost then
        redis.call('ZADD', key, unpack(args))
        args = {}
      end
    end
    st.count = st.count + cost
    st.newest = now
  end,
  refund = function(st, key, now, L, W, X, cost)
    local n = math.min(cost, st.count)
    if n == 0 then return false end
    redis.call('ZPOPMAX', key, n)
    st.count = st.count - n
    st.newest = nil
    return true
  end,
  view = function(st, key, now, L, W, X)
    return L - st.count, ALG.${code}.expires(st, key, now, L, W, X)
  end,
  expires = function(st, key, now, L, W, X)
    if st.count == 0 then return now end
    if st.newest == nil then
      local r = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      st.newest = tonumber(r[2])
    end
    return st.newest + W
  end,
}
`;
}
