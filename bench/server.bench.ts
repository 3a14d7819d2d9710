/**
 * `npm run bench:server`: hello-world HTTP on N workers under load from a separate process,
 * reuseport (kernel backend, round-robin; emulated backend for reference) against Node's
 * cluster with SCHED_RR and SCHED_NONE, measured in the same run, with `Connection: close`
 * (connection churn) and keep-alive. Then a rolling restart under load: failed requests.
 * Columns: req/s, p50/p99 latency, per-worker share (max/min, and the largest deviation from
 * an even share), CPU used by the primary process. Short runs: BENCH_MS per cell (default 3000).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LinuxKernel, unshareNetns } from '../src/linux/index.js';

const MS = Number(process.env.BENCH_MS ?? 3000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const CONC = Number(process.env.BENCH_CONCURRENCY ?? 32);
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

const kernelOk = LinuxKernel.probe().ok;
if (kernelOk) unshareNetns(); // fixed ports, no interference; children inherit the namespace
let port = 24000;

interface Cell { system: string; mode: string; rps: number; p50: number; p99: number; share: string; dev: number; cpu: number; failed: number }

function once<T>(child: ChildProcess, pick: (m: any) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: unknown): void => {
      const v = pick(m);
      if (v !== undefined) {
        child.off('message', on);
        resolve(v);
      }
    };
    child.on('message', on);
    child.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
  });
}

function load(p: number, keepAlive: boolean, ms: number): Promise<any> {
  return new Promise((resolve, reject) => {
    const lg = fork(here('./server/loadgen.js'), [String(p), String(ms), String(CONC), keepAlive ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    lg.stdout!.on('data', (d) => (out += d));
    lg.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`loadgen exited ${code}`))));
  });
}

async function run(system: string, args: string[], restart = false): Promise<Cell[]> {
  const p = port++;
  const host = fork(here('./server/host.js'), [...args, String(p), String(WORKERS)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(host, (m) => (m.ready ? m : undefined));
  const cells: Cell[] = [];
  for (const keepAlive of restart ? [false] : [false, true]) {
    await load(p, keepAlive, 300); // warm up
    host.send({ cmd: 'cpu' });
    await once(host, (m) => m.cpuPct);
    const pending = load(p, keepAlive, MS);
    if (restart) {
      await new Promise((r) => setTimeout(r, MS / 3));
      host.send({ cmd: 'restart' });
    }
    const r = await pending;
    host.send({ cmd: 'cpu' });
    const cpu = await once(host, (m) => m.cpuPct as number | undefined);
    const seen = Object.values(r.byWorker as Record<string, number>);
    // a worker that got nothing is not in byWorker: count it as 0
    const shares = restart ? seen : [...seen, ...Array(Math.max(0, WORKERS - seen.length)).fill(0)];
    const total = shares.reduce((a, b) => a + b, 0);
    const max = Math.max(...shares);
    const min = Math.min(...shares);
    const even = total / Math.max(1, shares.length);
    cells.push({
      system,
      mode: restart ? 'close + rolling restart' : keepAlive ? 'keep-alive' : 'Connection: close',
      rps: r.rps, p50: r.p50, p99: r.p99,
      share: restart ? `${shares.length} workers` : `${max}/${min}`,
      dev: restart ? 0 : (Math.max(...shares.map((s) => Math.abs(s - even))) / even) * 100,
      cpu, failed: r.failed,
    });
  }
  host.send({ cmd: 'stop' });
  await new Promise((r) => host.once('exit', r));
  return cells;
}

const rows: Cell[] = [];
console.log(`bench:server — ${WORKERS} workers, ${CONC} client connections, ${MS} ms per cell, load generator in its own process`);
if (kernelOk) rows.push(...(await run('reuseport kernel rr', ['reuseport', 'kernel', 'round-robin'])));
else console.log('(kernel backend unavailable here: needs root + bpf(); showing the emulated backend only)');
rows.push(...(await run('reuseport emulated rr', ['reuseport', 'emulated', 'round-robin'])));
rows.push(...(await run('cluster SCHED_RR', ['cluster', 'rr', '-'])));
rows.push(...(await run('cluster SCHED_NONE', ['cluster', 'none', '-'])));
rows.push(...(await run(kernelOk ? 'reuseport kernel rr' : 'reuseport emulated rr', ['reuseport', kernelOk ? 'kernel' : 'emulated', 'round-robin'], true)));

const f = (n: number, d = 0): string => n.toFixed(d);
console.log('');
console.log(`${'system'.padEnd(22)} ${'mode'.padEnd(24)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'share max/min'.padStart(13)} ${'±even'.padStart(6)} ${'primary CPU'.padStart(11)} ${'failed'.padStart(6)}`);
for (const r of rows) {
  console.log(`${r.system.padEnd(22)} ${r.mode.padEnd(24)} ${f(r.rps).padStart(8)} ${f(r.p50, 2).padStart(7)} ${f(r.p99, 2).padStart(7)} ${r.share.padStart(13)} ${(r.mode.includes('restart') ? '-' : f(r.dev, 1) + '%').padStart(6)} ${(f(r.cpu) + '%').padStart(11)} ${String(r.failed).padStart(6)}`);
}
const rr = rows.find((r) => r.system === 'cluster SCHED_RR' && r.mode === 'Connection: close');
const ours = rows.find((r) => r.system.startsWith('reuseport kernel') && r.mode === 'Connection: close');
const restartRow = rows.find((r) => r.mode.includes('restart'));
console.log('');
if (ours && rr) console.log(`goal: >= 1.5x cluster SCHED_RR with connection churn: ${(ours.rps / rr.rps).toFixed(2)}x ${ours.rps / rr.rps >= 1.5 ? 'MET' : 'not met'}`);
if (ours) console.log(`goal: round-robin share within ±10%: ${f(ours.dev, 1)}% ${ours.dev <= 10 ? 'MET' : 'not met'}`);
if (restartRow) console.log(`goal: 0 failed requests across a rolling restart: ${restartRow.failed} ${restartRow.failed === 0 ? 'MET' : 'not met'}`);
