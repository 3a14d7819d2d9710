/**
 * Load-time checks shared by the interpreter and the compiler: everything that can be decided
 * without running (jump targets, writes to r10, lddw resolution) is refused here with a VmError
 * naming the slot, so both execution engines start from the same verified slot array.
 */
import { decode, isLddw, validate, DecodeError, type Insn } from '../ebpf/insn.js';
import * as op from '../ebpf/opcodes.js';
import { VmError } from './errors.js';
import { DEFAULT_BUDGET, type LoadOptions } from './types.js';

export interface Analyzed {
  insns: readonly Insn[];
  /** lddw value per slot as (lo, hi) int32 halves and as bigint. */
  lddwLo: Int32Array;
  lddwHi: Int32Array;
  lddwBig: (bigint | undefined)[];
  /** Slots that start a basic block (jump targets, call targets, slot after any control transfer). */
  leaders: Uint8Array;
  budget: number;
}

/** Jump target of a JMP/JMP32 branch (not call/exit) at slot i. */
export function jumpTarget(insn: Insn, i: number): number {
  const ja32 = op.cls(insn.opcode) === op.BPF_JMP32 && op.aluOp(insn.opcode) === op.BPF_JA;
  return i + 1 + (ja32 ? insn.imm : insn.off);
}

export const isJmp = (opcode: number): boolean => op.cls(opcode) === op.BPF_JMP || op.cls(opcode) === op.BPF_JMP32;
export const isBranch = (opcode: number): boolean =>
  isJmp(opcode) && op.aluOp(opcode) !== op.BPF_CALL && op.aluOp(opcode) !== op.BPF_EXIT;
export const isLocalCall = (insn: Insn): boolean =>
  insn.opcode === (op.BPF_JMP | op.BPF_CALL) && insn.src === op.BPF_PSEUDO_CALL;
export const isLegacyPacketLoad = (opcode: number): boolean =>
  op.cls(opcode) === op.BPF_LD && !isLddw(opcode);

/** Which register (if any) an instruction writes, for the write-r10 check. */
function writesReg(insn: Insn): number | undefined {
  const c = op.cls(insn.opcode);
  if (c === op.BPF_ALU || c === op.BPF_ALU64 || c === op.BPF_LDX) return insn.dst;
  if (c === op.BPF_LD && isLddw(insn.opcode)) return insn.dst;
  if (c === op.BPF_STX && op.ldMode(insn.opcode) === op.BPF_ATOMIC) {
    if (insn.imm === op.BPF_CMPXCHG) return 0;
    if (insn.imm & op.BPF_FETCH) return insn.src;
  }
  return undefined;
}

/**
 * The kernel verifier refuses bitwise, 32-bit and other arithmetic on the frame pointer
 * ("bitwise operator on pointer prohibited", "32-bit pointer arithmetic prohibited"); so do we,
 * which keeps stack addresses from leaking into scalars. Copying and offsetting stay allowed.
 */
function readsR10AsAluSource(insn: Insn): boolean {
  const c = op.cls(insn.opcode);
  if ((c !== op.BPF_ALU && c !== op.BPF_ALU64) || op.srcBit(insn.opcode) !== op.BPF_X || insn.src !== op.MAX_REG) return false;
  const code = op.aluOp(insn.opcode);
  if (code === op.BPF_END || code === op.BPF_NEG) return false; // no source operand
  return !(c === op.BPF_ALU64 && ((code === op.BPF_MOV && insn.off === 0) || code === op.BPF_ADD));
}

function toSlots(program: Uint8Array | readonly Insn[]): readonly Insn[] {
  if (program instanceof Uint8Array) return decode(program);
  if (!Array.isArray(program)) throw new VmError('bad-argument', -1, 'program must be a Uint8Array or an Insn[]');
  // Re-validate caller-built slots: the engines rely on every field being in range.
  for (let i = 0; i < program.length; i++) {
    const insn = program[i] as Insn | undefined;
    if (insn === null || typeof insn !== 'object') throw new DecodeError(i, 'slot is not an instruction');
    if (insn.lddwHi) {
      if (i === 0 || !isLddw(program[i - 1]!.opcode) || program[i - 1]!.lddwHi) throw new DecodeError(i, 'lddw second half without a first half');
      continue;
    }
    for (const k of ['opcode', 'dst', 'src', 'off', 'imm'] as const) {
      if (!Number.isInteger(insn[k])) throw new DecodeError(i, `field ${k} is not an integer`);
    }
    if (insn.opcode < 0 || insn.opcode > 255 || insn.dst < 0 || insn.src < 0 || insn.src > 15 || insn.off < -32768 || insn.off > 32767 || insn.imm < -(2 ** 31) || insn.imm > 2 ** 31 - 1) {
      throw new DecodeError(i, 'field out of range');
    }
    const why = validate(insn);
    if (why) throw new DecodeError(i, why);
    if (isLddw(insn.opcode)) {
      const hi = program[i + 1];
      if (!hi || !hi.lddwHi) throw new DecodeError(i, 'lddw is missing its second half');
    }
  }
  return program;
}

