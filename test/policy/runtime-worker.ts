/**
 * A second Sluice instance, in its own process, for the runtime-override test: it polls its decisions
 * and prints a JSON line each time the tier it sees for a tenant changes.
 */
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';

const [url, tenant] = process.argv.slice(2) as [string, string];
const limiter = await PolicyLimiter.create({
  config: { store: { type: 'redis', url }, refreshInterval: '200ms', prefix: 'runtime' },
});
let seen = '';
const deadline = Date.now() + 20_000;
console.log(JSON.stringify({ ready: true }));
while (Date.now() < deadline) {
  const d = await limiter.check({ tenant });
  if (d.tier !== seen) {
    seen = d.tier;
    console.log(JSON.stringify({ tier: d.tier, version: d.configVersion, at: Date.now() }));
    if (d.tier === 'premium') break;
  }
  await new Promise((resolve) => setTimeout(resolve, 10));
}
await limiter.close();
