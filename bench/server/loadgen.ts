/** The load generator process: runLoad with the argv options, prints the result as JSON. */
import { runLoad, percentile } from '../../src/cli/load.js';

const [port, durationMs, concurrency, keepAlive] = process.argv.slice(2).map(Number);
const r = await runLoad({ host: '127.0.0.1', port: port!, durationMs: durationMs!, concurrency: concurrency!, keepAlive: keepAlive === 1 });
process.stdout.write(JSON.stringify({
  ok: r.ok,
  failed: r.failed,
  errors: r.errors,
  byWorker: r.byWorker,
  rps: (r.ok / r.elapsedMs) * 1000,
  p50: percentile(r.latenciesMs, 50),
  p99: percentile(r.latenciesMs, 99),
}));
