import { it } from 'vitest';
import { startCluster, startRedis } from './redis-servers';

it('leaks', { timeout: 20000 }, async () => {
  const s = await startRedis();
  const c = await startCluster({ replicasPerMaster: 0 });
  console.log(
    'started',
    s.pid(),
    c.nodes.map((n) => n.pid()),
  );
});
