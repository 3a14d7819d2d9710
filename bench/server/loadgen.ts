/**
 * The load generator process: `concurrency` raw-socket HTTP/1.1 client loops for `durationMs`,
 * with `Connection: close` (one TCP connection per request: the churn case) or keep-alive. A
 * minimal client (no http.Agent, no response parser objects) so that the client's own CPU
 * disturbs the servers under test as little as possible on a small machine. Prints JSON.
 */
import net from 'node:net';
import { percentile } from '../../src/cli/load.js';

const [port, durationMs, concurrency, keepAlive] = process.argv.slice(2).map(Number) as [number, number, number, number];
const REQ = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`);
const byWorker: Record<string, number> = {};
const errors: Record<string, number> = {};
const lat: number[] = [];
let ok = 0;
let failed = 0;
const start = performance.now();
const deadline = start + durationMs;

function fail(code: string): void {
  failed++;
  errors[code] = (errors[code] ?? 0) + 1;
}

/** Parse one complete response at the start of buf: [bytes used, status, worker] or null. */
function parse(buf: Buffer): [number, number, string] | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.toString('latin1', 0, end);
  const len = /\r\ncontent-length: *(\d+)/i.exec(head);
  const body = len ? Number(len[1]) : 0;
  if (buf.length < end + 4 + body) return null;
  const status = Number(head.slice(9, 12));
  const w = /\r\nx-worker: *([^\r]*)/i.exec(head);
  return [end + 4 + body, status, w ? w[1]! : '?'];
}

function closeLoop(): Promise<void> {
  return new Promise((resolve) => {
    const next = (): void => {
      if (performance.now() >= deadline) return resolve();
      const t0 = performance.now();
      const s = net.connect(port, '127.0.0.1');
      let buf = Buffer.alloc(0);
      let done = false;
      s.on('connect', () => s.end(REQ));
      s.on('data', (d) => (buf = buf.length ? Buffer.concat([buf, d]) : d));
      s.on('error', (e: NodeJS.ErrnoException) => {
        if (done) return;
        done = true;
        fail(e.code ?? 'error');
        next();
      });
      s.on('close', () => {
        if (done) return;
        done = true;
        const r = parse(buf);
        if (r && r[1] === 200) {
          ok++;
          byWorker[r[2]] = (byWorker[r[2]] ?? 0) + 1;
          lat.push(performance.now() - t0);
        } else fail(r ? `HTTP ${r[1]}` : 'truncated');
        next();
      });
    };
    next();
  });
}

function keepAliveLoop(): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let t0 = 0;
    const send = (): void => {
      if (performance.now() >= deadline) {
        s.destroy();
        return resolve();
      }
      t0 = performance.now();
      s.write(REQ);
    };
    s.on('connect', send);
    s.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const r = parse(buf);
      if (!r) return;
      buf = buf.subarray(r[0]);
      if (r[1] === 200) {
        ok++;
        byWorker[r[2]] = (byWorker[r[2]] ?? 0) + 1;
        lat.push(performance.now() - t0);
      } else fail(`HTTP ${r[1]}`);
      send();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      fail(e.code ?? 'error');
      resolve();
    });
  });
}

await Promise.all(Array.from({ length: concurrency }, () => (keepAlive ? keepAliveLoop() : closeLoop())));
const elapsed = performance.now() - start;
const sorted = Float64Array.from(lat).sort();
process.stdout.write(JSON.stringify({ ok, failed, errors, byWorker, rps: (ok / elapsed) * 1000, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }));
