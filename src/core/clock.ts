/** Milliseconds since the epoch. The memory store takes one so tests can drive time exactly. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** A clock that only moves when told to: for tests and simulations. */
export class ManualClock {
  private current: number;
  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }
  readonly now: Clock = () => this.current;
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number): void {
    this.current = ms;
  }
}
