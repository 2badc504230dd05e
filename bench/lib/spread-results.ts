/** The spread bench's results: what bench/spread.ts measures and bench/results/spread.json holds. */
import type { AdmissionCheck } from './admission.js';
import type { ProcessMemoryRow } from './process-memory.js';
import type { RedisBenchmarkRun } from './redis-benchmark.js';
import type { MachineInfo } from './run-info.js';
import type { ContenderSummary } from './summary.js';

export interface SpreadConfig {
  seconds: number;
  warmupSeconds: number;
  rounds: number;
  inFlight: number;
  memoryKeys: number;
  redisBenchmark: { bin: string; requests: number; clients: number };
}

export interface SpreadRow extends ContenderSummary {
  store: 'redis' | 'memory';
  /** Median decisions/s over rlf-redis's (Redis contenders) or rlf-memory's (memory contenders). */
  ratioToRlf: number;
  rlf: string;
  /** Median decisions/s over redis-benchmark's median requests/s; null for memory contenders. */
  ratioToRedisBenchmark: number | null;
  /** Hot-key scenario only: the over-admission check, over all rounds (warm-ups included). */
  admission: AdmissionCheck | null;
}

export interface ScenarioResult {
  name: string;
  what: string;
  limit: number;
  contenders: SpreadRow[];
  /** peerRatios[a][b]: a's median decisions/s over b's, same scenario. */
  peerRatios: Record<string, Record<string, number>>;
}

export interface RedisBenchmarkResult {
  /** The command run (host, port and SHA as placeholders). */
  command: string;
  rounds: RedisBenchmarkRun[];
  /** The median round by requests/s; null when it could not run (see `error`). */
  median: RedisBenchmarkRun | null;
  error?: string;
}

/** The single-key figures of the decisions bench of the same `npm run bench` run, for the targets. */
export interface SingleKeyFigures {
  source: string;
  date: string;
  /** Median decisions/s and p99 by contender name. */
  contenders: Record<string, { decisionsPerSec: number; p99Us: number }>;
}

export type TargetStatus = 'MET' | 'MISSED' | 'not measured' | 'reported';

export interface TargetRow {
  target: string;
  /** The contender judged ('-' when none). */
  contender: string;
  scenario: string;
  measured: string;
  status: TargetStatus;
  /**
   * How far past (+) or short of (-) the target: a ratio target's measured ratio over the goal, minus
   * one; a p99 bound's bound over the measured ratio, minus one (how much p99 may still grow, or must
   * shrink). Or why there is no figure.
   */
  margin: string;
}

export type SpreadInfo = MachineInfo & { config: SpreadConfig; durationSeconds: number };

export interface SpreadResults {
  info: SpreadInfo;
  scenarios: ScenarioResult[];
  redisBenchmark: RedisBenchmarkResult;
  processMemory: ProcessMemoryRow[];
  singleKey: SingleKeyFigures | null;
  targets: TargetRow[];
  /** Contenders this build cannot run, and why. */
  skipped: Array<{ contender: string; reason: string }>;
  /** Everything that makes a figure suspect (over-admission, unexpected rejections): empty when none. */
  warnings: string[];
}
