import net from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createAclUser,
  keySlot,
  type RedisCluster,
  type RedisServer,
  startCluster,
  startRedis,
} from './redis-servers';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Clients created by a test; disconnected after each test so nothing keeps reconnecting. */
const clients: (Redis | Cluster)[] = [];
function client(port: number, options: Record<string, unknown> = {}): Redis {
  const c = new Redis({
    host: '127.0.0.1',
    port,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...options,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

describe('keySlot (pure)', () => {
  it('matches well-known slots', () => {
    expect(keySlot('123456789')).toBe(0x31c3); // CRC16/XMODEM check value
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar')); // empty first tag: the whole key is hashed
  });
});

describe('startRedis', () => {
  let server: RedisServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('starts, survives kill() + restart() on the same port, and stops', { timeout: 20_000 }, async () => {
    server = await startRedis({ extraArgs: ['--maxmemory', '16mb'] });
    const { port } = server;
    expect(port).not.toBe(6379);
    expect(server.url).toBe(`redis://127.0.0.1:${port}`);
    const firstPid = server.pid();
    expect(firstPid).toBeTypeOf('number');

    const redis = client(port);
    await redis.set('greeting', 'hello');
    expect(await redis.get('greeting')).toBe('hello');
    expect(await redis.config('GET', 'maxmemory')).toEqual(['maxmemory', String(16 * 1024 * 1024)]);
    expect(await redis.config('GET', 'save')).toEqual(['save', '']);

    await server.kill();
    expect(server.pid()).toBeUndefined();
    await expect(redis.get('greeting')).rejects.toThrow();
    await expect(
      new Promise((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket.end()));
        socket.once('error', reject);
      }),
    ).rejects.toThrow(/ECONNREFUSED/);

    await server.restart();
    expect(server.pid()).toBeTypeOf('number');
    expect(server.pid()).not.toBe(firstPid);
    const again = client(port);
    expect(await again.ping()).toBe('PONG');
    expect(await again.get('greeting')).toBeNull(); // no persistence

    await server.stop();
    expect(server.pid()).toBeUndefined();
    await server.stop(); // idempotent
  });

  it('creates ACL users with createAclUser', { timeout: 20_000 }, async () => {
    const acl = await startRedis();
    try {
      await createAclUser(acl, 'reader', 's3cret', ['~*', '+get', '+ping']);
      const reader = client(acl.port, { username: 'reader', password: 's3cret', enableReadyCheck: false });
      expect(await reader.ping()).toBe('PONG');
      expect(await reader.get('missing')).toBeNull();
      await expect(reader.set('k', 'v')).rejects.toThrow(/NOPERM/);
      await expect(client(acl.port).call('AUTH', 'reader', 'nope')).rejects.toThrow(/WRONGPASS/);
      expect(await client(acl.port).call('AUTH', 'reader', 's3cret')).toBe('OK');
    } finally {
      await acl.stop();
    }
  });

  it('starts several servers on distinct ports in parallel', { timeout: 20_000 }, async () => {
    const servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
    try {
      const ports = servers.map((s) => s.port);
      expect(new Set(ports).size).toBe(3);
      expect(ports).not.toContain(6379);
      for (const s of servers) expect(await client(s.port).ping()).toBe('PONG');
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });
});

describe('startCluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('has 3 masters + 3 replicas, all usable as startup nodes', async () => {
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.startupNodes).toHaveLength(6);
    expect(new Set(cluster.startupNodes.map((n) => n.port)).size).toBe(6);
    const roles = await Promise.all(
      cluster.nodes.map(async (n) => ((await client(n.port).role()) as string[])[0]),
    );
    expect(roles.filter((r) => r === 'master')).toHaveLength(3);
    expect(roles.filter((r) => r === 'slave')).toHaveLength(3);
  });

  it('keySlot matches CLUSTER KEYSLOT', async () => {
    const redis = client(cluster.nodes[0]!.port);
    const keys = [
      '',
      'foo',
      '123456789',
      'user:1000',
      '{user:1000}:limits',
      '{user:1000}:tokens',
      'prefix{tag}suffix',
      '{}',
      '{}key',
      'foo{}{bar}',
      '{{bar}}',
      'a{b}{c}',
      '}{x}',
      '{a',
      'a}',
      'ключ{ü}',
      '🙂{emoji}🙂',
    ];
    for (const key of keys) {
      expect(keySlot(key), `keySlot(${JSON.stringify(key)})`).toBe(await redis.cluster('KEYSLOT', key));
    }
  });

  it('serves ioredis Cluster, and promotes a replica when a master is killed', {
    timeout: 40_000,
  }, async () => {
    const redis = new Cluster(cluster.startupNodes, {
      // Fail fast while the master is down and re-read the slot map instead of waiting on the dead node.
      redisOptions: { connectTimeout: 500, maxRetriesPerRequest: 0 },
      clusterRetryStrategy: () => 100,
      slotsRefreshTimeout: 500,
    });
    redis.on('error', () => {});
    clients.push(redis);

    const tag = '{tenant:42}';
    await redis.multi().set(`${tag}:a`, '1').set(`${tag}:b`, '2').exec();
    expect(await redis.mget(`${tag}:a`, `${tag}:b`)).toEqual(['1', '2']);

    const slot = keySlot(tag);
    const oldPort = await cluster.masterPortForSlot(slot);
    const oldMaster = cluster.nodes.find((n) => n.port === oldPort)!;
    expect(await client(oldPort).cluster('KEYSLOT', `${tag}:a`)).toBe(slot);

    const killedAt = Date.now();
    await oldMaster.kill();
    expect(oldMaster.pid()).toBeUndefined();

    let newPort = oldPort;
    while (newPort === oldPort) {
      expect(Date.now() - killedAt, 'replica promoted within 15 s').toBeLessThan(15_000);
      await sleep(100);
      newPort = await cluster.masterPortForSlot(slot);
    }
    const promotedAfter = Date.now() - killedAt;
    expect(cluster.nodes.map((n) => n.port)).toContain(newPort);

    let written = false;
    while (!written) {
      expect(Date.now() - killedAt, 'writes succeed again within 15 s').toBeLessThan(15_000);
      try {
        await redis.set(`${tag}:c`, '3');
        written = true;
      } catch {
        redis.refreshSlotsCache();
        await sleep(100);
      }
    }
    const writableAfter = Date.now() - killedAt;
    expect(await client(newPort).get(`${tag}:c`)).toBe('3');
    // The replica had the keys written before the failover.
    expect(await redis.get(`${tag}:a`)).toBe('1');

    await cluster.waitHealthy(15_000);
    const healthyAfter = Date.now() - killedAt;
    console.info(
      `failover: promoted after ${promotedAfter} ms, writable after ${writableAfter} ms, healthy after ${healthyAfter} ms`,
    );

    // The old master comes back from its nodes.conf and rejoins as a replica of the promoted node.
    await oldMaster.restart();
    await cluster.waitHealthy(15_000);
    expect(await cluster.masterPortForSlot(slot)).toBe(newPort);
    const rejoined = client(oldPort);
    let role = await rejoined.role();
    while (role[0] !== 'slave' || role[2] !== newPort || role[3] !== 'connected') {
      expect(Date.now() - killedAt, 'old master rejoined as replica').toBeLessThan(30_000);
      await sleep(100);
      role = await rejoined.role();
    }
  });
});
