/**
 * The VM against the real kernel: the same programs run on Linux (loaded through the verifier,
 * JIT-compiled, run by BPF_PROG_TEST_RUN) and on both VM engines, and must give the same r0.
 * The kernel is the authority above the conformance suite.
 *
 * BPF_PROG_TEST_RUN returns a 32-bit value, so every program runs twice in the kernel: as is
 * (low half of r0) and with `rsh r0, 32` inserted before each exit of the main program (high half).
 *
 * Adapting suite programs to the kernel (the VM always runs the suite's program unchanged):
 *  - without `-- mem`: SOCKET_FILTER, after a prologue setting r0..r9 to 0 as the VM does
 *    (r1 = r2 = 0: no memory). The kernel's r1 would be the skb, which the suite does not expect.
 *  - with `-- mem`: XDP (SOCKET_FILTER has no direct packet access); the packet holds the mem
 *    bytes, and a prologue proves `data + len <= data_end` to the verifier, then sets r1 = data,
 *    r2 = len and the other registers to 0. The packet after the run is compared with the VM's mem.
 *  - programs calling helpers are not comparable: helper 5 is the suite's identity helper, the
 *    kernel's bpf_ktime_get_ns. Programs the verifier refuses are counted with its reason.
 *
 * Then seeded random programs (fast-check) of ALU/ALU64/JMP/JMP32 instructions, and of those
 * plus stack memory and atomics, every register (and the stack) folded into r0 at the end.
 * REUSEPORT_KERNEL_DIFF_RUNS sets the number of programs per property (default 1000).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assemble } from '../../src/ebpf/assembler.js';
import { disassemble } from '../../src/ebpf/disassembler.js';
import { decode, encode, type Insn } from '../../src/ebpf/insn.js';
import * as op from '../../src/ebpf/opcodes.js';
import { BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP } from '../../src/kernel/constants.js';
import type { LinuxKernel } from '../../src/linux/index.js';
import { defaultHelpers, loadProgram, Memory } from '../../src/vm/index.js';
import { CONFORMANCE_TESTS, loadConformanceFiles } from '../support/conformance.js';
import { MIN_TEST_RUN_DATA, progTestRun, requireTestRun, tryProgLoad, verifierReason } from '../support/prog_test_run.js';

const MODES = ['interpreter', 'compiled'] as const;
const RUNS = Number(process.env['REUSEPORT_KERNEL_DIFF_RUNS'] ?? 1000);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new RangeError(`REUSEPORT_KERNEL_DIFF_RUNS must be a positive integer, not ${process.env['REUSEPORT_KERNEL_DIFF_RUNS']}`);
const M32 = 0xffffffffn;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

// ---- instruction construction ----

const ins = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ opcode, dst, src, off, imm });
const mov64 = (dst: number, imm: number): Insn => ins(op.BPF_ALU64 | op.BPF_MOV | op.BPF_K, dst, 0, 0, imm);
const movReg64 = (dst: number, src: number): Insn => ins(op.BPF_ALU64 | op.BPF_MOV | op.BPF_X, dst, src);
const EXIT = ins(op.BPF_JMP | op.BPF_EXIT);
const RSH_R0_32 = ins(op.BPF_ALU64 | op.BPF_RSH | op.BPF_K, 0, 0, 0, 32);
function lddw(dst: number, v: bigint): Insn[] {
  return [ins(op.BPF_LD | op.BPF_IMM | op.BPF_DW, dst, 0, 0, Number(BigInt.asIntN(32, v))),
    { ...ins(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n))), lddwHi: true }];
}

const isHelperCall = (x: Insn): boolean => !x.lddwHi && x.opcode === (op.BPF_JMP | op.BPF_CALL) && x.src === 0;
const isLocalCall = (x: Insn): boolean => !x.lddwHi && x.opcode === (op.BPF_JMP | op.BPF_CALL) && x.src === op.BPF_PSEUDO_CALL;
const isBranch = (x: Insn): boolean => {
  const c = op.cls(x.opcode), code = op.aluOp(x.opcode);
  return !x.lddwHi && (c === op.BPF_JMP || c === op.BPF_JMP32) && code !== op.BPF_CALL && code !== op.BPF_EXIT;
};
const isGotol = (x: Insn): boolean => x.opcode === (op.BPF_JMP32 | op.BPF_JA);

/**
 * The high-half variant: `rsh r0, 32` before every exit of the main program (slots before the
 * first bpf-to-bpf callee; a callee's exit returns to its caller). Jump and call offsets are
 * relocated; a jump to an exit lands on the inserted shift.
 */
