/**
 * Property tests: random bytes only ever produce documented typed errors; random valid programs
 * always end within the budget; the compiled path and the reference interpreter agree on r0,
 * instruction count, memory contents and error reason/pc (differential testing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError, encode, validate, type Insn } from '../../src/ebpf/insn.js';
import * as op from '../../src/ebpf/opcodes.js';
import { loadProgram, Memory, VmError, type HelperCall, type HelperTable } from '../../src/vm/index.js';

const BUDGET = 3000;
const MEM_LEN = 64;

const helpers: HelperTable = {
  5: (c: HelperCall) => { c.setR0(c.regs[2]!, c.regs[3]!); },
  // reads a byte at r1: faults when r1 is not a pointer into a region
  6: (c: HelperCall) => c.mem.load8(c.num(1)) - 100,
};

type Outcome =
  | { ok: true; r0: bigint; count: number; mem: number[]; stack: number[] }
  | { ok: false; kind: string; reason: string; pc: number };

function execute(bytes: Uint8Array, mode: 'interpreter' | 'compiled', memInit: Uint8Array): Outcome {
  try {
    const prog = loadProgram(bytes, { mode, budget: BUDGET, helpers });
    const mem = new Memory();
    const region = mem.map(memInit.slice(), { name: 'mem' });
    mem.packet = region;
    prog.run(mem, region.base, MEM_LEN);
    assert.ok(prog.insnCount <= BUDGET);
    return { ok: true, r0: prog.r0(), count: prog.insnCount, mem: [...region.bytes], stack: [...mem.stack(0).bytes] };
  } catch (e) {
    if (e instanceof VmError) return { ok: false, kind: 'vm', reason: e.reason, pc: e.pc };
    if (e instanceof DecodeError) return { ok: false, kind: 'decode', reason: e.reason, pc: e.index };
    throw e; // anything else is a bug: fast-check reports the program
  }
}

/** Outcome tally (printed as a diagnostic, so a generator that only produces faults shows up). */
const tally: Record<string, number> = {};

function agree(bytes: Uint8Array, memInit: Uint8Array): void {
  const a = execute(bytes, 'interpreter', memInit);
  const b = execute(bytes, 'compiled', memInit);
  const key = a.ok ? 'ok' : a.reason;
  tally[key] = (tally[key] ?? 0) + 1;
  if (a.ok && b.ok) { assert.deepEqual(b, a); return; }
  assert.equal(b.ok, a.ok, `interpreter ${JSON.stringify(a, (_, v) => typeof v === 'bigint' ? v.toString() : v)} vs compiled ${JSON.stringify(b, (_, v) => typeof v === 'bigint' ? v.toString() : v)}`);
  if (!a.ok && !b.ok) {
    // the compiled path charges the budget per basic block, so it may stop at the block's start
    // where the interpreter first hits a fault later in that block
    if (a.reason === 'budget-exceeded' || b.reason === 'budget-exceeded') return;
    assert.deepEqual(b, a);
  }
}

// ---- a generator of valid instructions (biased toward interesting values) ----
const imm = fc.oneof(
  fc.constantFrom(0, 1, -1, 2, 7, 8, 16, 31, 32, 33, 63, 64, 0x7fffffff, -0x80000000, 0xff, 0xffff, -2),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
);
const dstReg = fc.integer({ min: 0, max: 9 });
const srcReg = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constant(1), fc.constant(10));
const jumpOff = fc.integer({ min: -6, max: 6 });
const memOff = fc.oneof(fc.integer({ min: -8, max: MEM_LEN + 4 }), fc.integer({ min: -520, max: 8 }));
const ALU_OPS = [op.BPF_ADD, op.BPF_SUB, op.BPF_MUL, op.BPF_DIV, op.BPF_OR, op.BPF_AND, op.BPF_LSH, op.BPF_RSH,
  op.BPF_NEG, op.BPF_MOD, op.BPF_XOR, op.BPF_MOV, op.BPF_ARSH, op.BPF_END];
const JMP_OPS = [op.BPF_JA, op.BPF_JEQ, op.BPF_JGT, op.BPF_JGE, op.BPF_JSET, op.BPF_JNE, op.BPF_JSGT, op.BPF_JSGE,
  op.BPF_JLT, op.BPF_JLE, op.BPF_JSLT, op.BPF_JSLE];
