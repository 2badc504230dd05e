/** The verbs that change state: `reset`, `block`, `unblock`, `mode`. */
import { MODES, type Mode } from '../../policy/types.js';
import { identityText, parseIdentity, parseLimit, stringOf } from '../args.js';
import { EXIT, invalid, UsageError } from '../failures.js';
import { printJson, printTable } from '../output.js';
import type { BlockTarget, ResetTarget } from '../transport.js';
import type { Verb, VerbCall } from '../verb.js';

export const resetVerb: Verb = {
  name: 'reset',
  summary: "forget a tenant's counters, or one identity's, route's, policy's or limit's",
  usage: `usage: sluice reset TENANT [LIMIT] [--identity IDENTITY] [--endpoint ROUTE]
  Without LIMIT or flags: every counter of TENANT (blocks stay). Otherwise the counters of the limits
  that apply to that identity and route, of one policy (LIMIT = POLICY) or one limit (POLICY/LIMIT).
  --identity ID     user:ID, ip:ADDR, or a bare user id
  --endpoint ROUTE  the route pattern ("/users/:id")`,
  flags: { identity: { type: 'string' }, endpoint: { type: 'string' } },
  positionals: { min: 1, max: 2, names: ['TENANT', 'LIMIT'] },
  transport: true,
  async run(call) {
    const [tenant, limit] = call.positionals as [string, string | undefined];
    const target: ResetTarget = {};
    const identity = stringOf(call.values, 'identity');
    if (identity !== undefined) Object.assign(target, parseIdentity(identity, '--identity'));
    const endpoint = stringOf(call.values, 'endpoint');
    if (endpoint !== undefined) target.endpoint = endpoint;
    if (limit !== undefined) Object.assign(target, parseLimit(limit));
    await (await call.admin()).reset(tenant, target);
    if (call.json) printJson(call.out, { reset: true, tenant, ...target });
    else call.out.write(`reset ${tenant}: ${resetScope(target)}\n`);
    return EXIT.ok;
  },
};

function resetScope(target: ResetTarget): string {
  if (Object.keys(target).length === 0) return 'every counter of the tenant';
  const parts = [
    target.user !== undefined || target.ip !== undefined ? identityText(target) : '',
    target.endpoint !== undefined ? `route ${target.endpoint}` : '',
    target.limit !== undefined
      ? `limit ${target.limit}`
      : target.policy !== undefined
        ? `policy ${target.policy}`
        : '',
  ];
  return parts.filter((p) => p !== '').join(', ');
}

const BLOCK_USAGE = `  IDENTITY          user:ID, ip:ADDR, or a bare user id (absent: the whole tenant)`;

export const blockVerb: Verb = {
  name: 'block',
  summary: 'refuse every request of a tenant, user or IP for a while',
  usage: `usage: sluice block TENANT [IDENTITY] --for DURATION
  Every request of TENANT (or of that user or IP) is refused, reason "blocked", for DURATION.
${BLOCK_USAGE}
  --for DURATION    how long: "10m", "1h30m", or milliseconds`,
  flags: { for: { type: 'string' } },
  positionals: { min: 1, max: 2, names: ['TENANT', 'IDENTITY'] },
  transport: true,
  async run(call) {
    const duration = stringOf(call.values, 'for');
    if (duration === undefined) throw new UsageError('missing --for DURATION');
    const target = blockTargetOf(call);
    await (await call.admin()).block(target, /^\d+$/.test(duration) ? Number(duration) : duration);
    if (call.json) printJson(call.out, { blocked: true, ...target, duration });
    else call.out.write(`blocked ${targetText(target)} for ${duration}\n`);
    return EXIT.ok;
  },
};

export const unblockVerb: Verb = {
  name: 'unblock',
  summary: 'lift a block',
  usage: `usage: sluice unblock TENANT [IDENTITY]
  Lifts the block of TENANT, or of that user or IP (set by \`sluice block\` or by reputation).
${BLOCK_USAGE}`,
  flags: {},
  positionals: { min: 1, max: 2, names: ['TENANT', 'IDENTITY'] },
  transport: true,
  async run(call) {
    const target = blockTargetOf(call);
    await (await call.admin()).unblock(target);
    if (call.json) printJson(call.out, { unblocked: true, ...target });
    else call.out.write(`unblocked ${targetText(target)}\n`);
    return EXIT.ok;
  },
};

function blockTargetOf(call: VerbCall): BlockTarget {
  const [tenant, identity] = call.positionals as [string, string | undefined];
  return { tenant, ...(identity === undefined ? {} : parseIdentity(identity)) };
}

function targetText(target: BlockTarget): string {
  return target.user === undefined && target.ip === undefined
    ? `tenant ${target.tenant}`
    : `${identityText(target)} of tenant ${target.tenant}`;
}

export const modeVerb: Verb = {
  name: 'mode',
  summary: "show the modes, or switch the global mode or one policy's (enforce, shadow, disabled)",
  usage: `usage: sluice mode [MODE] [--policy NAME]
  Without MODE: the global mode and every policy's. With it: switches the global mode (or with
  --policy that policy's) on every instance; "clear" removes the runtime switch.
  MODE              enforce, shadow, disabled, or clear
  --policy NAME     one policy instead of the global mode`,
  flags: { policy: { type: 'string' } },
  positionals: { min: 0, max: 1, names: ['MODE'] },
  transport: true,
  async run(call) {
    const [given] = call.positionals;
    const policy = stringOf(call.values, 'policy');
    const admin = await call.admin();
    if (given === undefined) {
      if (policy !== undefined) throw new UsageError('--policy needs a MODE to set');
      const report = await admin.modes();
      if (call.json) printJson(call.out, report);
      else showModes(call.out, report.mode, report.policies);
      return EXIT.ok;
    }
    const mode = modeOf(given);
    const version = await admin.setMode(mode, policy);
    if (call.json) printJson(call.out, { mode, ...(policy === undefined ? {} : { policy }), version });
    else
      call.out.write(
        `${policy === undefined ? 'global mode' : `policy ${policy}`}: ${mode ?? 'cleared'} (overrides version ${version})\n`,
      );
    return EXIT.ok;
  },
};

export const tierVerb: Verb = {
  name: 'tier',
  summary: "move a tenant to another tier at runtime (or back to the configuration's)",
  usage: `usage: sluice tier TENANT TIER
  Moves TENANT to TIER on every instance (a runtime override); TIER "clear" goes back to what the
  configuration says.`,
  flags: {},
  positionals: { min: 2, max: 2, names: ['TENANT', 'TIER'] },
  transport: true,
  async run(call) {
    const [tenant, given] = call.positionals as [string, string];
    const tier = given === 'clear' ? null : given;
    const version = await (await call.admin()).setTier(tenant, tier);
    if (call.json) printJson(call.out, { tenant, tier, version });
    else
      call.out.write(
        `tenant ${tenant}: tier ${tier ?? 'from the configuration'} (overrides version ${version})\n`,
      );
    return EXIT.ok;
  },
};

function modeOf(text: string): Mode | null {
  if (text === 'clear') return null;
  if (!(MODES as readonly string[]).includes(text)) {
    throw invalid('MODE', `${JSON.stringify(text)} must be one of ${MODES.join(', ')}, clear`);
  }
  return text as Mode;
}

function showModes(out: VerbCall['out'], mode: Mode, policies: Record<string, Mode>): void {
  out.write(`global mode: ${mode}\n`);
  printTable(out, ['policy', 'mode'], Object.entries(policies), '(no policies)');
}
