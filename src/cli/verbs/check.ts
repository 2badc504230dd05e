/** `sluice check TENANT [IDENTITY]`: one decision (or a peek), exit 1 when refused. */
import { stringOf } from '../args.js';
import { EXIT, invalid } from '../failures.js';
import { instant, printFields, printJson, printTable, span } from '../output.js';
import type { CheckOutcome } from '../transport.js';
import type { Verb } from '../verb.js';
import { CONTEXT_FLAGS, CONTEXT_USAGE, contextOf } from './context.js';

export const checkVerb: Verb = {
  name: 'check',
  summary: 'decide one request (or --peek) against the policies; exit 1 when refused',
  usage: `usage: sluice check TENANT [IDENTITY] [--endpoint ROUTE] [--roles a,b] [--ip ADDR] [--tier T] [--cost N] [--peek]
  Decides one request as POST /v1/check does (it counts, unless --peek), and prints the decision.
${CONTEXT_USAGE}
  --tier T          the tenant's tier, when the caller knows it
  --cost N          units the request costs (default 1)
  --peek            read without consuming (POST /v1/peek)`,
  flags: { ...CONTEXT_FLAGS, tier: { type: 'string' }, cost: { type: 'string' }, peek: { type: 'boolean' } },
  positionals: { min: 1, max: 2, names: ['TENANT', 'IDENTITY'] },
  transport: true,
  async run(call) {
    const [tenant, identity] = call.positionals as [string, string | undefined];
    const ctx = contextOf(tenant, identity, call.values);
    const tier = stringOf(call.values, 'tier');
    if (tier !== undefined) ctx.tier = tier;
    const cost = stringOf(call.values, 'cost');
    if (cost !== undefined) {
      if (!/^\d+$/.test(cost)) throw invalid('--cost', `${JSON.stringify(cost)} must be a whole number`);
      ctx.cost = Number(cost);
    }
    const outcome = await (await call.admin()).check(ctx, call.values.peek === true);
    if (call.json) printJson(call.out, outcome);
    else printDecision(call.out, outcome);
    if (outcome.allowed) return EXIT.ok;
    return outcome.decision.reason === 'store_unavailable' ? EXIT.unreachable : EXIT.failed;
  },
};

function printDecision(
  out: Parameters<typeof printJson>[0],
  { allowed, status, decision: d }: CheckOutcome,
): void {
  const verdict = allowed ? 'allowed' : `refused: ${d.reason}, retry after ${span(d.retryAfterMs)}`;
  const fields: Array<[string, string]> = [
    ['decision', `${verdict} (${status})`],
    ['tenant', `${d.tenant} (tier ${d.tier})`],
  ];
  if (d.binding)
    fields.push(['binding', `${d.binding.name}${d.bindingPolicy ? ` (policy ${d.bindingPolicy})` : ''}`]);
  if (d.shadowRejections?.length)
    fields.push(['shadow', `would be refused by ${d.shadowRejections.join(', ')}`]);
  printFields(out, fields);
  const rows = (d.limits ?? []).map((l) => [
    l.name,
    l.algorithm,
    String(l.remaining),
    String(l.limit),
    span(l.windowMs),
    l.allowed ? 'yes' : 'no',
    instant(l.resetAt),
  ]);
  printTable(
    out,
    ['limit', 'algorithm', 'remaining', 'of', 'window', 'room', 'full again at'],
    rows,
    '(no limits apply)',
  );
}
