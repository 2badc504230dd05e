import type { BoardEntry, BoardWrite } from '../boards.js';

interface Board {
  readonly scores: Map<string, number>;
  expiresAt: number;
}

/**
 * The memory store's boards (stores/boards.ts): one Map per board, trimmed to its bound when it has
 * grown past twice it (amortised), dropped when expired on access.
 */
export class MemoryBoards {
  private readonly boards = new Map<string, Board>();

  constructor(private readonly clock: () => number) {}

  add(key: string, entries: readonly BoardEntry[], write: BoardWrite): void {
    const now = this.clock();
    const board = this.live(key, now) ?? { scores: new Map<string, number>(), expiresAt: 0 };
    for (const [member, score] of entries) {
      const had = board.scores.get(member);
      if (had === undefined || write.mode === 'set') board.scores.set(member, score);
      else if (write.mode === 'add') board.scores.set(member, had + score);
      else if (score > had) board.scores.set(member, score);
    }
    trim(board.scores, write.maxMembers);
    board.expiresAt = now + write.ttlMs;
    this.boards.set(key, board);
  }

  read(keys: readonly string[], weights: readonly number[], count: number, minScore: number): BoardEntry[] {
    const now = this.clock();
    const sums = new Map<string, number>();
    keys.forEach((key, i) => {
      const weight = weights[i] ?? 1;
      for (const [member, score] of this.live(key, now)?.scores ?? []) {
        sums.set(member, (sums.get(member) ?? 0) + weight * score);
      }
    });
    return highest(
      [...sums].filter(([, s]) => s >= minScore),
      count,
    );
  }

  clear(): void {
    this.boards.clear();
  }

  private live(key: string, now: number): Board | undefined {
    const board = this.boards.get(key);
    if (board && board.expiresAt <= now) {
      this.boards.delete(key);
      return undefined;
    }
    return board;
  }
}

function highest(entries: Array<[string, number]>, count: number): BoardEntry[] {
  entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return entries.slice(0, count);
}

/** Drops the lowest scores past `max`, ties broken as Redis' ranks do (the lowest member first). */
function trim(scores: Map<string, number>, max: number): void {
  if (scores.size <= max) return;
  const ranked = [...scores].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 0; i < ranked.length - max; i++) scores.delete((ranked[i] as [string, number])[0]);
}
