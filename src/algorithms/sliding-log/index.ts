import type { Algorithm } from '../types.js';

/**
 * Sliding-window log: one entry per admitted decision, timestamped and weighted by its cost; an entry
 * counts while it is younger than the window. Exact, O(decisions in the window) memory, and a decision
 * costs the same whatever its cost. In Redis it is a sorted set (score = time), as in the limiters Sluice replaces, with
 * the running total in a sentinel member. Entries carry the decision's id, so that a refund finds its
 * own decision's units and the concurrency algorithm (which reuses this log) releases its own lease.
 */
export interface LogState {
  /** Entry times, ascending (parallel arrays: no object per entry). */
  times: number[];
  ids: string[];
  costs: number[];
  /** Sum of `costs`. */
  total: number;
}

/** Drops entries at or before `cutoff` (they have left the window). */
export function dropUntil(state: LogState, cutoff: number): void {
  let n = 0;
  let gone = 0;
  while (n < state.times.length && (state.times[n] as number) <= cutoff) gone += state.costs[n++] as number;
  if (n > 0) {
    state.times.splice(0, n);
    state.ids.splice(0, n);
    state.costs.splice(0, n);
    state.total -= gone;
  }
}

function insert(state: LogState, time: number, id: string, cost: number): void {
  // Keeps the log sorted even if the clock stepped back.
  let i = state.times.length;
  while (i > 0 && (state.times[i - 1] as number) > time) i--;
  state.times.splice(i, 0, time);
  state.ids.splice(i, 0, id);
  state.costs.splice(i, 0, cost);
  state.total += cost;
}

/** Index of decision `id`'s entry made at `at`, or -1 (entries of one instant are few). */
function find(state: LogState, id: string, at: number): number {
  for (let i = state.times.length - 1; i >= 0; i--) {
    const time = state.times[i] as number;
    if (time < at) break;
    if (time === at && state.ids[i] === id) return i;
  }
  return -1;
}

function remove(state: LogState, i: number): void {
  state.total -= state.costs[i] as number;
  state.times.splice(i, 1);
  state.ids.splice(i, 1);
  state.costs.splice(i, 1);
}

