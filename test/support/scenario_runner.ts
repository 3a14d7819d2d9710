/**
 * "One scenario table, two kernels": a table is a list of scenarios written against the
 * `Kernel` interface only. Each scenario runs on every available kernel (fresh kernel/netns per
 * scenario) and asserts the selftest's expectations; it also records a trace of comparable
 * observations (errno names, selected group index, drop/deliver) and a final block asserts that
 * the sim's trace equals Linux's. Linux is the authority: a sim failure is recorded in
 * test/scenarios/DIFFERENCES.md and marked `todo` through known_differences.ts, never skipped.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRNO, SysError, errnoName, type ErrnoCode, type Kernel } from '../../src/kernel/index.js';
import { requireKernel, targets, type KernelTarget } from './scenario_kernels.js';

export interface Scenario {
  /** Selftest-style name, e.g. "reuseport_sockarray IPv4/TCP LOOPBACK test_pass". */
  name: string;
  run(c: ScenarioCtx): void | Promise<void>;
  /** Per-kernel reason this scenario cannot be expressed on that kernel (reported as skip). */
  cannot?: Partial<Record<'sim' | 'linux', string>>;
}

/** A known sim/Linux disagreement: DIFFERENCES.md entry id and the scenario names it covers. */
export interface KnownDifference {
  id: string; table: string; match: RegExp; summary: string;
  /** Which kernel is wrong (default 'sim'); 'linux' = a LinuxKernel wrapper bug, not kernel behaviour. */
  kernel?: 'sim' | 'linux';
}

export class ScenarioCtx {
  readonly trace: string[] = [];
  private readonly fds: Array<{ fd: number }> = [];
  constructor(readonly k: Kernel, readonly kind: 'sim' | 'linux') {}

  /** Record a comparable observation. */
  note(s: string): void { this.trace.push(s); }

  /** Run a call that must succeed; records `label: ok`. */
  ok<T>(label: string, fn: () => T): T {
    let v: T;
    try {
      v = fn();
    } catch (e) {
      this.trace.push(`${label}: ${describeErr(e)}`);
      throw new assert.AssertionError({ message: `${label}: expected success, got ${describeErr(e)}`, actual: describeErr(e), expected: 'ok' });
    }
    this.trace.push(`${label}: ok`);
    return v;
  }

  /** Run a call that must fail with `code`; records `label: CODE`. */
  fails(label: string, code: ErrnoCode, fn: () => unknown): void {
    const got = this.attempt(fn);
    this.trace.push(`${label}: ${got}`);
    assert.equal(got, errnoName(ERRNO[code]), `${label}: expected ${code}, got ${got}`);
  }

  /** 'ok' or the errno name (rethrows anything that is not a SysError). */
  attempt(fn: () => unknown): string {
    try {
      fn();
      return 'ok';
    } catch (e) {
      if (e instanceof SysError) return e.code;
      throw e;
    }
  }

  /** Track an fd so it is closed when the scenario ends. Returns it. */
  own(fd: number): number {
    this.fds.push({ fd });
    return fd;
  }
  /** Close an owned fd now (the scenario's own close() step). */
  close(fd: number): void {
    const i = this.fds.findIndex((x) => x.fd === fd);
    if (i >= 0) this.fds.splice(i, 1);
    this.k.close(fd);
  }
  cleanup(): void {
    for (const { fd } of this.fds.reverse()) {
      try { this.k.close(fd); } catch { /* already closed by the scenario's own step */ }
    }
    this.fds.length = 0;
  }
}

function describeErr(e: unknown): string {
  return e instanceof SysError ? e.code : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export function todoFor(known: readonly KnownDifference[], table: string, name: string, kernel?: 'sim' | 'linux'): string | undefined {
  const hits = known.filter((d) => d.table === table && d.match.test(name) && (kernel === undefined || (d.kernel ?? 'sim') === kernel));
  if (!hits.length) return undefined;
  const who = kernel === 'linux' ? 'LinuxKernel wrapper bug' : kernel === 'sim' ? 'sim differs from Linux' : 'known difference';
  return `${who}: ${hits.map((d) => `DIFFERENCES.md ${d.id} (${d.summary})`).join('; ')}`;
}

export interface TableOptions {
  /** Known sim differences (todo markers). */
  known?: readonly KnownDifference[];
  /** Per-scenario timeout in ms (default 20 s). */
  timeout?: number;
}

/**
 * Declare the node:test tests of a table: `<table> [sim]`, `<table> [linux]`, then
 * `<table> [sim = linux]` comparing the traces of every scenario both kernels ran.
 */
export async function scenarioTable(table: string, scenarios: readonly Scenario[], opts: TableOptions = {}): Promise<void> {
  const names = new Set<string>();
  for (const s of scenarios) {
    if (names.has(s.name)) throw new Error(`${table}: duplicate scenario name '${s.name}'`);
    names.add(s.name);
  }
  const known = opts.known ?? [];
  const ts = await targets();
  const traces: Record<'sim' | 'linux', Map<string, string[]>> = { sim: new Map(), linux: new Map() };

  for (const target of ts) {
    describe(`${table} [${target.kind}]`, () => {
      if (target.unavailable) {
        const why = `${target.kind} kernel unavailable: ${target.unavailable}`;
        if (target.kind === 'linux' && requireKernel) {
          test(`${table} needs the real kernel`, () => assert.fail(`${why} (REUSEPORT_REQUIRE_KERNEL=1)`));
        } else {
          test(`${table} (${scenarios.length} scenarios)`, { skip: why }, () => {});
        }
        return;
      }
      for (const s of scenarios) {
        const cannot = s.cannot?.[target.kind];
        const todo = todoFor(known, table, s.name, target.kind);
        test(s.name, { skip: cannot ? `${target.kind} cannot model this: ${cannot}` : false, todo, timeout: opts.timeout ?? 20_000 },
          async () => runOne(target, s, traces[target.kind]));
      }
    });
  }

  const sim = ts.find((t) => t.kind === 'sim');
  const linux = ts.find((t) => t.kind === 'linux');
  if (sim?.unavailable || linux?.unavailable) return;
  describe(`${table} [sim = linux]`, () => {
    for (const s of scenarios) {
      if (s.cannot?.sim || s.cannot?.linux) continue;
      const todo = todoFor(known, table, s.name);
      test(s.name, { todo }, () => {
        const a = traces.linux.get(s.name);
        const b = traces.sim.get(s.name);
        assert.ok(a, 'no linux trace (the linux run did not complete)');
        assert.ok(b, 'no sim trace (the sim run did not complete)');
        assert.deepEqual(b, a, 'sim trace (actual) differs from linux trace (expected)');
      });
    }
  });
}

async function runOne(target: KernelTarget, s: Scenario, traces: Map<string, string[]>): Promise<void> {
  const k = target.fresh();
  const c = new ScenarioCtx(k, target.kind);
  try {
    await s.run(c);
  } finally {
    // the trace is kept even when an assertion failed: the comparison block then shows where.
    traces.set(s.name, c.trace);
    c.cleanup();
    target.release(k);
  }
}

// ---- byte helpers used by the tables ----
export const u32 = (n: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n >>> 0, true); return b; };
export const i32 = (n: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, n, true); return b; };
export const u64 = (n: number | bigint): Uint8Array => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(n)), true); return b; };
export const readU32 = (b: Uint8Array, off = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
export const readI32 = (b: Uint8Array, off = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(off, true);
export const readU64 = (b: Uint8Array, off = 0): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
export const readU16 = (b: Uint8Array, off = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(off, true);