function withHighHalf(insns: readonly Insn[]): Insn[] {
  const n = insns.length;
  let mainEnd = n;
  insns.forEach((x, i) => { if (isLocalCall(x)) mainEnd = Math.min(mainEnd, i + 1 + x.imm); });
  const widened = (i: number): boolean => i < mainEnd && insns[i]!.opcode === EXIT.opcode && !insns[i]!.lddwHi;
  const at: number[] = [];
  let k = 0;
  for (let i = 0; i < n; i++) { at.push(k); k += widened(i) ? 2 : 1; }
  at.push(k);
  const moved = (i: number, rel: number): number => {
    const t = i + 1 + rel;
    if (t < 0 || t > n) return rel; // out of the program: the verifier refuses it either way
    const r = at[t]! - (at[i]! + 1);
    if (r < -32768 || r > 32767) throw new RangeError(`relocated jump at ${i} does not fit in 16 bits`);
    return r;
  };
  const out: Insn[] = [];
  insns.forEach((x, i) => {
    if (widened(i)) { out.push(RSH_R0_32, EXIT); return; }
    if (isBranch(x) && isGotol(x)) out.push({ ...x, imm: moved(i, x.imm) });
    else if (isBranch(x)) out.push({ ...x, off: moved(i, x.off) });
    else if (isLocalCall(x)) out.push({ ...x, imm: moved(i, x.imm) });
    else out.push({ ...x });
  });
  return out;
}

