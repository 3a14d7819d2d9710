/**
 * npm run bench:vm — instructions per second of the reference interpreter and the compiled
 * fast path, measured in the same run on the same programs:
 *   prime   the conformance suite's prime.data with its constant raised to 9,999,991
 *   memcpy  8-byte loads/stores copying 1 MiB
 *   fnv1a   64-bit FNV-1a hash over a 64 KiB buffer (64-bit multiply per byte)
 *   helper  SK_REUSEPORT-shaped program: 10 instructions, one helper call, ctx rebuilt per run
 * The interpreter gets smaller inputs (it is ~50x slower); rates are per instruction, so they compare.
 * Baseline from /work/shared/docs/platform-notes.md: ubpf's C interpreter, prime: ~244 M insns/s.
 */
import { assemble } from '../src/ebpf/assembler.js';
import { HelperError, loadProgram, Memory, type HelperCall } from '../src/vm/index.js';

type Mode = 'interpreter' | 'compiled';

const prime = (n: number): string => `
mov %r1, ${n}
mov %r0, 0x1
mov %r2, 0x2
jgt %r1, 0x2, L3
ja exit
L2:
add %r2, 0x1
mov %r0, 0x1
jge %r2, %r1, exit
L3:
mov %r3, %r1
div %r3, %r2
mul %r3, %r2
mov %r4, %r1
sub %r4, %r3
mov %r0, 0x0
jne %r4, 0x0, L2
exit
`;

const memcpy = `
mov %r3, %r1
add %r3, %r2
mov %r5, %r3
loop:
ldxdw %r4, [%r1]
stxdw [%r3], %r4
add %r1, 8
add %r3, 8
jlt %r1, %r5, loop
mov %r0, 0
exit
`;

const fnv = `
lddw %r0, 0xcbf29ce484222325
lddw %r6, 0x100000001b3
mov %r3, %r1
add %r3, %r2
loop:
ldxb %r4, [%r1]
xor %r0, %r4
mul %r0, %r6
add %r1, 1
jlt %r1, %r3, loop
exit
`;

// ctx: [0] hash (u32), [4] len; select a socket by hash % 4 via helper 82 (sk_select_reuseport shape)
const reuseport = `
ldxw %r3, [%r1+0]
ldxw %r4, [%r1+4]
mov %r6, %r1
and32 %r3, 3
stxw [%r10-4], %r3
mov %r3, %r10
add %r3, -4
mov %r4, 0
call 82
mov32 %r0, 1
exit
`;

interface Row { bench: string; mode: Mode; insns: number; seconds: number; runs: number }

function measure(name: string, mode: Mode, src: string, setup: (mem: Memory) => [number, number], minSeconds: number, budget = 2e9): Row {
  const prog = loadProgram(assemble(src), { mode, budget, helpers: { 82: selectHelper } });
  const mem = new Memory();
  const [r1, r2] = setup(mem);
  prog.run(mem, r1, r2); // warm-up
  let insns = 0, runs = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  do {
    prog.run(mem, r1, r2);
    insns += prog.insnCount;
    runs++;
    el = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (el < minSeconds);
  return { bench: name, mode, insns, seconds: el, runs };
}

let selected = 0;
function selectHelper(c: HelperCall): number {
  const key = c.mem.load32(c.addr(3));
  if (key > 3) throw new HelperError('bad key');
  selected = key;
  return 0;
}

function helperRate(mode: Mode, seconds: number): Row {
  const prog = loadProgram(assemble(reuseport), { mode, helpers: { 82: selectHelper } });
  const mem = new Memory();
  const ctxBytes = new Uint8Array(56);
  const ctx = mem.map(ctxBytes, { writable: false, name: 'ctx' });
  const view = new DataView(ctxBytes.buffer);
  const base = ctx.base;
  let runs = 0, insns = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  do {
    for (let i = 0; i < 10000; i++) {
      view.setUint32(0, (i * 2654435761) >>> 0, true); // context build: hash and length per run
      view.setUint32(4, 64 + (i & 511), true);
      prog.run(mem, base);
      insns += prog.insnCount;
    }
    runs += 10000;
    el = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (el < seconds);
  void selected;
  return { bench: 'sk_reuseport-shaped (11 insns, 1 helper call, ctx build)', mode, insns, seconds: el, runs };
}

const MiB = 1 << 20;
const rows: Row[] = [];
const mem1 = (size: number) => (m: Memory): [number, number] => {
  const r = m.map(new Uint8Array(size));
  for (let i = 0; i < size; i++) r.bytes[i] = (i * 31) & 0xff;
  return [r.base, size];
};
const memcpySetup = (size: number) => (m: Memory): [number, number] => {
  const r = m.map(new Uint8Array(2 * size));
  return [r.base, size];
};

rows.push(measure('prime (n=99,991)', 'interpreter', prime(99991), () => [0, 0], 0.5));
rows.push(measure('prime (n=9,999,991)', 'compiled', prime(9999991), () => [0, 0], 1));
rows.push(measure('memcpy (64 KiB)', 'interpreter', memcpy, memcpySetup(64 * 1024), 0.5));
rows.push(measure('memcpy (1 MiB)', 'compiled', memcpy, memcpySetup(MiB), 1));
rows.push(measure('fnv1a (4 KiB)', 'interpreter', fnv, mem1(4096), 0.5));
rows.push(measure('fnv1a (64 KiB)', 'compiled', fnv, mem1(64 * 1024), 1));
rows.push(helperRate('interpreter', 0.5));
rows.push(helperRate('compiled', 1));

const fmt = (v: number): string => (v >= 1e6 ? `${(v / 1e6).toFixed(1)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(1));
console.log('| benchmark | engine | instructions/s | runs/s | runs |');
console.log('|---|---|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.bench} | ${r.mode} | ${fmt(r.insns / r.seconds)} | ${fmt(r.runs / r.seconds)} | ${r.runs} |`);
}
const interp = rows.find((r) => r.bench.startsWith('prime') && r.mode === 'interpreter')!;
const comp = rows.find((r) => r.bench.startsWith('prime') && r.mode === 'compiled')!;
const rate = comp.insns / comp.seconds / 1e6;
console.log(`\nprime: compiled ${rate.toFixed(0)} M insns/s = ${(comp.insns / comp.seconds / (interp.insns / interp.seconds)).toFixed(1)}x the reference interpreter; ` +
  `ubpf C interpreter baseline 244 M insns/s (${rate >= 244 ? 'beaten' : 'NOT beaten'}).`);
