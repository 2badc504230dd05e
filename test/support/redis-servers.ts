/**
 * Test harness: throwaway real `redis-server` processes (standalone and cluster) for the test suite.
 *
 * Every process is a child of the test process, listens on 127.0.0.1 on a free port (never 6379), keeps
 * nothing on disk except its log (and nodes.conf for cluster nodes) in a fresh temp dir, and is killed with
 * SIGKILL when the test process exits. Binaries can be overridden with REDIS_SERVER_BIN / REDIS_CLI_BIN.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** One redis-server process managed by the harness. */
export interface RedisNode {
  host: '127.0.0.1';
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** kill -9 the process */
  kill(): Promise<void>;
  /** start again on the same port and same dir (after kill) */
  restart(): Promise<void>;
  /** pid of the running process, or undefined while it is killed/stopped */
  pid(): number | undefined;
}

/** A standalone server started by {@link startRedis}. */
export interface RedisServer extends RedisNode {
  /** kills the process and removes its temp dir; idempotent */
  stop(): Promise<void>;
}

/** A Redis Cluster started by {@link startCluster}. */
export interface RedisCluster {
  /** all processes, in the order given to `redis-cli --cluster create` (initial masters first) */
  nodes: RedisNode[];
  /** {host,port} of all masters and replicas, for new Redis.Cluster(startupNodes) */
  startupNodes: { host: string; port: number }[];
  /** port of the master currently serving a slot (asks the cluster) */
  masterPortForSlot(slot: number): Promise<number>;
  /** waits until CLUSTER INFO says cluster_state:ok on every live node and every slot is covered */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** kills every node and removes their temp dirs; idempotent */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1' as const;
const SERVER_BIN = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
const CLI_BIN = process.env['REDIS_CLI_BIN'] ?? 'redis-cli';
const READY_TIMEOUT_MS = 10_000;
const CLUSTER_SLOTS = 16384;
const CLUSTER_BUS_OFFSET = 10_000;
/** Ports we must never hand out (the developer's own Redis and its cluster bus). */
const FORBIDDEN_PORTS = new Set([6379, 16379]);

// ---------------------------------------------------------------------------------------------------------
// Process bookkeeping: kill everything when the test process exits.

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
/** Ports (and cluster bus ports) handed out by this process and not yet released. */
const reservedPorts = new Set<number>();
let exitHookInstalled = false;

/** SIGKILLs every live child and removes every temp dir, synchronously. */
function killEverythingSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

/**
 * 'exit' covers normal exits and process.exit(). Vitest stops its fork workers with SIGTERM, which
 * terminates without emitting 'exit', so we also hook the usual termination signals: clean up, then, if
 * nobody else handles the signal, re-raise it so the default action (terminate) still happens.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killEverythingSync);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      killEverythingSync();
      process.off(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * Last line of defence for when our own hooks cannot run (vitest `threads` pool terminating a worker, the
 * worker being SIGKILLed, a crash): a tiny `sh` per temp dir that holds the read end of a pipe from us.
 * We write the current redis-server pid to it (an empty line when there is none). When the pipe hits EOF,
 * i.e. the test process is gone, it SIGKILLs that pid if it is still a redis process and removes the dir.
 * stop() SIGKILLs the watchdog itself, so it never acts while we are alive.
 */
const WATCHDOG_SCRIPT = [
  "trap '' INT HUP TERM",
  'pid=',
  'while read -r line; do pid=$line; done',
  'if [ -n "$pid" ]; then',
  '  cmd=$(cat "/proc/$pid/cmdline" 2>/dev/null || ps -p "$pid" -o command= 2>/dev/null)',
  '  case "$cmd" in *redis*) kill -9 "$pid" ;; esac',
  'fi',
  'rm -rf "$1"',
].join('\n');

class Watchdog {
  private readonly proc: ChildProcess;

  constructor(dir: string) {
    this.proc = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'sluice-redis-watchdog', dir], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.proc.on('error', () => {}); // no /bin/sh: the exit hooks still apply
    this.proc.stdin?.on('error', () => {});
    // Neither the watchdog nor its pipe may keep the test process alive.
    this.proc.unref();
    (this.proc.stdin as net.Socket | null)?.unref();
  }

