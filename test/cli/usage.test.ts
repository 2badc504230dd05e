/**
 * The command line's contract, in process: --version, --help for every verb, strict flags (an unknown
 * flag or a missing argument is exit 2 with that verb's usage), invalid values exit 1 naming them, and a
 * service or store that does not answer exits 3.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { closedPort, policyDocument, sluice, useTempDir } from './support.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
const VERBS = [
  'check',
  'status',
  'top',
  'tenants',
  'reset',
  'block',
  'unblock',
  'mode',
  'audit',
  'calibrate',
];
const URL_ENV = { SLUICE_URL: 'http://127.0.0.1:9' };

describe('sluice: usage and exit codes', () => {
  const files = useTempDir();

  it('--version prints the package version (exit 0), as JSON with --json', async () => {
    expect(await sluice(['--version'])).toEqual({ code: 0, out: `sluice ${version}\n`, err: '' });
    expect(JSON.parse((await sluice(['--version', '--json'])).out)).toEqual({ version });
  });

  it('no verb, or an unknown one, is a usage error (2) with the list of verbs', async () => {
    for (const argv of [[], ['frobnicate'], ['config'], ['config', 'check']]) {
      const run = await sluice(argv);
      expect(run.code).toBe(2);
      expect(run.err).toContain('usage: sluice VERB');
      for (const verb of [...VERBS, 'serve', 'config validate']) expect(run.err).toContain(`  ${verb} `);
    }
    expect((await sluice(['frobnicate'])).err).toContain('sluice: unknown verb "frobnicate"');
  });

  it('--help, -h and `help VERB` print the verb usage on stdout (exit 0), with the transport and exit codes', async () => {
    for (const verb of VERBS) {
      for (const argv of [
        [verb, '--help'],
        [verb, '-h'],
        ['help', verb],
      ]) {
        const run = await sluice(argv);
        expect(run.code).toBe(0);
        expect(run.out).toContain(`usage: sluice ${verb}`);
        expect(run.out).toContain(
          'exit codes: 0 ok, 1 refused or invalid input, 2 usage, 3 service or store unreachable',
        );
      }
    }
    expect((await sluice(['status', '--help'])).out).toContain('--url URL');
    expect((await sluice(['config', 'validate', '--help'])).out).toContain(
      'usage: sluice config validate FILE',
    );
    expect((await sluice(['--help'])).out).toContain('usage: sluice VERB');
  });

  it('an unknown flag is a usage error naming it, with that verb usage', async () => {
    const run = await sluice(['status', 'acme', '--tenat', 'x'], URL_ENV);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/^sluice status: unknown flag --tenat\nusage: sluice status TENANT/);
  });

  it('a missing or extra argument, or a flag without its value, is a usage error', async () => {
    const cases: Array<[string[], string]> = [
      [['status'], 'sluice status: missing TENANT'],
      [['top'], 'sluice top: missing TENANT'],
      [['block', 'acme'], 'sluice block: missing --for DURATION'],
      [['status', 'acme', 'user:1', 'extra'], 'sluice status: unexpected argument extra'],
      [['tenants', 'acme'], 'sluice tenants: unexpected argument acme'],
      [['top', 'acme', '--count'], 'sluice top: --count needs a value'],
      [['check', 'acme', '--peek=yes'], 'sluice check: --peek takes no value'],
      [['config', 'validate'], 'sluice config validate: missing FILE'],
      [['mode', '--policy', 'p'], 'sluice mode: --policy needs a MODE to set'],
    ];
    for (const [argv, message] of cases) {
      const run = await sluice(argv, URL_ENV);
      expect({ argv, code: run.code }).toEqual({ argv, code: 2 });
      expect(run.err).toContain(message);
      expect(run.err).toContain(`usage: sluice ${argv[0] === 'config' ? 'config validate' : argv[0]}`);
    }
  });

  it('where Sluice is: none given, or both kinds, is a usage error', async () => {
    const none = await sluice(['status', 'acme']);
    expect(none.code).toBe(2);
    expect(none.err).toContain('say where Sluice is: --url URL (or SLUICE_URL)');
    const both = await sluice(['status', 'acme', '--url', 'http://x', '--redis', 'redis://x']);
    expect(both.code).toBe(2);
    expect(both.err).toContain('give --url (a service) or --redis/--config (the store), not both');
    const memory = files.write('memory.yml', 'store: { type: memory }\n');
    const inProcess = await sluice(['status', 'acme', '--config', memory]);
    expect(inProcess.code).toBe(2);
    expect(inProcess.err).toContain('uses the in-process memory store');
  });

  it('invalid values exit 1 naming the field, before anything is sent', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const cases: Array<[string[], string]> = [
      [['top', 'acme', '--count', '0'], '--count: "0" must be a whole number from 1 to 1000'],
      [['tenants', '--count', 'ten'], '--count: "ten" must be a whole number from 1 to 1000'],
      [['mode', 'loud'], 'MODE: "loud" must be one of enforce, shadow, disabled, clear'],
      [['status', 'acme', 'user:'], 'IDENTITY: "user:" names no user'],
      [['reset', 'acme', 'per-user/'], 'LIMIT: "per-user/" must be POLICY or POLICY/LIMIT'],
      [['check', 'acme', '--cost=1.5'], '--cost: "1.5" must be a whole number'],
      [['check', 'acme', 'ip:1.2.3.4', '--ip', '5.6.7.8'], '--ip: IDENTITY is already an ip'],
      [['status', 'acme', '--timeout', '0'], '--timeout: "0" must be milliseconds from 1 to 600000'],
      [['status', 'acme', '--url', 'ftp://x'], '--url: "ftp://x" must be an http(s):// URL'],
      [
        ['tenants', '--url', 'http://127.0.0.1:1'],
        '--url: http://127.0.0.1:1: fetch refuses to connect to this port',
      ],
    ];
    for (const [argv, message] of cases) {
      const run = await sluice([...argv, ...(argv.includes('--url') ? [] : ['--url', url])]);
      expect({ argv, code: run.code }).toEqual({ argv, code: 1 });
      expect(run.err).toContain(message);
    }
  });

  it('a bad configuration exits 1 with every problem; --json prints them as one document', async () => {
    const bad = files.write('bad.yml', 'policies:\n  - { name: p, scope: galaxy }\n');
    const run = await sluice(['status', 'acme', '--config', bad, '--redis', 'redis://127.0.0.1:1', '--json']);
    expect(run.code).toBe(1);
    expect(run.err).toContain('policies[0].scope');
    const doc = JSON.parse(run.out);
    expect(doc.error.exitCode).toBe(1);
    expect(doc.error.code).toBe('ERR_SLUICE_INVALID_CONFIG');
    expect(doc.error.issues.map((i: { path: string }) => i.path)).toEqual(['policies[0].scope']);
    const validated = await sluice(['config', 'validate', bad, '--json']);
    expect(validated.code).toBe(1);
    expect(JSON.parse(validated.out).error.issues[0].path).toBe('policies[0].scope');
  });

  it('config validate --json: the summary as one document', async () => {
    const good = files.write('good.yml', policyDocument('x'));
    const run = await sluice(['config', 'validate', good, '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toEqual({
      valid: true,
      file: good,
      policies: 2,
      tiers: ['free', 'basic', 'premium', 'enterprise'],
      store: 'memory',
      mode: 'enforce',
    });
  });

  it('a closed port exits 3 (unreachable), on --url and on --redis, with --json too', async () => {
    const port = await closedPort();
    const service = await sluice(['status', 'acme', '--url', `http://127.0.0.1:${port}`]);
    expect(service.code).toBe(3);
    expect(service.err).toContain(`http://127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    const check = await sluice(['check', 'acme', 'user:1', '--json'], {
      SLUICE_URL: `http://127.0.0.1:${port}`,
    });
    expect(check.code).toBe(3);
    expect(JSON.parse(check.out).error.exitCode).toBe(3);
    const config = files.write('policies.yml', policyDocument('closed'));
    const started = Date.now();
    const store = await sluice([
      'reset',
      'acme',
      '--redis',
      `redis://127.0.0.1:${port}`,
      '--config',
      config,
      '--timeout',
      '300',
    ]);
    expect(store.code).toBe(3);
    expect(store.err).toContain('sluice reset: redis store: create: the store could not be reached');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a service that accepts but never answers: exit 3 after --timeout', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const run = await sluice(['tenants', '--url', `http://127.0.0.1:${port}`, '--timeout', '200']);
      expect(run.code).toBe(3);
      expect(run.err).toBe(`sluice tenants: http://127.0.0.1:${port}: no answer within 200 ms\n`);
    } finally {
      silent.closeAllConnections?.();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('a --redis that is no redis:// URL is invalid (exit 1, naming store.url)', async () => {
    const run = await sluice(['status', 'acme', '--redis', 'localhost:6379']);
    expect(run.code).toBe(1);
    expect(run.err).toContain('store.url: must start with redis:// or rediss://');
  });

  it('an answer that is not JSON (not a Sluice service) exits 1 saying so', async () => {
    const other = createServer((_req, res) => res.end('<html>hello</html>'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const { port } = other.address() as { port: number };
    try {
      const run = await sluice(['tenants', '--url', `http://127.0.0.1:${port}`]);
      expect(run.code).toBe(1);
      expect(run.err).toBe(
        `sluice tenants: GET /admin/ratelimit/tenants: the answer is not JSON: is http://127.0.0.1:${port} a Sluice service?\n`,
      );
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });
});