const SIZES = [op.BPF_B, op.BPF_H, op.BPF_W, op.BPF_DW];
const ATOMICS = [op.BPF_ADD, op.BPF_OR, op.BPF_AND, op.BPF_XOR, op.BPF_ADD | op.BPF_FETCH, op.BPF_OR | op.BPF_FETCH,
  op.BPF_AND | op.BPF_FETCH, op.BPF_XOR | op.BPF_FETCH, op.BPF_XCHG, op.BPF_CMPXCHG];

const I = (opcode: number, dst: number, src: number, off: number, immv: number): Insn => ({ opcode, dst, src, off, imm: immv });

const alu = fc.tuple(fc.constantFrom(op.BPF_ALU, op.BPF_ALU64), fc.constantFrom(...ALU_OPS), fc.boolean(), dstReg, srcReg, imm,
  fc.constantFrom(0, 0, 1, 8, 16, 32), fc.constantFrom(16, 32, 64))
  .map(([c, code, x, d, s, k, off, width]) => {
    if (code === op.BPF_NEG) return I(c | code, d, 0, 0, 0);
    if (code === op.BPF_END) return I(c | code | (c === op.BPF_ALU && x ? op.BPF_TO_BE : 0), d, 0, 0, width);
    const movOff = off === 1 || (off === 32 && c === op.BPF_ALU) ? 0 : off; // movsx widths valid for the class
    const o = code === op.BPF_DIV || code === op.BPF_MOD ? off & 1 : code === op.BPF_MOV && x ? movOff : 0;
    const sreg = x && s === 10 && !(c === op.BPF_ALU64 && (code === op.BPF_ADD || (code === op.BPF_MOV && o === 0))) ? 1 : s;
    return x ? I(c | code | op.BPF_X, d, sreg, o, 0) : I(c | code, d, 0, o, k);
  });
const jmp = fc.tuple(fc.constantFrom(op.BPF_JMP, op.BPF_JMP32), fc.constantFrom(...JMP_OPS), fc.boolean(), dstReg, srcReg, imm, jumpOff)
  .map(([c, code, x, d, s, k, off]) => {
    if (code === op.BPF_JA) return c === op.BPF_JMP32 ? I(c, 0, 0, 0, off) : I(c, 0, 0, off, 0);
    return x ? I(c | code | op.BPF_X, d, s, off, 0) : I(c | code, d, 0, off, k);
  });
const ldx = fc.tuple(fc.constantFrom(...SIZES), fc.boolean(), dstReg, fc.constantFrom(1, 10, 2, 0), memOff)
  .map(([size, sx, d, s, off]) => I(op.BPF_LDX | size | (sx && size !== op.BPF_DW ? op.BPF_MEMSX : op.BPF_MEM), d, s, off, 0));
const st = fc.tuple(fc.constantFrom(...SIZES), fc.boolean(), fc.constantFrom(1, 10, 3), srcReg, memOff, imm)
  .map(([size, x, d, s, off, k]) => (x ? I(op.BPF_STX | size | op.BPF_MEM, d, s, off, 0) : I(op.BPF_ST | size | op.BPF_MEM, d, 0, off, k)));
const atomic = fc.tuple(fc.constantFrom(op.BPF_W, op.BPF_DW), fc.constantFrom(...ATOMICS), fc.constantFrom(1, 10), fc.integer({ min: 0, max: 9 }), memOff)
  .map(([size, a, d, s, off]) => I(op.BPF_STX | size | op.BPF_ATOMIC, d, s, off & ~7, a));
const call = fc.oneof(
  fc.constantFrom(I(op.BPF_JMP | op.BPF_CALL, 0, 0, 0, 5), I(op.BPF_JMP | op.BPF_CALL, 0, 0, 0, 6), I(op.BPF_JMP | op.BPF_CALL, 0, 0, 0, 99)),
  jumpOff.map((k) => I(op.BPF_JMP | op.BPF_CALL, 0, op.BPF_PSEUDO_CALL, 0, k)),
  dstReg.map((d) => I(op.BPF_JMP | op.BPF_CALL | op.BPF_X, d, 0, 0, 0)),
);
const legacy = fc.tuple(fc.constantFrom(op.BPF_B, op.BPF_H, op.BPF_W), fc.boolean(), fc.integer({ min: 0, max: 9 }), fc.integer({ min: -4, max: MEM_LEN + 4 }))
  .map(([size, ind, s, k]) => I(op.BPF_LD | size | (ind ? op.BPF_IND : op.BPF_ABS), 0, ind ? s : 0, 0, k));
