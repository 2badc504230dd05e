/**
 * The verbs against the running service (`--url`): `node dist/cli.js serve --port 0` as a child
 * process on a real redis-server, driven by the CLI in process and as child processes, with the
 * admin tokens of the spec (read-write, read-only, none), and the exit codes of refusals.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/index.js';
import { useRedis } from '../regressions/support.js';
import { CLI, closedPort, policyDocument, type Run, sluice, sluiceProcess, useTempDir } from './support.js';

const WRITE = 'write-token-0123456789';
const READ = 'read-token-0123456789ab';
const CALLER = 'caller-token-0123456789';

/** `node dist/cli.js serve` on a free port; resolves once it printed where it listens. */
async function serve(
  args: string[],
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${printed}`)), 15_000);
    const read = (chunk: Buffer) => {
      printed += chunk.toString();
      const match = /sluice: listening on (http:\/\/\S+)/.exec(printed);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${printed}`)));
  });
  return { url, child };
}

describe('sluice VERB --url URL (the running service on a real redis-server)', () => {
  const redis = useRedis();
  const files = useTempDir();
  let service: { url: string; child: ChildProcess };
  const admin = (token = WRITE) => ({ SLUICE_ADMIN_TOKEN: token, SLUICE_API_TOKEN: CALLER });
  const json = (run: Run) => JSON.parse(run.out);

  beforeAll(async () => {
    const config = files.write('service.yml', policyDocument(`svc${process.pid}`));
    service = await serve(['--redis', redis.server.url, '--config', config], {
      SLUICE_ADMIN_TOKENS: `ops:${WRITE}:rw,viewer:${READ}:ro`,
      SLUICE_API_TOKENS: `gateway:${CALLER}`,
    });
  });
  afterAll(async () => {
    if (service?.child.exitCode === null) {
      service.child.kill('SIGTERM');
      await once(service.child, 'exit');
    }
  });
  const at = () => ['--url', service.url];

  it('check: 10 admitted, the 11th refused (exit 1) with the headers a gateway copies', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 10; i++)
      codes.push((await sluice(['check', 'acme', 'user:42', ...at()], admin())).code);
    expect(codes).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const refused = await sluice(['check', 'acme', 'user:42', '--json', ...at()], admin());
    expect(refused.code).toBe(1);
    const outcome = json(refused);
    expect(outcome).toMatchObject({ allowed: false, status: 429 });
    expect(outcome.decision).toMatchObject({ reason: 'rate_limited', bindingPolicy: 'per-user' });
    expect(outcome.headers['x-ratelimit-remaining']).toBe('0');
    expect(outcome.headers['retry-after']).toMatch(/^\d+$/);
    // The same through SLUICE_URL, as a child process.
    const child = await sluiceProcess(['check', 'acme', 'user:42'], { ...admin(), SLUICE_URL: service.url });
    expect(child.code).toBe(1);
    expect(child.out).toMatch(/^decision: +refused: rate_limited, retry after /);
  });

  it('status of the identity and of the tenant; reset of one limit brings it back', async () => {
    const limits = json(await sluice(['status', 'acme', 'user:42', '--json', ...at()], admin(READ))).limits;
    expect(limits.map((l: Record<string, unknown>) => [l.name, l.used, l.remaining])).toEqual([
      ['per-user.minute', 10, 0],
      ['per-tenant.minute', 10, 90],
    ]);
    const tenant = json(await sluice(['status', 'acme', '--json', ...at()], admin(READ)));
    expect(tenant).toMatchObject({ tenant: 'acme', tier: 'free', override: null });
    const reset = await sluice(
      ['reset', 'acme', 'per-user/minute', '--identity', 'user:42', ...at()],
      admin(),
    );
    expect(reset.code).toBe(0);
    expect((await sluice(['check', 'acme', 'user:42', ...at()], admin())).code).toBe(0);
  });

  it('top, tenants and audit: what the service recorded, with the token names as actors', async () => {
    for (let i = 0; i < 12; i++) await sluice(['check', 'zeta', 'user:9', ...at()], admin());
    // The service flushes its activity once a second: poll, bounded.
    let top: Array<{ identity: string; rejected: number }> = [];
    for (let i = 0; i < 40 && top.length === 0; i++) {
      top = json(await sluice(['top', 'zeta', '--json', ...at()], admin(READ))).top;
      if (top.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(top.map((t) => t.identity)).toEqual(['user:9']);
    const tenants = json(await sluice(['tenants', '--json', ...at()], admin(READ))).tenants;
    expect(tenants.map((t: { tenant: string }) => t.tenant)).toContain('zeta');
    await sluice(['block', 'zeta', 'user:9', '--for', '1m', ...at()], admin());
    const entries = json(await sluice(['audit', '--count', '2', '--json', ...at()], admin(READ))).entries;
    expect(entries.map((e: Record<string, unknown>) => [e.actor, e.action, e.target])).toEqual([
      ['ops', 'block', 'zeta/user:9'],
      ['ops', 'limits.reset', 'acme/user:42'],
    ]);
    expect(json(await sluice(['check', 'zeta', 'user:9', '--json', ...at()], admin())).decision.reason).toBe(
      'blocked',
    );
    await sluice(['unblock', 'zeta', 'user:9', ...at()], admin());
  });

  it('mode: shown, switched for every instance, cleared', async () => {
    const shown = json(await sluice(['mode', '--json', ...at()], admin(READ)));
    expect(shown).toEqual({ mode: 'enforce', policies: { 'per-user': 'enforce', 'per-tenant': 'enforce' } });
    const set = await sluice(['mode', 'shadow', '--policy', 'per-user', '--json', ...at()], admin());
    expect(json(set)).toMatchObject({ mode: 'shadow', policy: 'per-user' });
    expect(json(await sluice(['mode', '--json', ...at()], admin(READ))).policies['per-user']).toBe('shadow');
    await sluice(['mode', 'clear', '--policy', 'per-user', ...at()], admin());
  });

  it('refusals: no token or an unknown one (401), a read-only token writing (403): exit 1 with the reason', async () => {
    const none = await sluice(['tenants', ...at()], {});
    expect(none.code).toBe(1);
    expect(none.err).toContain('GET /admin/ratelimit/tenants: 401');
    expect(none.err).toContain('set SLUICE_ADMIN_TOKEN');
    const caller = await sluice(['check', 'acme', 'user:1', ...at()], { SLUICE_ADMIN_TOKEN: WRITE });
    expect(caller.code).toBe(1);
    expect(caller.err).toContain('POST /v1/check: 401');
    expect(caller.err).toContain('set SLUICE_API_TOKEN');
    const readOnly = await sluice(['reset', 'acme', ...at()], admin(READ));
    expect(readOnly.code).toBe(1);
    expect(readOnly.err).toContain('DELETE /admin/ratelimit/tenants/acme/reset: 403');
    const invalid = await sluice(['block', 'acme', '--for', 'soon', ...at()], admin());
    expect(invalid.code).toBe(1);
    expect(invalid.err).toContain('POST /admin/ratelimit/blocks: 400');
  });

  it('a service without admin tokens answers 404: exit 1 saying the admin API is off', async () => {
    const plain = await startServer({ port: 0, config: { tierPolicy: { enabled: false } }, metrics: false });
    try {
      const run = await sluice(['tenants', '--url', plain.url], admin());
      expect(run.code).toBe(1);
      expect(run.err).toContain('the admin API is off');
    } finally {
      await plain.close();
    }
  });

  it('SIGTERM stops the service (exit 0); then its port is unreachable (exit 3)', async () => {
    const { url, child } = service;
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    const run = await sluiceProcess(['status', 'acme', '--url', url], admin());
    expect(run.code).toBe(3);
    expect(run.err).toContain('connection refused');
    const port = await closedPort();
    expect((await sluice(['mode', '--url', `http://127.0.0.1:${port}`], admin())).code).toBe(3);
  });
});
