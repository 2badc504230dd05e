// `sluice serve` is the service's (src/server/serve.ts), imported by main.ts only for that verb. Until it lands:
import type { Output } from './output.js';
export async function serveCommand(_argv: string[], _out: Output, err: Output): Promise<number> {
  err.write('sluice serve: the service (src/server/) is not in this build yet\n');
  return 1;
}
