/**
 * What a Sluice decide script costs before it does any work: EVALSHA of an empty script (the fixed cost
 * of any script call) and of the decide script's prelude alone (TIME and the helpers the script
 * defines), each measured in Redis with INFO commandstats. Read beside the contenders' full-script
 * figures, it splits Sluice's script time into call overhead, prelude and the limits' work.
 */
import type { Redis } from 'ioredis';
import { decideSource } from '../../src/stores/redis/scripts.js';
import { readCounters, scriptStat, subtract } from './redis-stats.js';

export interface AnatomyRow {
  script: string;
  usecPerCall: number | null;
  note: string;
}

const CALLS = 20_000;
const IN_FLIGHT = 64;
/** The first line of the decide script's body, right after the shared prelude. */
const BODY_MARKER = 'local cost = ';

export async function measureScriptAnatomy(admin: Redis): Promise<AnatomyRow[]> {
  // The prelude of a single fixed-window decision: the layout sluice-redis-1 runs.
  const decide = decideSource({ codes: ['fw'], blockKeys: 1, penalty: false });
  const bodyAt = decide.indexOf(BODY_MARKER);
  return [
    {
      script: 'empty (return 1)',
      usecPerCall: await usecPerCall(admin, 'return 1'),
      note: 'fixed cost of any EVALSHA',
    },
    {
      script: 'Sluice decide prelude only',
      usecPerCall: bodyAt < 0 ? null : await usecPerCall(admin, `${decide.slice(0, bodyAt)}\nreturn 1\n`),
      note:
        bodyAt < 0
          ? `not measured: "${BODY_MARKER}" not found in the decide script`
          : 'TIME and the helpers the fixed-window script defines; then return',
    },
  ];
}

/** Loads `source`, calls it CALLS times (IN_FLIGHT at once) and returns Redis's usec per call. */
async function usecPerCall(admin: Redis, source: string): Promise<number> {
  const sha = (await admin.script('LOAD', source)) as string;
  const before = await readCounters(admin);
  for (let sent = 0; sent < CALLS; sent += IN_FLIGHT) {
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => admin.evalsha(sha, 0)));
  }
  const stat = scriptStat(subtract(await readCounters(admin), before));
  return stat.usec / stat.calls;
}
