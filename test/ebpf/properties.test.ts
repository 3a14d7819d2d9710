/**
 * Property tests: arbitrary input never escapes as anything but the toolchain's typed errors,
 * every valid program survives encode/decode and disassemble/assemble byte for byte, and
 * builder programs with arbitrary label layouts link every jump to its label.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  assemble, disassemble, decode, encode, validate, program, opcodes as op,
  AssemblerError, DecodeError, REGS, type Insn, type Program,
} from '../../src/ebpf/index.js';

const RUNS = Number(process.env["EBPF_PROPERTY_RUNS"] ?? 400);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// --- arbitraries -------------------------------------------------------------------------------

const dst = fc.integer({ min: 0, max: 10 });
const src = fc.integer({ min: 0, max: 10 });
const imm = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const off = fc.integer({ min: -0x8000, max: 0x7fff });
// jump offsets: mostly near, so that targets land inside the program and become labels
const near = fc.integer({ min: -30, max: 30 });
const jmpOff = fc.oneof(near, off);
const jmpImm = fc.oneof(near, imm);
const I = (opcode: number, d = 0, s = 0, o = 0, i = 0): Insn[] => [{ opcode, dst: d, src: s, off: o, imm: i }];

const ALU_CODES = [op.BPF_ADD, op.BPF_SUB, op.BPF_MUL, op.BPF_DIV, op.BPF_OR, op.BPF_AND, op.BPF_LSH,
  op.BPF_RSH, op.BPF_MOD, op.BPF_XOR, op.BPF_MOV, op.BPF_ARSH];
const JMP_CODES = [op.BPF_JEQ, op.BPF_JGT, op.BPF_JGE, op.BPF_JSET, op.BPF_JNE, op.BPF_JSGT, op.BPF_JSGE,
  op.BPF_JLT, op.BPF_JLE, op.BPF_JSLT, op.BPF_JSLE];
const ATOMIC_IMMS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1];
const SIZES = [op.BPF_B, op.BPF_H, op.BPF_W, op.BPF_DW];
const aluCls = fc.constantFrom(op.BPF_ALU, op.BPF_ALU64);

/** One valid instruction (an lddw as its two slots), covering every encoding decode accepts. */
const validInsn: fc.Arbitrary<Insn[]> = fc.oneof(
  // ALU with immediate; div/mod may be signed (offset 1)
  fc.tuple(aluCls, fc.constantFrom(...ALU_CODES), dst, imm, fc.boolean()).map(([c, code, d, i, s]) =>
    I(c | code | op.BPF_K, d, 0, (code === op.BPF_DIV || code === op.BPF_MOD) && s ? 1 : 0, i)),
  // ALU with register; mov may sign-extend (movsx), div/mod may be signed
  fc.tuple(aluCls, fc.constantFrom(...ALU_CODES), dst, src, fc.nat(3)).map(([c, code, d, s, k]) => {
    let o = 0;
    if (code === op.BPF_DIV || code === op.BPF_MOD) o = k & 1;
    if (code === op.BPF_MOV) o = [0, 8, 16, c === op.BPF_ALU64 ? 32 : 0][k]!;
    return I(c | code | op.BPF_X, d, s, o);
  }),
  fc.tuple(aluCls, dst).map(([c, d]) => I(c | op.BPF_NEG, d)),
  fc.tuple(fc.constantFrom(op.BPF_ALU | op.BPF_TO_LE, op.BPF_ALU | op.BPF_TO_BE, op.BPF_ALU64), dst,
    fc.constantFrom(16, 32, 64)).map(([o, d, w]) => I(o | op.BPF_END, d, 0, 0, w)),
  // conditional jumps, 64 and 32 bit, immediate and register
  fc.tuple(fc.constantFrom(op.BPF_JMP, op.BPF_JMP32), fc.constantFrom(...JMP_CODES), dst, jmpOff, imm)
    .map(([c, code, d, o, i]) => I(c | code | op.BPF_K, d, 0, o, i)),
  fc.tuple(fc.constantFrom(op.BPF_JMP, op.BPF_JMP32), fc.constantFrom(...JMP_CODES), dst, src, jmpOff)
    .map(([c, code, d, s, o]) => I(c | code | op.BPF_X, d, s, o)),
  jmpOff.map((o) => I(op.BPF_JMP | op.BPF_JA, 0, 0, o)),
  jmpImm.map((i) => I(op.BPF_JMP32 | op.BPF_JA, 0, 0, 0, i)),
  fc.tuple(fc.constantFrom(0, 1, 2), jmpImm).map(([s, i]) => I(op.BPF_JMP | op.BPF_CALL, 0, s, 0, i)),
  dst.map((d) => I(op.BPF_JMP | op.BPF_CALL | op.BPF_X, d)),
  fc.constant(I(op.BPF_JMP | op.BPF_EXIT)),
  // ld_imm64 with every pseudo source kind
  fc.tuple(dst, fc.integer({ min: 0, max: 6 }), jmpImm, imm).map(([d, s, lo, hi]) => [
    { opcode: 0x18, dst: d, src: s, off: 0, imm: lo },
    { opcode: 0, dst: 0, src: 0, off: 0, imm: hi, lddwHi: true as const },
  ]),
  // legacy packet loads
  fc.tuple(fc.constantFrom(op.BPF_B, op.BPF_H, op.BPF_W), imm).map(([sz, i]) => I(op.BPF_LD | op.BPF_ABS | sz, 0, 0, 0, i)),
  fc.tuple(fc.constantFrom(op.BPF_B, op.BPF_H, op.BPF_W), src, imm).map(([sz, s, i]) => I(op.BPF_LD | op.BPF_IND | sz, 0, s, 0, i)),
  // memory
  fc.tuple(fc.constantFrom(...SIZES), dst, src, off).map(([sz, d, s, o]) => I(op.BPF_LDX | op.BPF_MEM | sz, d, s, o)),
  fc.tuple(fc.constantFrom(op.BPF_B, op.BPF_H, op.BPF_W), dst, src, off).map(([sz, d, s, o]) => I(op.BPF_LDX | op.BPF_MEMSX | sz, d, s, o)),
  fc.tuple(fc.constantFrom(...SIZES), dst, off, imm).map(([sz, d, o, i]) => I(op.BPF_ST | op.BPF_MEM | sz, d, 0, o, i)),
  fc.tuple(fc.constantFrom(...SIZES), dst, src, off).map(([sz, d, s, o]) => I(op.BPF_STX | op.BPF_MEM | sz, d, s, o)),
  fc.tuple(fc.constantFrom(op.BPF_W, op.BPF_DW), dst, src, off, fc.constantFrom(...ATOMIC_IMMS))
    .map(([sz, d, s, o, i]) => I(op.BPF_STX | op.BPF_ATOMIC | sz, d, s, o, i)),
);
const validProgram = fc.array(validInsn, { minLength: 1, maxLength: 24 }).map((xs) => xs.flat());

