/**
 * A small HTTP load generator (no wrk needed): `concurrency` client loops, each sending
 * requests back to back for `durationMs` (or until `requests` are done), with or without
 * keep-alive. Counts per-worker responses (x-worker header), failures by code, latencies.
 */
import http from 'node:http';

export interface LoadOptions {
  host: string;
  port: number;
  concurrency: number;
  durationMs?: number;
  requests?: number;
  keepAlive: boolean;
  /** Keep sending past `requests` while this returns true (e.g. until a restart is over). */
  keepGoing?: () => boolean;
  /** Called once after this many requests completed (e.g. to start a rolling restart). */
  at?: { count: number; run: () => void };
}

export interface LoadResult {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  byWorker: Record<string, number>;
  latenciesMs: Float64Array;
  elapsedMs: number;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: o.keepAlive, maxSockets: o.concurrency });
  const res: LoadResult = { ok: 0, failed: 0, errors: {}, byWorker: {}, latenciesMs: new Float64Array(0), elapsedMs: 0 };
  const lat: number[] = [];
  const start = performance.now();
  const deadline = o.durationMs !== undefined ? start + o.durationMs : Infinity;
  let issued = 0;
  let done = 0;
  let fired = false;
  const more = (): boolean => performance.now() < deadline && (o.requests === undefined || issued < o.requests || (o.keepGoing?.() ?? false));
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.get({ host: o.host, port: o.port, path: '/', agent, headers: o.keepAlive ? {} : { connection: 'close' } }, (r) => {
        const w = String(r.headers['x-worker'] ?? '?');
        r.resume();
        r.on('end', () => {
          if (r.statusCode === 200) {
            res.ok++;
            res.byWorker[w] = (res.byWorker[w] ?? 0) + 1;
            lat.push(performance.now() - t0);
          } else {
            res.failed++;
            res.errors[`HTTP ${r.statusCode}`] = (res.errors[`HTTP ${r.statusCode}`] ?? 0) + 1;
          }
          resolve();
        });
        r.on('error', (e: NodeJS.ErrnoException) => {
          res.failed++;
          res.errors[e.code ?? e.message] = (res.errors[e.code ?? e.message] ?? 0) + 1;
          resolve();
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        res.failed++;
        res.errors[e.code ?? e.message] = (res.errors[e.code ?? e.message] ?? 0) + 1;
        resolve();
      });
    });
  const loop = async (): Promise<void> => {
    while (more()) {
      issued++;
      await one();
      done++;
      if (o.at && !fired && done >= o.at.count) {
        fired = true;
        o.at.run();
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, loop));
  res.elapsedMs = performance.now() - start;
  agent.destroy();
  res.latenciesMs = Float64Array.from(lat).sort();
  return res;
}