  /** Tells the watchdog which redis-server pid to kill if we die (undefined: none). */
  track(pid: number | undefined): void {
    if (this.proc.stdin?.writable) this.proc.stdin.write(`${pid ?? ''}\n`);
  }

  /** Ends the watchdog without letting it act. */
  dispose(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------
// Free ports

function probePort(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host: HOST, exclusive: true }, () => {
      const { port: bound } = srv.address() as AddressInfo;
      srv.close(() => resolve(bound));
    });
  });
}

/** A free port on 127.0.0.1 (never 6379); with `withBus`, port+10000 is free too. Reserved until released. */
async function reserveFreePort(withBus: boolean): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await probePort(0);
    if (port === undefined || FORBIDDEN_PORTS.has(port) || reservedPorts.has(port)) continue;
    const bus = port + CLUSTER_BUS_OFFSET;
    if (withBus) {
      if (bus > 65535 || FORBIDDEN_PORTS.has(bus) || reservedPorts.has(bus)) continue;
      if ((await probePort(bus)) !== bus) continue;
    }
    reservedPorts.add(port);
    if (withBus) reservedPorts.add(bus);
    return port;
  }
  throw new Error(`could not find a free port${withBus ? ' (with a free cluster bus port)' : ''}`);
}

function releasePort(port: number): void {
  reservedPorts.delete(port);
  reservedPorts.delete(port + CLUSTER_BUS_OFFSET);
}

// ---------------------------------------------------------------------------------------------------------
// A tiny RESP2 client: one connection per command, so health polling never leaves sockets behind.

type Reply = string | number | null | Error | Reply[];