/** Bytes biased towards real opcodes so that decode gets past the first slot often. */
const slotBytes = fc.tuple(
  fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x18, 0x95, 0x85, 0x8d, 0x05, 0x06, 0xdb, 0xc3, 0x61, 0xbf, 0xd4, 0x87)),
  fc.integer({ min: 0, max: 255 }),
  fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
  fc.oneof(fc.constant(0), fc.constantFrom(16, 32, 64, 1, 0xe1, 0xf1), fc.integer({ min: 0, max: 0xffffffff })),
).map(([o, r, f, i]) => {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, o); v.setUint8(1, r); v.setUint16(2, f, true); v.setUint32(4, i, true);
  return b;
});
/** A valid program with one byte overwritten: near-valid input, decodable about half the time. */
const mutatedBytecode = fc.tuple(validProgram, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([insns, at, v]) => {
  const b = encode(insns);
  b[at % b.length] = v;
  return b;
});
const randomBytecode = fc.oneof(
  mutatedBytecode,
  fc.uint8Array({ maxLength: 64 }),
  fc.array(slotBytes, { maxLength: 8 }).map((slots) => {
    const out = new Uint8Array(slots.length * 8);
    slots.forEach((s, i) => out.set(s, i * 8));
    return out;
  }),
);

/** Text that looks like assembly often enough to reach deep into the parser. */
const asmToken = fc.constantFrom(
  'mov', 'mov32', 'add', 'lddw', 'ldxw', 'stxdw', 'stw', 'lock', 'fetch', 'xchg', 'cmpxchg32', 'call', 'local',
  'kfunc', 'ja', 'ja32', 'jeq', 'jne32', 'exit', 'be16', 'neg', 'movsx864', 'map_fd', 'func', 'ldabsw', 'ldindb',
  '%r0', '%r1', '%r10', '%r11', 'r3', '[%r1+4]', '[%r10-8]', '[%r1+0x10000]', '[%r1+', '[]', ',', ', ', ':', 'L1',
  'L1:', 'exit:', '+1', '-1', '+32768', '0', '-3', '0x7fffffff', '0x100000000', '2147483648', '99999999999999999999',
  '#', '\n', ' ', '\t', 'sk_select_reuseport', '-', '+', '0x', '%', '%r', '--', '//',
);
const asmText = fc.oneof(
  fc.array(asmToken, { maxLength: 30 }).map((t) => t.join(' ')),
  fc.array(asmToken, { maxLength: 30 }).map((t) => t.join('')),
  fc.string({ maxLength: 60 }),
);

// --- properties --------------------------------------------------------------------------------

test('the valid-instruction generator only makes encodings validate() accepts', () => {
  fc.assert(fc.property(validProgram, (insns) => {
    for (const i of insns) if (!i.lddwHi) assert.equal(validate(i), undefined, JSON.stringify(i));
  }), { numRuns: RUNS });
});