export function analyze(program: Uint8Array | readonly Insn[], opts: LoadOptions): Analyzed {
  const budget = opts.budget ?? DEFAULT_BUDGET;
  if (!Number.isSafeInteger(budget) || budget < 0) throw new VmError('bad-argument', -1, `budget must be a non-negative integer, not ${budget}`);
  const insns = toSlots(program);
  const n = insns.length;
  if (n === 0) throw new VmError('empty-program', 0, 'program has no instructions');
  const lddwLo = new Int32Array(n), lddwHi = new Int32Array(n);
  const lddwBig: (bigint | undefined)[] = new Array(n).fill(undefined);
  const leaders = new Uint8Array(n + 1);
  leaders[0] = 1;
  leaders[n] = 1;
  const target = (i: number, t: number, what: string): void => {
    if (t < 0 || t >= n) throw new VmError('jump-out-of-range', i, `${what} target ${t} outside 0..${n - 1}`);
    if (insns[t]!.lddwHi) throw new VmError('jump-into-lddw', i, `${what} target ${t} is the second half of an lddw`);
    leaders[t] = 1;
  };
  for (let i = 0; i < n; i++) {
    const insn = insns[i]!;
    if (insn.lddwHi) continue;
    const w = writesReg(insn);
    if (w === op.MAX_REG) throw new VmError('write-r10', i, 'r10 (frame pointer) is read-only');
    const { opcode } = insn;
    if (readsR10AsAluSource(insn)) {
      throw new VmError('r10-arithmetic', i, 'the frame pointer may only be copied (mov64) or offset (add64) by ALU instructions');
    }
    if (isLddw(opcode)) {
      let v: bigint;
      if (insn.src === 0) v = insn.imm64 ?? ((BigInt(insns[i + 1]!.imm >>> 0) << 32n) | BigInt(insn.imm >>> 0));
      else if (opts.resolveLddw) {
        const r = opts.resolveLddw(insn, i);
        if (typeof r === 'bigint') v = BigInt.asUintN(64, r);
        else if (Number.isSafeInteger(r)) v = BigInt.asUintN(64, BigInt(r));
        else throw new VmError('bad-argument', i, `resolveLddw returned ${String(r)}`);
      } else throw new VmError('unsupported', i, `lddw with src_reg ${insn.src} needs a resolveLddw option`);
      lddwBig[i] = v;
      lddwLo[i] = Number(v & 0xffffffffn) | 0;
      lddwHi[i] = Number(v >> 32n) | 0;
      i++;
      continue;
    }
    if (isBranch(opcode)) {
      target(i, jumpTarget(insn, i), 'jump');
      leaders[i + 1] = 1;
    } else if (isJmp(opcode)) {
      if (op.aluOp(opcode) === op.BPF_CALL && op.srcBit(opcode) === op.BPF_K) {
        if (insn.src === op.BPF_PSEUDO_CALL) target(i, i + 1 + insn.imm, 'call');
        else if (insn.src === op.BPF_PSEUDO_KFUNC_CALL) throw new VmError('unsupported', i, 'kfunc calls are not supported');
      }
      leaders[i + 1] = 1;
    } else if (isLegacyPacketLoad(opcode)) {
      leaders[i + 1] = 1; // may end the program (out-of-packet access returns 0)
    }
  }
  return { insns, lddwLo, lddwHi, lddwBig, leaders, budget };
}

/** Look a helper up by id in a Map or a plain record (own properties only). */
export function lookupHelper(table: LoadOptions['helpers'], id: number): ((...a: never[]) => unknown) | undefined {
  if (!table) return undefined;
  if (table instanceof Map) return table.get(id);
  const rec = table as Readonly<Record<number, unknown>>;
  const f = Object.prototype.hasOwnProperty.call(rec, id) ? rec[id] : undefined;
  return typeof f === 'function' ? (f as (...a: never[]) => unknown) : undefined;
}