/** r0 and r3..r9 = 0, r1 = r2 = 0 (the VM's registers when a program gets no memory). */
const ZERO_PROLOGUE: Insn[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((r) => mov64(r, 0));

/** XDP: r1 = packet start, r2 = len, bounds proven to the verifier, other registers 0. */
function packetPrologue(len: number): Insn[] {
  return [
    ins(op.BPF_LDX | op.BPF_MEM | op.BPF_W, 2, 1, 0),  // r2 = xdp_md->data
    ins(op.BPF_LDX | op.BPF_MEM | op.BPF_W, 3, 1, 4),  // r3 = xdp_md->data_end
    movReg64(1, 2),
    ins(op.BPF_ALU64 | op.BPF_ADD | op.BPF_K, 1, 0, 0, len),
    ins(op.BPF_JMP | op.BPF_JLE | op.BPF_X, 1, 3, 2), // data + len <= data_end: skip the bail-out
    mov64(0, 0),
    EXIT,
    movReg64(1, 2),
    mov64(2, len),
    ...[0, 3, 4, 5, 6, 7, 8, 9].map((r) => mov64(r, 0)),
  ];
}

// ---- running one program on each side ----

interface KernelOutcome { lo: number; hi: number; packet: Uint8Array }
type KernelRun = KernelOutcome | { refused: string };

/** Load both variants, run each once; the program fds are closed before returning. */
function runOnKernel(kernel: LinuxKernel, progType: number, prologue: Insn[], insns: readonly Insn[], data: Uint8Array): KernelRun {
  const halves: number[] = [];
  let packet: Uint8Array = new Uint8Array(0);
  for (const body of [insns, withHighHalf(insns)]) {
    const load = tryProgLoad(kernel, progType, encode([...prologue, ...body]));
    if ('refused' in load) return { refused: verifierReason(load.refused) };
    try {
      const r = progTestRun(load.fd, { data, dataOutSize: progType === BPF_PROG_TYPE_XDP ? data.length : 0 });
      if (halves.length === 0) packet = r.data;
      halves.push(r.retval);
    } finally {
      kernel.close(load.fd);
    }
  }
  return { lo: halves[0]!, hi: halves[1]!, packet };
}

interface VmOutcome { r0: bigint; mem: Uint8Array }

/** The suite's program unchanged: r1 = mem address (0 without mem), r2 = mem length. */
function runOnVm(bytes: Uint8Array, mem: Uint8Array, mode: (typeof MODES)[number]): VmOutcome {
  const prog = loadProgram(bytes, { mode, helpers: defaultHelpers });
  const m = new Memory();
  const copy = mem.slice();
  let r1 = 0;
  if (copy.length > 0) {
    const region = m.map(copy, { name: 'mem' });
    m.packet = region;
    r1 = region.base;
  }
  prog.run(m, r1, copy.length);
  return { r0: prog.r0(), mem: copy };
}

/** Differences between the kernel's run and a VM run, as readable lines (empty: they agree). */
function compare(k: KernelOutcome, v: VmOutcome, mode: string, memLen: number): string[] {
  const out: string[] = [];
  const lo = Number(v.r0 & M32), hi = Number(v.r0 >> 32n);
  if (k.lo !== lo) out.push(`${mode}: r0 low 32 bits ${hex(lo)}, kernel ${hex(k.lo)}`);
  if (k.hi !== hi) out.push(`${mode}: r0 high 32 bits ${hex(hi)}, kernel ${hex(k.hi)}`);
  for (let i = 0; i < memLen; i++) {
    if (k.packet[i] !== v.mem[i]) { out.push(`${mode}: mem[${i}] ${hex(v.mem[i]!)}, kernel packet ${hex(k.packet[i] ?? -1)}`); break; }
  }
  return out;
}

// ---- the harness itself ----

test('the high-half rewrite returns r0 >> 32 on the VM, for every suite program without helper calls', () => {
  let n = 0;
  for (const f of loadConformanceFiles(CONFORMANCE_TESTS)) {
    const bytes = f.raw ?? assemble(f.asm ?? '');
    const insns = decode(bytes);
    if (insns.some(isHelperCall) || insns.some((x) => x.opcode === (op.BPF_JMP | op.BPF_CALL | op.BPF_X))) continue;
    const whole = runOnVm(bytes, f.mem, 'interpreter').r0;
    const high = runOnVm(encode(withHighHalf(insns)), f.mem, 'interpreter').r0;
    assert.equal(high, whole >> 32n, `${f.name}: r0 ${hex(whole)}, rewritten program returned ${hex(high)}`);
    n++;
  }
  assert.ok(n > 0);
});

test('BPF_PROG_TEST_RUN: retval is r0\'s low 32 bits, an XDP run returns the packet, a refusal carries the verifier\'s reason', (t) => {
  const kernel = requireTestRun(t);
  if (!kernel) return;
  const data = new Uint8Array(MIN_TEST_RUN_DATA);
  const k = runOnKernel(kernel, BPF_PROG_TYPE_SOCKET_FILTER, [], [...lddw(0, 0x1_8765_4321n), EXIT], data);
  assert.deepEqual(k, { lo: 0x87654321, hi: 1, packet: new Uint8Array(0) });

  const store = ins(op.BPF_ST | op.BPF_MEM | op.BPF_DW, 1, 0, 2, -2); // *(u64 *)(r1 + 2) = -2
  const x = runOnKernel(kernel, BPF_PROG_TYPE_XDP, packetPrologue(12), [store, movReg64(0, 2), EXIT], new Uint8Array(16).fill(7));
  assert.deepEqual(x, { lo: 12, hi: 0, packet: Uint8Array.from([7, 7, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 7, 7, 7, 7, 7, 7]) });

  // a packet access past the proven 12 bytes: the verifier refuses it, naming the access
  const far = ins(op.BPF_LDX | op.BPF_MEM | op.BPF_DW, 0, 1, 8);
  const r = runOnKernel(kernel, BPF_PROG_TYPE_XDP, packetPrologue(12), [far, EXIT], new Uint8Array(16));
  assert.ok('refused' in r && /^EACCES: .*packet/.test(r.refused), JSON.stringify(r));
});

// ---- (a) the conformance suite ----

test('conformance programs: kernel (verifier + JIT) and both VM engines give the same r0 and memory', (t) => {
  const kernel = requireTestRun(t);
  if (!kernel) return;
  const files = loadConformanceFiles(CONFORMANCE_TESTS);
  assert.ok(files.length > 0, `no conformance files in ${CONFORMANCE_TESTS}`);
  const compared = { socketFilter: 0, xdp: 0 };
  const refused: string[] = [];
  const notComparable: string[] = [];
  const disagreements: string[] = [];
  for (const f of files) {
    assert.notEqual(f.result, undefined, `${f.name} has no -- result`);
    const bytes = f.raw ?? assemble(f.asm ?? '');
    const insns = decode(bytes);
    if (insns.some(isHelperCall)) {
      notComparable.push(`${f.name} (calls helper ${insns.find(isHelperCall)!.imm}: the suite's identity helper, not the kernel's)`);
      continue;
    }
    const len = f.mem.length;
    const xdp = len > 0;
    const progType = xdp ? BPF_PROG_TYPE_XDP : BPF_PROG_TYPE_SOCKET_FILTER;
    const data = new Uint8Array(Math.max(len, MIN_TEST_RUN_DATA));
    data.set(f.mem);
    const k = runOnKernel(kernel, progType, xdp ? packetPrologue(len) : ZERO_PROLOGUE, insns, data);
    if ('refused' in k) { refused.push(`${f.name}: ${k.refused}`); continue; }
    if (xdp) compared.xdp++; else compared.socketFilter++;
    for (const mode of MODES) {
      const diff = compare(k, runOnVm(bytes, f.mem, mode), mode, len);
      if (diff.length) disagreements.push(`${f.name} (${xdp ? 'XDP' : 'SOCKET_FILTER'}): ${diff.join('; ')}\n${disassemble(bytes)}`);
    }
  }
  const total = compared.socketFilter + compared.xdp;
  t.diagnostic(`compared ${total} of ${files.length} conformance programs with the kernel ` +
    `(${compared.socketFilter} as SOCKET_FILTER, ${compared.xdp} as XDP with their mem as the packet)`);
  t.diagnostic(`refused by the kernel verifier: ${refused.length}`);
  for (const r of refused) t.diagnostic(`  refused ${r}`);
  t.diagnostic(`not comparable: ${notComparable.length}`);
  for (const r of notComparable) t.diagnostic(`  ${r}`);
  assert.equal(total + refused.length + notComparable.length, files.length);
  assert.ok(total > 0, 'the kernel accepted none of the conformance programs');
  assert.deepEqual(disagreements, []);
});

// ---- (b) random straight-line programs ----

const U64_SPECIAL = [0n, 1n, 2n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn,
  0x100000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0xfffffffffffffffen, 0xffffffff80000000n];
const IMM_SPECIAL = [0, 1, -1, 2, -2, 31, 32, 63, 64, 0x7f, 0x80, 0xffff, 0x7fffffff, -0x80000000];

const u64 = fc.oneof(fc.constantFrom(...U64_SPECIAL), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
const imm32 = fc.oneof(fc.constantFrom(...IMM_SPECIAL), fc.integer({ min: -0x80000000, max: 0x7fffffff }));
const reg = fc.integer({ min: 0, max: 9 });
const cls = fc.constantFrom(op.BPF_ALU, op.BPF_ALU64);

const BINARY = [op.BPF_ADD, op.BPF_SUB, op.BPF_MUL, op.BPF_DIV, op.BPF_MOD, op.BPF_OR, op.BPF_AND, op.BPF_XOR,
  op.BPF_LSH, op.BPF_RSH, op.BPF_ARSH, op.BPF_MOV];
const SHIFTS = new Set([op.BPF_LSH, op.BPF_RSH, op.BPF_ARSH]);
const CONDS = [op.BPF_JEQ, op.BPF_JGT, op.BPF_JGE, op.BPF_JSET, op.BPF_JNE, op.BPF_JSGT, op.BPF_JSGE,
  op.BPF_JLT, op.BPF_JLE, op.BPF_JSLT, op.BPF_JSLE];

/** One body instruction, or a forward jump skipping `skip` body slots (clamped to the exit). */
type BodyOp = { insn: Insn; skip?: number };

/** Encodings the verifier accepts: no K-form division by 0, K-form shifts below the width. */
const binary = fc.record({ c: cls, code: fc.constantFrom(...BINARY), x: fc.boolean(), signed: fc.boolean(), dst: reg, src: reg, imm: imm32 })
  .map(({ c, code, x, signed, dst, src, imm }): BodyOp => {
    const width = c === op.BPF_ALU64 ? 64 : 32;
    const off = signed && (code === op.BPF_DIV || code === op.BPF_MOD) ? 1 : 0;
    if (x) return { insn: ins(c | code | op.BPF_X, dst, src, off, 0) };
    let k = imm;
    if (SHIFTS.has(code)) k = ((k % width) + width) % width;
    if ((code === op.BPF_DIV || code === op.BPF_MOD) && k === 0) k = -1;
    return { insn: ins(c | code | op.BPF_K, dst, 0, off, k) };
  });
const movsx = fc.record({ wide: fc.boolean(), dst: reg, src: reg, bits: fc.constantFrom(8, 16, 32) })
  .map(({ wide, dst, src, bits }): BodyOp => ({
    insn: ins((wide ? op.BPF_ALU64 : op.BPF_ALU) | op.BPF_MOV | op.BPF_X, dst, src, wide ? bits : Math.min(bits, 16), 0),
  }));
const neg = fc.record({ c: cls, dst: reg }).map(({ c, dst }): BodyOp => ({ insn: ins(c | op.BPF_NEG | op.BPF_K, dst) }));
// ALU end: to_le (source bit 0) / to_be (source bit 1); ALU64 end: unconditional bswap
const end = fc.record({ kind: fc.constantFrom('le', 'be', 'bswap'), dst: reg, bits: fc.constantFrom(16, 32, 64) })
  .map(({ kind, dst, bits }): BodyOp => ({
    insn: ins(kind === 'bswap' ? op.BPF_ALU64 | op.BPF_END : op.BPF_ALU | op.BPF_END | (kind === 'be' ? op.BPF_TO_BE : op.BPF_TO_LE), dst, 0, 0, bits),
  }));
const jump = fc.record({ c: fc.constantFrom(op.BPF_JMP, op.BPF_JMP32), code: fc.constantFrom(...CONDS), x: fc.boolean(), dst: reg, src: reg, imm: imm32, skip: fc.integer({ min: 0, max: 6 }) })
  .map(({ c, code, x, dst, src, imm, skip }): BodyOp => ({
    insn: x ? ins(c | code | op.BPF_X, dst, src, 0, 0) : ins(c | code | op.BPF_K, dst, 0, 0, imm),
    skip,
  }));
/** Division and modulo get their own weight: by zero, INT_MIN / -1, signed and unsigned. */
const divmod = fc.record({ c: cls, code: fc.constantFrom(op.BPF_DIV, op.BPF_MOD), x: fc.boolean(), signed: fc.boolean(), dst: reg, src: reg, imm: imm32 })
  .map(({ c, code, x, signed, dst, src, imm }): BodyOp =>
    x ? { insn: ins(c | code | op.BPF_X, dst, src, signed ? 1 : 0, 0) } : { insn: ins(c | code | op.BPF_K, dst, 0, signed ? 1 : 0, imm === 0 ? -1 : imm) });
const bodyOp = fc.oneof({ arbitrary: binary, weight: 8 }, { arbitrary: divmod, weight: 3 }, { arbitrary: movsx, weight: 1 }, { arbitrary: neg, weight: 1 },
  { arbitrary: end, weight: 1 }, { arbitrary: jump, weight: 3 });

/** Stack bytes the memory property uses: [r10 - 64, r10), zeroed first (the kernel refuses nothing, reads no garbage). */
const STACK_BYTES = 64;
const SIZES = [[op.BPF_B, 1], [op.BPF_H, 2], [op.BPF_W, 4], [op.BPF_DW, 8]] as const;
/** An aligned slot of the given size (the verifier requires aligned stack accesses). */
const stackSlot = fc.record({ size: fc.constantFrom(...SIZES), k: fc.integer({ min: 1, max: STACK_BYTES }) })
  .map(({ size: [code, n], k }) => ({ code, off: -n * (1 + ((k - 1) % (STACK_BYTES / n))) }));
const ATOMIC_OPS = [op.BPF_ADD, op.BPF_OR, op.BPF_AND, op.BPF_XOR, op.BPF_ADD | op.BPF_FETCH, op.BPF_OR | op.BPF_FETCH,
  op.BPF_AND | op.BPF_FETCH, op.BPF_XOR | op.BPF_FETCH, op.BPF_XCHG, op.BPF_CMPXCHG];
const stackOp = fc.oneof(
  fc.record({ s: stackSlot, src: reg }).map(({ s, src }): BodyOp => ({ insn: ins(op.BPF_STX | op.BPF_MEM | s.code, 10, src, s.off) })),
  fc.record({ s: stackSlot, imm: imm32 }).map(({ s, imm }): BodyOp => ({ insn: ins(op.BPF_ST | op.BPF_MEM | s.code, 10, 0, s.off, imm) })),
  fc.record({ s: stackSlot, dst: reg }).map(({ s, dst }): BodyOp => ({ insn: ins(op.BPF_LDX | op.BPF_MEM | s.code, dst, 10, s.off) })),
  // sign-extending loads exist for 1, 2 and 4 bytes
  fc.record({ s: stackSlot, dst: reg }).map(({ s, dst }): BodyOp => ({ insn: ins(op.BPF_LDX | (s.code === op.BPF_DW ? op.BPF_MEM : op.BPF_MEMSX) | s.code, dst, 10, s.off) })),
  fc.record({ wide: fc.boolean(), k: fc.integer({ min: 1, max: STACK_BYTES / 4 }), src: reg, imm: fc.constantFrom(...ATOMIC_OPS) })
    .map(({ wide, k, src, imm }): BodyOp => {
      const n = wide ? 8 : 4;
      return { insn: ins(op.BPF_STX | op.BPF_ATOMIC | (wide ? op.BPF_DW : op.BPF_W), 10, src, -n * (1 + ((k - 1) % (STACK_BYTES / n))), imm) };
    }),
);
const memBodyOp = fc.oneof({ arbitrary: bodyOp, weight: 2 }, { arbitrary: stackOp, weight: 1 });

/**
 * The body, then every register folded into r0 by xor (so a wrong value in any register shows),
 * and exit. Jumps only go forward, at most to the fold. With `stack`, the 64 stack bytes are
 * zeroed before the body and folded into r0 after it too.
 */
function straightLine(body: BodyOp[], stack = false): Insn[] {
  const slots = Array.from({ length: STACK_BYTES / 8 }, (_, i) => -8 * (i + 1));
  const out: Insn[] = stack ? slots.map((off) => ins(op.BPF_ST | op.BPF_MEM | op.BPF_DW, 10, 0, off, 0)) : [];
  body.forEach((b, i) => {
    const room = body.length - i - 1; // body slots after this one; room = 0 lands on the fold
    out.push(b.skip === undefined ? b.insn : { ...b.insn, off: Math.min(b.skip, room) });
  });
  for (let r = 1; r <= 9; r++) out.push(ins(op.BPF_ALU64 | op.BPF_XOR | op.BPF_X, 0, r));
  if (stack) {
    for (const off of slots) out.push(ins(op.BPF_LDX | op.BPF_MEM | op.BPF_DW, 1, 10, off), ins(op.BPF_ALU64 | op.BPF_XOR | op.BPF_X, 0, 1));
  }
  out.push(EXIT);
  return out;
}

/** The VM's program: r0..r9 = init by lddw, then the straight line. */
const withConstants = (init: bigint[], line: Insn[]): Insn[] => [...init.flatMap((v, r) => lddw(r, v)), ...line];

/**
 * XDP prologue loading r0..r9 from the packet (8 bytes each, little-endian): the verifier then
 * knows nothing of the values, so it cannot settle branches or fold anything at load time and
 * the JIT-compiled code computes everything at run time.
 */
function packetRegsPrologue(): Insn[] {
  const ldxdw = (dst: number, off: number): Insn => ins(op.BPF_LDX | op.BPF_MEM | op.BPF_DW, dst, 2, off);
  return [...packetPrologue(80).slice(0, 7), movReg64(2, 1), ins(op.BPF_ALU64 | op.BPF_SUB | op.BPF_K, 2, 0, 0, 80),
    ...[0, 1, 3, 4, 5, 6, 7, 8, 9].map((r) => ldxdw(r, 8 * r)), ldxdw(2, 16)];
}
const packetOf = (init: bigint[]): Uint8Array => {
  const b = Buffer.alloc(80);
  init.forEach((v, r) => b.writeBigUInt64LE(v, 8 * r));
  return new Uint8Array(b);
};

/** Kinds of generated body instructions, printed so a generator that lost a kind shows. */
function kindOf(x: Insn): string {
  const c = op.cls(x.opcode), code = op.aluOp(x.opcode), reg = op.srcBit(x.opcode) === op.BPF_X;
  if (c === op.BPF_ST) return 'st';
  if (c === op.BPF_STX) return op.ldMode(x.opcode) === op.BPF_ATOMIC ? 'atomic' : 'stx';
  if (c === op.BPF_LDX) return op.ldMode(x.opcode) === op.BPF_MEMSX ? 'ldxs' : 'ldx';
  if (c === op.BPF_JMP || c === op.BPF_JMP32) return c === op.BPF_JMP32 ? 'jmp32' : 'jmp';
  const w = c === op.BPF_ALU64 ? '64' : '32';
  if (code === op.BPF_DIV || code === op.BPF_MOD) return `${x.off ? 's' : ''}${code === op.BPF_DIV ? 'div' : 'mod'}${w}${reg ? '-reg' : ''}`;
  if (SHIFTS.has(code)) return `shift${w}${reg ? '-reg' : ''}`;
  if (code === op.BPF_MOV && x.off) return `movsx${w}`;
  if (code === op.BPF_END) return c === op.BPF_ALU64 ? 'bswap' : 'le/be';
  if (code === op.BPF_NEG) return `neg${w}`;
  return `alu${w}`;
}

/**
 * Random programs on the kernel and both VM engines, seeded; half of them with register values
 * the verifier knows (SOCKET_FILTER, lddw), half with values it cannot know (XDP, from the packet).
 * On a disagreement the test fails with the shrunk program's disassembly and every side's r0.
 */
function checkRandomPrograms(t: TestContext, ops: fc.Arbitrary<BodyOp>, stack: boolean, seed: number): void {
  const kernel = requireTestRun(t);
  if (!kernel) return;
  const data = new Uint8Array(MIN_TEST_RUN_DATA);
  const kinds: Record<string, number> = {};
  let runs = 0;
  /** Disagreements of one program (empty: all three agree), each line naming the side. */
  const differences = (init: bigint[], body: BodyOp[], hidden: boolean): string[] => {
    const line = straightLine(body, stack);
    const bytes = encode(withConstants(init, line));
    const k = hidden
      ? runOnKernel(kernel, BPF_PROG_TYPE_XDP, packetRegsPrologue(), line, packetOf(init))
      : runOnKernel(kernel, BPF_PROG_TYPE_SOCKET_FILTER, [], withConstants(init, line), data);
    if ('refused' in k) return [`the verifier refused a generated program (generator bug): ${k.refused}`];
    let vm: VmOutcome[];
    try {
      vm = MODES.map((mode) => runOnVm(bytes, new Uint8Array(0), mode));
    } catch (e) {
      return [`the kernel returned ${hex((BigInt(k.hi) << 32n) | BigInt(k.lo))}, the VM threw ${String(e)}`];
    }
    const diff = MODES.flatMap((mode, i) => compare(k, vm[i]!, mode, 0));
    if (vm[0]!.r0 !== vm[1]!.r0) diff.push(`interpreter r0 ${hex(vm[0]!.r0)}, compiled ${hex(vm[1]!.r0)}`);
    if (diff.length) diff.unshift(`kernel r0 ${hex((BigInt(k.hi) << 32n) | BigInt(k.lo))}`);
    return diff;
  };
  const details = fc.check(
    fc.property(fc.array(u64, { minLength: 10, maxLength: 10 }), fc.array(ops, { minLength: 1, maxLength: 24 }), fc.boolean(), (init, body, hidden) => {
      runs++;
      for (const b of body) { const k = kindOf(b.insn); kinds[k] = (kinds[k] ?? 0) + 1; }
      return differences(init, body, hidden).length === 0;
    }),
    { seed, numRuns: RUNS },
  );
  if (details.failed) {
    const [init, body, hidden] = details.counterexample!;
    assert.fail(`kernel and VM disagree (seed ${details.seed}, path ${details.counterexamplePath}, shrunk ${details.numShrinks} times, ` +
      `registers ${hidden ? 'loaded from the packet (XDP)' : 'constants known to the verifier (SOCKET_FILTER)'}):\n` +
      `${differences(init, body, hidden).join('\n')}\n${disassemble(encode(withConstants(init, straightLine(body, stack))))}`);
  }
  t.diagnostic(`${details.numRuns} random programs run on the kernel and on both VM engines (${runs} property evaluations)`);
  t.diagnostic(`body instructions: ${Object.entries(kinds).sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
}

test('random ALU/ALU64/JMP/JMP32 programs: kernel and both VM engines agree on every register (seeded)', (t) => {
  checkRandomPrograms(t, bodyOp, false, 0x6b65726e);
});

test('random programs with stack loads, stores, sign-extending loads and atomics: kernel and VM agree (seeded)', (t) => {
  checkRandomPrograms(t, memBodyOp, true, 0x737461);
});