const exit = fc.constant(I(op.BPF_JMP | op.BPF_EXIT, 0, 0, 0, 0));
const lddw = fc.tuple(dstReg, imm, imm).map(([d, lo, hi]): Insn[] => [I(0x18, d, 0, 0, lo), { opcode: 0, dst: 0, src: 0, off: 0, imm: hi, lddwHi: true }]);

const slot = fc.oneof(
  { arbitrary: alu.map((i) => [i]), weight: 8 },
  { arbitrary: jmp.map((i) => [i]), weight: 3 },
  { arbitrary: ldx.map((i) => [i]), weight: 2 },
  { arbitrary: st.map((i) => [i]), weight: 2 },
  { arbitrary: atomic.map((i) => [i]), weight: 1 },
  { arbitrary: call.map((i) => [i]), weight: 1 },
  { arbitrary: legacy.map((i) => [i]), weight: 1 },
  { arbitrary: exit.map((i) => [i]), weight: 1 },
  { arbitrary: lddw, weight: 1 },
);
const program = fc.array(slot, { minLength: 1, maxLength: 24 }).map((parts) => {
  const insns = parts.flat();
  insns.push(I(op.BPF_JMP | op.BPF_EXIT, 0, 0, 0, 0));
  for (const insn of insns) if (!insn.lddwHi) assert.equal(validate(insn), undefined, JSON.stringify(insn));
  return encode(insns);
});
const memInit = fc.uint8Array({ minLength: MEM_LEN, maxLength: MEM_LEN });

test('random bytes: only DecodeError or VmError, on both engines', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 96 }), memInit, (bytes, m) => {
    execute(bytes, 'interpreter', m);
    execute(bytes, 'compiled', m);
  }), { numRuns: 400 });
  // byte strings made of valid-looking slots get past the decoder more often
  fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom(0x07, 0x04, 0xb7, 0xbf, 0x05, 0x15, 0x1d, 0x61, 0x79, 0x63, 0x7b, 0x85, 0x95, 0x18, 0x00, 0xdb, 0xc3, 0x20, 0x40, 0xd4, 0xd7), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -8, max: 8 }), imm), { maxLength: 16 }), memInit, (slots, m) => {
    const bytes = new Uint8Array(slots.length * 8);
    const v = new DataView(bytes.buffer);
    slots.forEach(([o, regs, off, k], i) => { v.setUint8(i * 8, o); v.setUint8(i * 8 + 1, regs); v.setInt16(i * 8 + 2, off, true); v.setInt32(i * 8 + 4, k, true); });
    execute(bytes, 'interpreter', m);
    execute(bytes, 'compiled', m);
  }), { numRuns: 400 });
});

test('random valid programs end within the budget and both engines agree', (t) => {
  const runs = Number(process.env['VM_PROPERTY_RUNS'] ?? 1500);
  for (const k of Object.keys(tally)) delete tally[k];
  fc.assert(fc.property(program, memInit, (bytes, m) => { agree(bytes, m); }), { numRuns: runs });
  t.diagnostic(`outcomes: ${Object.entries(tally).map(([k, v]) => `${k} ${v}`).join(', ')}`);
});

test('random straight-line arithmetic: both engines agree on every register value', () => {
  // no jumps or memory: every program runs to the end, so r0 checks arithmetic exhaustively
  const arith = fc.array(fc.oneof({ arbitrary: alu.map((i) => [i]), weight: 6 }, { arbitrary: lddw, weight: 1 }), { minLength: 1, maxLength: 30 })
    .chain((parts) => fc.integer({ min: 0, max: 9 }).map((r) => {
      const insns = parts.flat();
      insns.push(I(op.BPF_ALU64 | op.BPF_MOV | op.BPF_X, 0, r, 0, 0), I(op.BPF_JMP | op.BPF_EXIT, 0, 0, 0, 0));
      return encode(insns);
    }));
  fc.assert(fc.property(arith, memInit, (bytes, m) => {
    const a = execute(bytes, 'interpreter', m);
    if (!a.ok) assert.ok(a.reason === 'r10-arithmetic', `${a.kind} ${a.reason} at ${a.pc}`);
    agree(bytes, m);
  }), { numRuns: Number(process.env['VM_PROPERTY_RUNS'] ?? 1500) });
});
