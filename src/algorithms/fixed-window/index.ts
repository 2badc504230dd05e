import type { Algorithm } from '../types.js';

/** Counter per window aligned to the epoch (a "1m" window is each calendar minute). */
export interface FixedWindowState {
  start: number;
  count: number;
}

export const fixedWindow: Algorithm<FixedWindowState> = {
  name: 'fixed-window',
  code: 'fw',
  leases: false,
  ledger: true,
  acceptsBurst: false,
  capacity: (limit) => limit,
  load(stored, now, { windowMs }) {
    const start = Math.floor(now / windowMs) * windowMs;
    return { start, count: stored && stored.start === start ? stored.count : 0 };
  },
  fits(state, now, { limit, windowMs }, cost) {
    if (cost > limit) return { fits: false, retryAfterMs: -1 };
    if (state.count + cost <= limit) return { fits: true, retryAfterMs: 0 };
    return { fits: false, retryAfterMs: state.start + windowMs - now };
  },
  commit(state, _now, _limit, cost) {
    state.count += cost;
  },
  mark: () => 0,
  refund(state, _now, { windowMs }, units, { at }) {
    // Only units of the window that admitted the decision; a past window's units are gone already.
    if (Math.floor(at / windowMs) * windowMs === state.start) state.count = Math.max(0, state.count - units);
  },
  refundableUntil: ({ at }, { windowMs }) => Math.floor(at / windowMs) * windowMs + windowMs,
  view(state, now, { limit, windowMs }) {
    return { remaining: limit - state.count, resetAt: state.count > 0 ? state.start + windowMs : now };
  },
  expiresAt(state, now, { windowMs }) {
    return state.count > 0 ? state.start + windowMs : now;
  },
};

/**
 * Lua half: a template in sections that the Redis store inlines for every fixed-window limit of a
 * script (see stores/redis/scripts.ts for the sections and placeholders). String kind: the state is one
 * string "start|count|reset marker", read by the script's single MGET (V@) and written with one SET.
 */
export const fixedWindowLua = `
--- state: start, count, s
--- parse
start@ = now - now % W@ -- the window's start: floor(now / W) * W, as in load()
count@ = 0
if V@ then
  local s, c, g = string.match(V@, '^([^|]*)|([^|]*)|(.*)$')
  if (g == Rs or tonumber(g) >= R) and tonumber(s) == start@ then
    count@ = c + 0 -- coercion, cheaper than tonumber: a count that is not a number fails either way
    s@ = s -- the start as stored, written back as is (number-to-string conversions are costly)
  end
end
--- fits
if cost > L@ then w@ = -1
elseif count@ + cost > L@ then w@ = start@ + W@ - now end
--- commit
count@ = count@ + cost
--- refund
if at - at % W@ == start@ then count@ = max(0, count@ - U@) end
--- until
at - at % W@ + W@
--- mark
0
--- remaining
L@ - count@
--- expires
count@ > 0 and start@ + W@ or now
--- encode
(s@ or int(start@)) .. '|' .. int(count@) .. '|' .. Rs
--- keep
-- Same window as stored: the key's TTL (the window's end) does not change.
s@
`;
