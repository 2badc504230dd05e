/** `sluice config validate FILE [--env]`: every problem of a configuration, with the field's path. */
import { EXIT } from '../failures.js';
import { printJson } from '../output.js';
import type { Verb } from '../verb.js';

export const configValidateVerb: Verb = {
  name: 'config validate',
  summary: 'check a configuration document (YAML or JSON); exit 1 naming every bad field',
  usage: `usage: sluice config validate FILE [--env]
  FILE   a YAML or JSON configuration document
  --env  apply the environment variables (RATE_LIMIT_*, REDIS_URL, ...) over it first`,
  flags: { env: { type: 'boolean' } },
  positionals: { min: 1, max: 1, names: ['FILE'] },
  transport: false,
  async run(call) {
    const file = call.positionals[0] as string;
    // Imported here: the other verbs do not load the configuration's validation (zod, yaml).
    const { configFromEnv, loadConfigFile, parseConfig } = await import('../../index.js');
    let doc = loadConfigFile(file);
    if (call.values.env === true) doc = configFromEnv(call.env, (doc ?? {}) as Record<string, unknown>);
    const config = parseConfig(doc, file);
    const summary = {
      valid: true,
      file,
      policies: config.policies.length,
      tiers: Object.keys(config.tiers),
      store: config.store.type,
      mode: config.mode,
    };
    if (call.json) printJson(call.out, summary);
    else
      call.out.write(
        `${file}: valid (${summary.policies} policies, tiers ${summary.tiers.join(', ')}, store ${summary.store}, mode ${summary.mode})\n`,
      );
    return EXIT.ok;
  },
};
