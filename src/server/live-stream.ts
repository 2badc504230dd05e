/**
 * The console's live stream: server-sent events of per-second decision counts by outcome, overall and
 * for one tenant. A snapshot of the last seconds first, then one `tick` per completed second. The
 * browser reads it with fetch() (the admin token in a header, never in a URL). Streams end when the
 * client goes or the service shuts down.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LiveCounts } from '../observability/live-counts.js';

/** How often a stream looks for a newly completed second (ms). */
const POLL_MS = 200;
/** Most streams open at once (each is one timer and one connection). */
const MAX_STREAMS = 64;

export class LiveStreams {
  private readonly open_ = new Set<() => void>();
  constructor(private readonly live: LiveCounts) {}

  open(
    request: FastifyRequest,
    reply: FastifyReply,
    q: { tenant: string | undefined; seconds: number },
  ): void {
    if (this.open_.size >= MAX_STREAMS) {
      reply.code(503).send({ title: 'Service Unavailable', status: 503, detail: 'too many live streams' });
      return;
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    const send = (event: string, data: unknown) =>
      raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const overall = this.live.series(q.seconds);
    send('snapshot', {
      tenant: q.tenant ?? null,
      overall,
      tenantSeries: q.tenant === undefined ? null : this.live.series(q.seconds, q.tenant),
    });
    let last = overall[overall.length - 1]?.second ?? 0;
    const timer = setInterval(() => {
      for (const point of this.live.series(3)) {
        if (point.second <= last) continue;
        last = point.second;
        const own =
          q.tenant === undefined ? null : this.live.series(3, q.tenant).find((p) => p.second === last);
        send('tick', { second: last, overall: point.counts, tenant: own?.counts ?? null });
      }
    }, POLL_MS);
    const end = () => {
      clearInterval(timer);
      this.open_.delete(end);
      raw.end();
    };
    this.open_.add(end);
    request.raw.on('close', end);
  }

  /** Ends every stream (shutdown: they would otherwise hold the server open until the drain bound). */
  closeAll(): void {
    for (const end of [...this.open_]) end();
  }
}