export function createLogAlgorithm(name: 'sliding-log' | 'concurrency', code: string): Algorithm<LogState> {
  return {
    name,
    code,
    leases: name === 'concurrency',
    ledger: false,
    acceptsBurst: false,
    capacity: (limit) => limit,
    load(stored, now, { windowMs }) {
      const state = stored ?? { times: [], ids: [], costs: [], total: 0 };
      dropUntil(state, now - windowMs);
      return state;
    },
    fits(state, now, { limit, windowMs }, cost) {
      if (cost > limit) return { fits: false, retryAfterMs: -1 };
      if (state.total + cost <= limit) return { fits: true, retryAfterMs: 0 };
      // The oldest entries must leave the window until (total + cost - limit) units have gone.
      const need = state.total + cost - limit;
      let gone = 0;
      for (let i = 0; i < state.times.length; i++) {
        gone += state.costs[i] as number;
        if (gone >= need) return { fits: false, retryAfterMs: (state.times[i] as number) + windowMs - now };
      }
      return { fits: false, retryAfterMs: windowMs };
    },
    commit(state, now, _limit, cost, id) {
      insert(state, now, id, cost);
    },
    mark: () => 0,
    refund(state, _now, _limit, units, { id, at }) {
      const i = find(state, id, at);
      if (i < 0) return;
      const cost = state.costs[i] as number;
      if (units >= cost) remove(state, i);
      else {
        state.costs[i] = cost - units;
        state.total -= units;
      }
    },
    refundableUntil: ({ at }, { windowMs }) => at + windowMs,
    release(state, id, at) {
      const i = find(state, id, at);
      if (i >= 0) remove(state, i);
    },
    renew(state, id, at, now) {
      const i = find(state, id, at);
      if (i < 0) return false;
      const cost = state.costs[i] as number;
      remove(state, i);
      insert(state, now, id, cost);
      return true;
    },
    view(state, now, { limit, windowMs }) {
      const count = state.times.length;
      return {
        remaining: limit - state.total,
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
 * a script (see stores/redis/scripts.ts). Sorted-set kind: one member "<decision id>|<cost>" per
 * decision, score = time; and a sentinel member "#<reset marker>" whose score is -(total + 1), below
 * every time, so that one ZRANGE reads the total, the marker and the oldest entry. A log whose sentinel
 * holds an older reset marker was written before a tenant reset: it is deleted when next read. Shared
 * by sliding-log and concurrency; only lease-based algorithms (concurrency) are ever released.
 */
export function logLua(code: string): string {
  return `
-- ${code}: a log of weighted entries in a sorted set
--- state: total, newest, sentinel, renewed
--- helpers
-- Reads a log: its total and sentinel after dropping what has left the window (or a voided log).
local function log_load(key, now, w, R, Rs)
  local head = redis.call('ZRANGE', key, 0, 1, 'WITHSCORES')
  local sentinel = head[1]
  if not sentinel then return 0, '#' .. Rs end
  local g = string.match(sentinel, '^#(.*)$')
  if not (g and (g == Rs or tonumber(g) >= R)) then
    redis.call('DEL', key)
    return 0, '#' .. Rs
  end
  local total = -tonumber(head[2]) - 1
  if head[4] and tonumber(head[4]) <= now - w then
    local gone = redis.call('ZRANGEBYSCORE', key, 0, now - w)
    for i = 1, #gone do total = total - tonumber(string.match(gone[i], '|(%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', key, 0, now - w)
    redis.call('ZADD', key, -total - 1, sentinel)
  end
  return total, sentinel
end
-- Ms until the oldest entries have taken (total + cost - limit) units out of the window.
local function log_wait(key, now, w, need)
  local gone, from = 0, 1
  while true do
    local entries = redis.call('ZRANGE', key, from, from + 15, 'WITHSCORES')
    if #entries == 0 then return w end
    for i = 1, #entries, 2 do
      gone = gone + tonumber(string.match(entries[i], '|(%d+)$'))
      if gone >= need then return tonumber(entries[i + 1]) + w - now end
    end
    from = from + 16
  end
end
-- The member of decision id's entry made at instant at, and its cost (nil when gone).
local function log_find(key, id, at)
  local prefix = id .. '|'
  local found = redis.call('ZRANGEBYSCORE', key, at, at)
  for i = 1, #found do
    local m = found[i]
    if string.sub(m, 1, #prefix) == prefix then return m, tonumber(string.sub(m, #prefix + 1)) end
  end
  return nil, 0
end
--- load
total@, sentinel@ = log_load(KEY@, now, W@, R, Rs)
--- fits
if cost > L@ then w@ = -1
elseif total@ + cost > L@ then w@ = log_wait(KEY@, now, W@, total@ + cost - L@) end
--- commit
total@ = total@ + cost
redis.call('ZADD', KEY@, -total@ - 1, sentinel@, now, id .. '|' .. cost)
newest@ = now
--- mark
0
--- refund
local m, c = log_find(KEY@, id, at)
if m then
  local u = min(U@, c)
  total@ = total@ - u
  redis.call('ZREM', KEY@, m)
  if c > u then redis.call('ZADD', KEY@, -total@ - 1, sentinel@, at, id .. '|' .. (c - u))
  else redis.call('ZADD', KEY@, -total@ - 1, sentinel@) end
end
--- until
at + W@
--- release
local m, c = log_find(KEY@, id, at)
if m then
  total@ = total@ - c
  redis.call('ZREM', KEY@, m)
  redis.call('ZADD', KEY@, -total@ - 1, sentinel@)
end
--- renew
local m = log_find(KEY@, id, at)
if m then
  redis.call('ZADD', KEY@, now, m)
  newest@ = now
  renewed@ = 1
end
--- remaining
L@ - total@
--- expires
total@ == 0 and now or (newest@ or tonumber(redis.call('ZRANGE', KEY@, -1, -1, 'WITHSCORES')[2])) + W@
`;
}