function encodeCommand(args: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

function parseReply(buf: Buffer, start: number): { value: Reply; end: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', start);
  if (lineEnd < 0) return undefined;
  const line = buf.toString('utf8', start + 1, lineEnd);
  const next = lineEnd + 2;
  switch (buf[start]) {
    case 0x2b: // +
      return { value: line, end: next };
    case 0x2d: // -
      return { value: new Error(line), end: next };
    case 0x3a: // :
      return { value: Number(line), end: next };
    case 0x24: {
      // $
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case 0x2a: {
      // *
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`unexpected RESP reply: ${JSON.stringify(buf.toString('utf8', start, lineEnd))}`);
  }
}

/** Sends one command to 127.0.0.1:port and resolves with its reply; error replies reject. */
function command(port: number, args: string[], timeoutMs = 1000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let settled = false;
    const socket = net.createConnection({ host: HOST, port });
    const finish = (err: Error | undefined, value?: Reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    const timer = setTimeout(
      () => finish(new Error(`${args[0]} to port ${port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        const parsed = parseReply(buf, 0);
        if (!parsed) return;
        if (parsed.value instanceof Error) finish(parsed.value);
        else finish(undefined, parsed.value);
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () => finish(new Error(`connection to port ${port} closed before a reply`)));
  });
}

async function commandText(port: number, args: string[], timeoutMs?: number): Promise<string> {
  const reply = await command(port, args, timeoutMs);
  if (typeof reply !== 'string') throw new Error(`${args.join(' ')}: expected a string reply`);
  return reply;
}

/** Parses `key:value` lines of INFO / CLUSTER INFO. */
function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const idx = line.indexOf(':');
    if (idx > 0 && !line.startsWith('#')) out[line.slice(0, idx)] = line.slice(idx + 1).trim();
  }
  return out;
}

interface ClusterNodesEntry {
  id: string;
  port: number;
  flags: string[];
  configEpoch: number;
  /** [from, to] inclusive ranges of slots this node claims */
  slots: [number, number][];
}

/** Parses CLUSTER NODES output. */
function parseClusterNodes(text: string): ClusterNodesEntry[] {
  const entries: ClusterNodesEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const address = fields[1]!.split(',')[0]!; // ip:port@cport[,hostname]
    const port = Number(
      address.slice(address.lastIndexOf(':', address.indexOf('@')) + 1, address.indexOf('@')),
    );
    const slots: [number, number][] = [];
    for (const token of fields.slice(8)) {
      if (token.startsWith('[')) continue; // migrating / importing marker
      const [from, to] = token.split('-');
      slots.push([Number(from), Number(to ?? from)]);
    }
    entries.push({
      id: fields[0]!,
      port,
      flags: fields[2]!.split(','),
      configEpoch: Number(fields[6]),
      slots,
    });
  }
  return entries;
}

function logTail(dir: string, lines = 20): string {
  const file = join(dir, 'redis.log');
  if (!existsSync(file)) return '(no log file)';
  const text = readFileSync(file, 'utf8').trimEnd();
  return text.split('\n').slice(-lines).join('\n') || '(empty log)';
}

// ---------------------------------------------------------------------------------------------------------
// One managed redis-server process

/**
 * One redis-server process (a node or a Sentinel) in its own temp dir: spawned with its log in the
 * dir, watched by the watchdog, ready once PING answers PONG, killed with SIGKILL.
 */
abstract class ManagedProcess {
  readonly host = HOST;
  protected child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  protected stopped = false;

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly watchdog: Watchdog,
    /** How errors name it: "redis-server" or "sentinel". */
    private readonly label: string,
  ) {}

  pid(): number | undefined {
    const child = this.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** Spawns redis-server with `args` and resolves once PING answers PONG (rejects with the log tail otherwise). */
  protected async spawnReady(args: string[]): Promise<void> {
    installExitHook();
    const fd = openSync(join(this.dir, 'redis.log'), 'a');
    let child: ChildProcess;
    try {
      child = spawn(SERVER_BIN, args, { cwd: this.dir, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    liveChildren.add(child);
    // Do not keep the event loop alive just for the server (kill() re-refs it while waiting for the exit).
    child.unref();
    this.watchdog.track(child.pid);
    let spawnError: Error | undefined;
    this.exited = new Promise((resolve) => {
      const done = () => {
        liveChildren.delete(child);
        if (this.child === child) this.watchdog.track(undefined);
        resolve();
      };
      child.once('exit', done);
      child.once('error', (err) => {
        spawnError = err;
        done();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError = 'no attempt';
    while (Date.now() < deadline) {
      if (spawnError || child.exitCode !== null || child.signalCode !== null) {
        const why = spawnError
          ? `could not be spawned (${spawnError.message})`
          : `exited (${child.exitCode ?? child.signalCode})`;
        throw new Error(
          `${this.label} on port ${this.port} ${why}; last lines of ${this.dir}/redis.log:\n${logTail(this.dir)}`,
        );
      }
      try {
        if ((await command(this.port, ['PING'], 250)) === 'PONG') return;
        lastError = 'unexpected PING reply';
      } catch (err) {
        lastError = (err as Error).message;
      }
      await sleep(20);
    }
    await this.kill();
    throw new Error(
      `${this.label} on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms (last error: ` +
        `${lastError}); last lines of ${this.dir}/redis.log:\n${logTail(this.dir)}`,
    );
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.ref();
      child.kill('SIGKILL');
    }
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
    this.watchdog.dispose();
    releasePort(this.port);
  }
}

class ManagedNode extends ManagedProcess implements RedisServer {
  readonly url: string;

  constructor(
    port: number,
    dir: string,
    private readonly args: string[],
    watchdog: Watchdog,
  ) {
    super(port, dir, watchdog, 'redis-server');
    this.url = `redis://${HOST}:${port}`;
  }

  /** Spawns the process and resolves once PING answers PONG (rejects with the log tail otherwise). */
  async start(): Promise<void> {
    if (this.stopped) throw new Error(`redis-server on port ${this.port} was stopped`);
    if (this.pid() !== undefined) return;
    await this.spawnReady(['--port', String(this.port), ...this.args]);
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }
}

const BASE_ARGS = (dir: string) => [
  '--save',
  '',
  '--appendonly',
  'no',
  '--bind',
  HOST,
  '--protected-mode',
  'no',
  '--dir',
  dir,
  '--daemonize',
  'no',
];

/**
 * Allocates a port and temp dir and starts a node; if the port was grabbed by someone else between probing
 * and binding, retries on another port.
 */
async function launchNode(cluster: boolean, extraArgs: (dir: string) => string[]): Promise<ManagedNode> {
  const dir = await mkdtemp(join(tmpdir(), cluster ? 'sluice-redis-cluster-' : 'sluice-redis-'));
  liveDirs.add(dir);
  const watchdog = new Watchdog(dir);
  for (let attempt = 1; ; attempt++) {
    const port = await reserveFreePort(cluster);
    const node = new ManagedNode(port, dir, [...BASE_ARGS(dir), ...extraArgs(dir)], watchdog);
    try {
      await node.start();
      return node;
    } catch (err) {
      await node.kill();
      releasePort(port);
      if (attempt < 5 && /address already in use/i.test((err as Error).message)) {
        rmSync(join(dir, 'nodes.conf'), { force: true });
        continue;
      }
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      watchdog.dispose();
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Public API

/** Starts one standalone redis-server on a free port (never 6379), no persistence, in a fresh temp dir; resolves once PING answers. extraArgs are appended to the command line. */
export function startRedis(options: { extraArgs?: string[] } = {}): Promise<RedisServer> {
  return launchNode(false, () => options.extraArgs ?? []);
}

/** Starts masters (default 3) each with `replicasPerMaster` replicas (default 1) as separate redis-server processes with cluster-enabled yes, cluster-node-timeout small (e.g. 1000 ms, so a killed master fails over in a few seconds), creates the cluster with `redis-cli --cluster create ... --cluster-replicas N --cluster-yes`, and resolves when it is healthy and replicas are attached. */
export async function startCluster(
  options: { masters?: number; replicasPerMaster?: number } = {},
): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  if (!Number.isInteger(masters) || masters < 3) {
    throw new Error(`startCluster: redis-cli --cluster create needs at least 3 masters (got ${masters})`);
  }
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`startCluster: invalid replicasPerMaster ${replicasPerMaster}`);
  }
  const clusterArgs = () => [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '1000',
    // Always let a replica fail over, however long it was disconnected from its master.
    '--cluster-replica-validity-factor',
    '0',
    // Redis 7 waits 5 s before a diskless full sync by default; replicas should attach immediately.
    '--repl-diskless-sync-delay',
    '0',
  ];
  const total = masters * (1 + replicasPerMaster);
  const started = await Promise.allSettled(
    Array.from({ length: total }, () => launchNode(true, clusterArgs)),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const cluster = new ManagedCluster(nodes);
  try {
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    await createCluster(nodes, replicasPerMaster);
    await cluster.waitHealthy(20_000);
    await waitReplicasAttached(nodes, masters, replicasPerMaster, 20_000);
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

function createCluster(nodes: ManagedNode[], replicasPerMaster: number): Promise<void> {
  const args = [
    '--cluster',
    'create',
    ...nodes.map((n) => `${HOST}:${n.port}`),
    '--cluster-replicas',
    String(replicasPerMaster),
    '--cluster-yes',
  ];
  return new Promise((resolve, reject) => {
    execFile(CLI_BIN, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (err || !/All 16384 slots covered/.test(output)) {
        reject(
          new Error(`redis-cli ${args.join(' ')} failed (${err?.message ?? 'no coverage'}):\n${output}`),
        );
      } else {
        resolve();
      }
    });
  });
}

async function waitReplicasAttached(
  nodes: ManagedNode[],
  masters: number,
  replicasPerMaster: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let reason = 'not checked';
  while (Date.now() < deadline) {
    try {
      const infos = await Promise.all(
        nodes.map(async (n) => parseInfo(await commandText(n.port, ['INFO', 'replication']))),
      );
      const masterInfos = infos.filter((i) => i['role'] === 'master');
      const replicaInfos = infos.filter((i) => i['role'] === 'slave');
      if (masterInfos.length !== masters) reason = `${masterInfos.length} masters, expected ${masters}`;
      else if (masterInfos.some((i) => Number(i['connected_slaves']) !== replicasPerMaster)) {
        reason = `connected_slaves: ${masterInfos.map((i) => i['connected_slaves']).join(',')}`;
      } else if (replicaInfos.some((i) => i['master_link_status'] !== 'up')) {
        reason = 'a replica link is not up yet';
      } else {
        return;
      }
    } catch (err) {
      reason = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`cluster replicas did not attach within ${timeoutMs} ms: ${reason}`);
}

class ManagedCluster implements RedisCluster {
  readonly startupNodes: { host: string; port: number }[];

  constructor(readonly nodes: ManagedNode[]) {
    this.startupNodes = nodes.map((n) => ({ host: n.host, port: n.port }));
  }

  private liveNodes(): ManagedNode[] {
    return this.nodes.filter((n) => n.pid() !== undefined);
  }

  async masterPortForSlot(slot: number): Promise<number> {
    if (!Number.isInteger(slot) || slot < 0 || slot >= CLUSTER_SLOTS) throw new Error(`invalid slot ${slot}`);
    // Ask every live node; when views disagree (mid-failover), the claim with the highest config epoch wins,
    // exactly as Redis Cluster itself resolves conflicting slot claims.
    const errors: string[] = [];
    const claims = await Promise.all(
      this.liveNodes().map(async (node) => {
        try {
          const entries = parseClusterNodes(await commandText(node.port, ['CLUSTER', 'NODES']));
          return entries.filter(
            (e) => e.flags.includes('master') && e.slots.some(([from, to]) => slot >= from && slot <= to),
          );
        } catch (err) {
          errors.push(`${node.port}: ${(err as Error).message}`);
          return [];
        }
      }),
    );
    const best = claims
      .flat()
      .reduce<ClusterNodesEntry | undefined>(
        (acc, e) => (acc === undefined || e.configEpoch > acc.configEpoch ? e : acc),
        undefined,
      );
    if (best === undefined) {
      throw new Error(`no live node knows a master for slot ${slot} (${errors.join('; ') || 'no answers'})`);
    }
    return best.port;
  }

  /** Why the cluster is not healthy yet, or undefined if it is. */
  private async unhealthyReason(): Promise<string | undefined> {
    const live = this.liveNodes();
    if (live.length === 0) return 'no live nodes';
    const livePorts = new Set(live.map((n) => n.port));
    const views = new Map<number, string>();
    const reasons = await Promise.all(
      live.map(async (node): Promise<string | undefined> => {
        try {
          const info = parseInfo(await commandText(node.port, ['CLUSTER', 'INFO']));
          if (info['cluster_state'] !== 'ok') return `${node.port}: cluster_state:${info['cluster_state']}`;
          if (info['cluster_slots_assigned'] !== String(CLUSTER_SLOTS)) {
            return `${node.port}: cluster_slots_assigned:${info['cluster_slots_assigned']}`;
          }
          if (info['cluster_slots_ok'] !== String(CLUSTER_SLOTS)) {
            return `${node.port}: cluster_slots_ok:${info['cluster_slots_ok']}`;
          }
          const entries = parseClusterNodes(await commandText(node.port, ['CLUSTER', 'NODES']));
          const owners: string[] = [];
          for (const e of entries) {
            if (e.slots.length === 0) continue;
            if (!livePorts.has(e.port)) return `${node.port}: slots still owned by dead node ${e.port}`;
            if (e.flags.some((f) => f === 'fail' || f === 'fail?')) {
              return `${node.port}: slot owner ${e.port} flagged ${e.flags.join(',')}`;
            }
            owners.push(...e.slots.map(([from, to]) => `${from}-${to}@${e.port}`));
          }
          views.set(node.port, owners.sort().join(' '));
          return undefined;
        } catch (err) {
          return `${node.port}: ${(err as Error).message}`;
        }
      }),
    );
    const reason = reasons.find((r) => r !== undefined);
    if (reason !== undefined) return reason;
    // Every live node must agree on who serves which slots (e.g. a restarted old master must have stepped down).
    const distinct = new Set(views.values());
    if (distinct.size > 1) {
      const [first, ...rest] = [...views.entries()];
      const other = rest.find(([, view]) => view !== first![1])!;
      return `nodes ${first![0]} and ${other[0]} disagree on slot owners: [${first![1]}] vs [${other[1]}]`;
    }
    return undefined;
  }

  async waitHealthy(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let reason = await this.unhealthyReason();
    while (reason !== undefined) {
      if (Date.now() >= deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms: ${reason}`);
      await sleep(50);
      reason = await this.unhealthyReason();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

/** Creates an ACL user on a server: ACL SETUSER name on >password <rules...>, using a fresh ioredis connection that it closes. */
export async function createAclUser(
  node: { port: number },
  username: string,
  password: string,
  rules: string[],
): Promise<void> {
  const client = new Redis({
    host: HOST,
    port: node.port,
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {}); // surfaced through the rejected commands below
  try {
    await client.connect();
    await client.call('ACL', 'SETUSER', username, 'on', `>${password}`, ...rules);
  } finally {
    client.disconnect();
  }
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[i] = crc;
  }
  return table;
})();

/** Cluster key slot of a key (CRC16 mod 16384, honouring {hash tags}); pure function. */
export function keySlot(key: string): number {
  let bytes: Uint8Array = Buffer.from(key, 'utf8');
  // Hash tag: the bytes between the first '{' and the first '}' after it, if that is non-empty.
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!) & 0xffff;
  return crc & (CLUSTER_SLOTS - 1);
}

// ---------------------------------------------------------------------------------------------------------
// Sentinel

/** A Redis Sentinel started by {@link startSentinel}. */
export interface RedisSentinel {
  host: '127.0.0.1';
  port: number;
  /** pid of the running process, or undefined once it has exited */
  pid(): number | undefined;
  /** kills the process and removes its temp dir; idempotent */
  stop(): Promise<void>;
}

class ManagedSentinel extends ManagedProcess implements RedisSentinel {
  constructor(port: number, dir: string, watchdog: Watchdog) {
    super(port, dir, watchdog, 'sentinel');
  }

  /** Spawns `redis-server sentinel.conf --sentinel` and resolves once PING answers PONG. */
  async start(config: string): Promise<void> {
    const confPath = join(this.dir, 'sentinel.conf');
    writeFileSync(confPath, config); // Sentinel rewrites this file as it learns about the topology.
    await this.spawnReady([confPath, '--sentinel']);
  }
}

/**
 * Starts one Redis Sentinel (`redis-server <tmp>/sentinel.conf --sentinel`) on a free port (never 6379),
 * monitoring the master at 127.0.0.1:masterPort under `name` with quorum 1, `down-after-milliseconds`
 * (default 1000) and `failover-timeout` (default 3000); resolves once it answers PING. Killed with
 * SIGKILL when the test process exits, like the other processes.
 */
export async function startSentinel(
  masterPort: number,
  name: string,
  options: { downAfterMs?: number; failoverTimeoutMs?: number } = {},
): Promise<RedisSentinel> {
  if (FORBIDDEN_PORTS.has(masterPort))
    throw new Error(`startSentinel: refusing to monitor port ${masterPort}`);
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`startSentinel: invalid master name ${name}`);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-redis-sentinel-'));
  liveDirs.add(dir);
  const watchdog = new Watchdog(dir);
  for (let attempt = 1; ; attempt++) {
    const port = await reserveFreePort(false);
    const sentinel = new ManagedSentinel(port, dir, watchdog);
    const config = [
      `port ${port}`,
      `bind ${HOST}`,
      'protected-mode no',
      'daemonize no',
      `dir ${dir}`,
      'logfile ""',
      `sentinel monitor ${name} ${HOST} ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 3000}`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n');
    try {
      await sentinel.start(config);
      return sentinel;
    } catch (err) {
      await sentinel.kill();
      releasePort(port);
      if (attempt < 5 && /address already in use/i.test((err as Error).message)) continue;
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      watchdog.dispose();
      throw err;
    }
  }
}
