import type { Algorithm } from '../types.js';

/**
 * Sliding-window counter: the current fixed window's count plus the previous window's count weighted
 * by how much of it still overlaps the sliding window. O(1) memory, approximate (it assumes the
 * previous window's requests were spread evenly), never admits more than `limit` per fixed window.
 */
export interface SlidingWindowState {
  start: number;
  current: number;
  previous: number;
}

function used(state: SlidingWindowState, now: number, windowMs: number): number {
  return (state.previous * (windowMs - (now - state.start))) / windowMs + state.current;
}

function fullAt(state: SlidingWindowState, now: number, windowMs: number): number {
  if (state.current > 0) return state.start + 2 * windowMs;
  if (state.previous > 0) return state.start + windowMs;
  return now;
}

export const slidingWindow: Algorithm<SlidingWindowState> = {
  name: 'sliding-window',
  code: 'sw',
  leases: false,
  ledger: true,
  acceptsBurst: false,
  capacity: (limit) => limit,
  load(stored, now, { windowMs }) {
    const start = Math.floor(now / windowMs) * windowMs;
    if (stored && stored.start === start)
      return { start, current: stored.current, previous: stored.previous };
    if (stored && stored.start === start - windowMs) return { start, current: 0, previous: stored.current };
    return { start, current: 0, previous: 0 };
  },
  fits(state, now, { limit, windowMs }, cost) {
    if (cost > limit) return { fits: false, retryAfterMs: -1 };
    if (used(state, now, windowMs) + cost <= limit) return { fits: true, retryAfterMs: 0 };
    const elapsed = now - state.start;
    if (state.current + cost <= limit) {
      // Wait inside this window until the previous window's weight has decayed enough.
      const at = windowMs - ((limit - state.current - cost) * windowMs) / state.previous;
      return { fits: false, retryAfterMs: at - elapsed };
    }
    // Wait for the next window, where this window's count becomes the decaying previous one.
    const at = Math.max(0, windowMs - ((limit - cost) * windowMs) / state.current);
    return { fits: false, retryAfterMs: state.start + windowMs - now + at };
  },
  commit(state, _now, _limit, cost) {
    state.current += cost;
  },
  mark: () => 0,
  refund(state, _now, { windowMs }, units, { at }) {
    // The decision's units are in the window that admitted it: the current one or, a window later,
    // the previous one (which still weighs on the sliding window). Older ones weigh nothing.
    const start = Math.floor(at / windowMs) * windowMs;
    if (start === state.start) state.current = Math.max(0, state.current - units);
    else if (start === state.start - windowMs) state.previous = Math.max(0, state.previous - units);
  },
  refundableUntil: ({ at }, { windowMs }) => Math.floor(at / windowMs) * windowMs + 2 * windowMs,
  view(state, now, { limit, windowMs }) {
    return {
      remaining: Math.max(0, limit - used(state, now, windowMs)),
      resetAt: fullAt(state, now, windowMs),
    };
  },
  expiresAt: (state, now, { windowMs }) => fullAt(state, now, windowMs),
};

/**
 * Lua half: a template in sections that the Redis store inlines for every sliding-window limit of a
 * script (see stores/redis/scripts.ts). String kind: "start|current|previous|reset marker". The
 * expressions are the TypeScript ones above, term for term, so both halves round alike.
 */
export const slidingWindowLua = `
--- state: start, cur, prev, s, p, keep
--- parse
start@ = now - now % W@ -- the window's start: floor(now / W) * W, as in load()
cur@, prev@ = 0, 0
if V@ then
  local s, c, p, g = string.match(V@, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  if g == Rs or tonumber(g) >= R then
    local stored = tonumber(s)
    -- Counts kept as stored are written back as the same strings (number-to-string conversions
    -- are costly); within one window, once it has a count, the TTL (two windows past its start)
    -- does not change either.
    if stored == start@ then
      -- (coercion, cheaper than tonumber: a count that is not a number fails the decision either way)
      cur@, prev@ = c + 0, p + 0
      s@, p@, keep@ = s, p, cur@ > 0
    elseif stored == start@ - W@ then
      prev@, p@ = c + 0, c
    end
  end
end
--- fits
if cost > L@ then w@ = -1
elseif prev@ * (W@ - (now - start@)) / W@ + cur@ + cost > L@ then
  if cur@ + cost <= L@ then
    -- Wait inside this window until the previous window's weight has decayed enough.
    w@ = (W@ - (L@ - cur@ - cost) * W@ / prev@) - (now - start@)
  else
    -- Wait for the next window, where this window's count becomes the decaying previous one.
    w@ = start@ + W@ - now + max(0, W@ - (L@ - cost) * W@ / cur@)
  end
end
--- commit
cur@ = cur@ + cost
--- refund
local sa = at - at % W@
if sa == start@ then cur@ = max(0, cur@ - U@)
elseif sa == start@ - W@ then prev@, p@ = max(0, prev@ - U@), nil end
--- until
at - at % W@ + 2 * W@
--- mark
0
--- remaining
L@ - (prev@ * (W@ - (now - start@)) / W@ + cur@)
--- expires
cur@ > 0 and start@ + 2 * W@ or (prev@ > 0 and start@ + W@ or now)
--- encode
(s@ or int(start@)) .. '|' .. int(cur@) .. '|' .. (p@ or int(prev@)) .. '|' .. Rs
--- keep
keep@
`;