test('random bytes: decode and disassemble throw only DecodeError; decodable bytes round-trip', (t) => {
  let decodable = 0;
  fc.assert(fc.property(randomBytecode, (bytes) => {
    let text: string;
    try {
      text = disassemble(bytes);
    } catch (e) {
      assert.ok(e instanceof DecodeError, `unexpected ${String(e)}`);
      assert.throws(() => decode(bytes), DecodeError);
      return;
    }
    assert.equal(hex(encode(decode(bytes))), hex(bytes));
    // an empty program decodes to nothing but is not a program: the assembler refuses it
    if (bytes.length === 0) {
      assert.equal(text, '');
      assert.throws(() => assemble(text), (e: unknown) => e instanceof AssemblerError && e.kind === 'empty-program');
      return;
    }
    decodable++;
    assert.equal(hex(assemble(text)), hex(bytes), text);
  }), { numRuns: RUNS * 2 });
  t.diagnostic(`${decodable} of ${RUNS * 2} random bytecodes decoded and round-tripped`);
  assert.ok(decodable > 0);
});

/** Disassembly of a valid program with one character replaced, inserted or deleted. */
const mutatedText = fc.tuple(validProgram, fc.nat(), fc.constantFrom('', ' ', ',', '[', ']', '+', '-', '%', 'x', '9', '\n', ':', '#'), fc.nat(2))
  .map(([insns, at, ch, how]) => {
    const t = disassemble(encode(insns));
    const i = at % (t.length + 1);
    return how === 0 ? t.slice(0, i) + ch + t.slice(i + 1) : how === 1 ? t.slice(0, i) + ch + t.slice(i) : t.slice(0, i) + t.slice(i + 1);
  });

test('random text: assemble throws only AssemblerError', (t) => {
  let accepted = 0, refused = 0;
  fc.assert(fc.property(fc.oneof(asmText, mutatedText), (text) => {
    try {
      const b = assemble(text);
      decode(b); // whatever it accepts is a valid encoding
      accepted++;
    } catch (e) {
      assert.ok(e instanceof AssemblerError, `unexpected ${String(e)} for ${JSON.stringify(text)}`);
      assert.ok(e.line >= 1 && e.column >= 1);
      refused++;
    }
  }), { numRuns: RUNS * 2 });
  t.diagnostic(`random text: ${accepted} assembled, ${refused} refused with AssemblerError`);
});

test('random valid programs round-trip encode/decode and disassemble/assemble byte for byte', () => {
  fc.assert(fc.property(validProgram, fc.boolean(), (insns, labels) => {
    const bytes = encode(insns);
    const back = decode(bytes);
    assert.equal(hex(encode(back)), hex(bytes));
    const text = disassemble(bytes, { labels });
    assert.equal(hex(assemble(text)), hex(bytes), text);
  }), { numRuns: RUNS });
});

test('builder programs with random label layouts link every jump to its label', () => {
  // a program is a list of blocks; each block starts with a label, holds filler and ends
  // with a jump / call to a random block
  const block = fc.record({
    filler: fc.array(fc.constantFrom('mov', 'lddw', 'stx'), { maxLength: 4 }),
    jump: fc.constantFrom('ja', 'jeq', 'jne32', 'ja32', 'call', 'func'),
    to: fc.nat(),
  });
  fc.assert(fc.property(fc.array(block, { minLength: 1, maxLength: 12 }), (blocks) => {
    const p: Program = program();
    const labelAt: number[] = [];
    const jumps: { at: number; to: number; kind: string }[] = [];
    let slot = 0;
    blocks.forEach((b, bi) => {
      p.label(`b${bi}`);
      labelAt.push(slot);
      for (const f of b.filler) {
        if (f === 'mov') { p.mov(REGS[bi % 10]!, bi); slot++; }
        if (f === 'lddw') { p.lddw(REGS[bi % 10]!, BigInt(bi) << 40n); slot += 2; }
        if (f === 'stx') { p.stxdw(REGS[10]!, -8, REGS[1]!); slot++; }
      }
      const to = b.to % blocks.length;
      const name = `b${to}`;
      if (b.jump === 'ja') p.ja(name);
      if (b.jump === 'jeq') p.jeq(REGS[1]!, bi, name);
      if (b.jump === 'jne32') p.jne32(REGS[1]!, REGS[2]!, name);
      if (b.jump === 'ja32') p.ja32(name);
      if (b.jump === 'call') p.callLocal(name);
      if (b.jump === 'func') p.ldFunc(REGS[3]!, name);
      jumps.push({ at: slot, to, kind: b.jump });
      slot += b.jump === 'func' ? 2 : 1;
    });
    p.ldMapValue(REGS[2]!, 'data', blocks.length).ldMapFd(REGS[1]!, 'socks').exit();
    const maps = { socks: 3, data: 4 };
    const bytes = p.link({ maps });
    // the symbolic listing assembles to the same bytes
    assert.equal(hex(assemble(p.toAsm(), { maps })), hex(bytes), p.toAsm());
    const insns = decode(bytes);
    assert.equal(insns.length, slot + 5);
    for (const j of jumps) {
      const i = insns[j.at]!;
      const rel = j.kind === 'ja' || j.kind === 'jeq' || j.kind === 'jne32' ? i.off : i.imm;
      assert.equal(j.at + 1 + rel, labelAt[j.to], `${j.kind} at ${j.at} -> b${j.to}`);
    }
  }), { numRuns: RUNS });
});
