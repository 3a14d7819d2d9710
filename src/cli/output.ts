/**
 * What `reuseport serve` prints: a live per-worker table on a TTY, JSON lines otherwise (one
 * object per event, for log collectors), and the error format every command shares.
 */
import type { GroupStats, ReuseportGroup } from '../group/reuseport_group.js';
import type { WorkerInfo } from '../group/worker.js';

export interface Out {
  write(s: string): void;
  isTTY: boolean;
}

export function jsonLine(out: Out, event: string, fields: Record<string, unknown> = {}): void {
  out.write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }) + '\n');
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);

export function table(s: GroupStats): string {
  const head = `reuseport  ${s.proto.toUpperCase()} [${s.host}]:${s.port}  backend ${s.backend}  policy ${s.policy}  workers ${s.workers.length}`;
  const cols = `${pad('id', 4)} ${pad('pid', 8)} ${pad('slot', 4)} ${pad('gen', 3)} ${'state'.padEnd(9)} ${pad(s.proto === 'tcp' ? 'conns' : 'datagrams', 10)} ${pad('active', 7)} ${pad('load', 6)} ${pad('elu', 5)}`;
  const rows = s.workers.map((w: WorkerInfo) =>
    `${pad(w.id, 4)} ${pad(w.pid ?? '-', 8)} ${pad(w.slot, 4)} ${pad(w.generation, 3)} ${w.state.padEnd(9)} ${pad(s.proto === 'tcp' ? w.stats.connections : w.stats.datagrams, 10)} ${pad(w.stats.active, 7)} ${pad(w.stats.load, 6)} ${pad((w.stats.elu * 100).toFixed(0) + '%', 5)}`);
  return [head, cols, ...rows].join('\n');
}

/** Wire group events to the output: JSON lines, or a table redrawn every second on a TTY. */
export function attachOutput(group: ReuseportGroup, out: Out, opts: { json: boolean; intervalMs?: number }): () => void {
  const events = ['worker-up', 'worker-down', 'worker-drained', 'policy-changed', 'restart-complete', 'warning', 'backend'] as const;
  const notes: string[] = [];
  const handlers = events.map((ev) => {
    const h = (...args: unknown[]): void => {
      const fields: Record<string, unknown> = {};
      if (ev === 'warning') fields.message = args[0];
      else if (ev === 'worker-down') Object.assign(fields, pick(args[0] as WorkerInfo), args[1] as object);
      else if (ev === 'worker-up' || ev === 'worker-drained') Object.assign(fields, pick(args[0] as WorkerInfo));
      else Object.assign(fields, args[0] as object);
      if (opts.json) jsonLine(out, ev, fields);
      else notes.push(`${new Date().toISOString().slice(11, 19)} ${ev} ${JSON.stringify(fields)}`);
    };
    group.on(ev, h);
    return [ev, h] as const;
  });
  let timer: NodeJS.Timeout | undefined;
  if (!opts.json) {
    const draw = (): void => {
      if (!group.isRunning) return;
      out.write('\x1b[H\x1b[2J' + table(group.stats()) + '\n\n' + notes.slice(-8).join('\n') + '\n');
    };
    timer = setInterval(draw, opts.intervalMs ?? 1000);
    timer.unref();
  }
  return () => {
    if (timer) clearInterval(timer);
    for (const [ev, h] of handlers) group.off(ev, h);
  };
}

function pick(w: WorkerInfo): Record<string, unknown> {
  return { id: w.id, pid: w.pid, slot: w.slot, generation: w.generation, state: w.state };
}

/** `error: ...` then `  fix: ...`: the one format for bad input. */
export function formatError(err: unknown): string {
  const e = err as { message?: string; hint?: string; log?: string; code?: string };
  let s = `reuseport: error: ${e.message ?? String(err)}\n`;
  if (e.hint) s += `  fix: ${e.hint}\n`;
  if (e.log) s += `  verifier log:\n${e.log.split('\n').slice(-20).map((l) => '    ' + l).join('\n')}\n`;
  return s;
}

/** A horizontal bar chart of counts. */
export function barChart(counts: Record<string, number>, width = 40): string {
  const entries = Object.entries(counts).sort((a, b) => Number(a[0]) - Number(b[0]) || a[0].localeCompare(b[0]));
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const total = entries.reduce((a, [, v]) => a + v, 0);
  return entries
    .map(([k, v]) => `  worker ${k.padStart(3)} ${'█'.repeat(Math.max(v > 0 ? 1 : 0, Math.round((v / max) * width))).padEnd(width)} ${String(v).padStart(6)} (${((100 * v) / Math.max(1, total)).toFixed(1)}%)`)
    .join('\n');
}
