/**
 * One eBPF instruction slot and the byte-exact codec (RFC 9669 §3). Programs are arrays of
 * 8-byte slots; ld_imm64 (lddw) takes two, so `Insn[]` is indexed by slot and the second half
 * of an lddw is a `{ kind: 'lddw-hi' }` slot that must never be executed or jumped to.
 */
import * as op from './opcodes.js';
import { EbpfError } from './errors.js';

export interface Insn {
  opcode: number;
  dst: number;
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
  /** lddw only: the full 64-bit immediate (low imm | next slot's imm << 32), as unsigned. */
  imm64?: bigint;
  /** Set on the second slot of an lddw. */
  lddwHi?: true;
}

/** A bytecode that is not a valid program: names the slot index and the reason. */
export class DecodeError extends EbpfError {
  readonly index: number;
  readonly reason: string;
  constructor(index: number, reason: string) {
    super(`instruction ${index}: ${reason}`);
    this.name = 'DecodeError';
    this.index = index;
    this.reason = reason;
  }
}

export const isLddw = (opcode: number): boolean => opcode === (op.BPF_LD | op.BPF_IMM | op.BPF_DW);

/** Decode bytes into slots, validating every encoding. */
export function decode(bytes: Uint8Array): Insn[] {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError(0, 'bytecode must be a Uint8Array');
  if (bytes.length % op.INSN_SIZE !== 0) {
    throw new DecodeError(Math.floor(bytes.length / op.INSN_SIZE), `bytecode length ${bytes.length} is not a multiple of 8`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / op.INSN_SIZE;
  const out: Insn[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const b = i * op.INSN_SIZE;
    const opcode = view.getUint8(b);
    const regs = view.getUint8(b + 1);
    const insn: Insn = {
      opcode,
      dst: regs & 0x0f,
      src: regs >> 4,
      off: view.getInt16(b + 2, true),
      imm: view.getInt32(b + 4, true),
    };
    if (isLddw(opcode)) {
      if (i + 1 >= n) throw new DecodeError(i, 'lddw is missing its second half');
      const hb = b + op.INSN_SIZE;
      const hi: Insn = {
        opcode: view.getUint8(hb),
        dst: view.getUint8(hb + 1) & 0x0f,
        src: view.getUint8(hb + 1) >> 4,
        off: view.getInt16(hb + 2, true),
        imm: view.getInt32(hb + 4, true),
        lddwHi: true,
      };
      if (hi.opcode !== 0 || hi.dst !== 0 || hi.src !== 0 || hi.off !== 0) {
        throw new DecodeError(i + 1, 'second half of lddw must have opcode, registers and offset 0');
      }
      insn.imm64 = (BigInt(hi.imm >>> 0) << 32n) | BigInt(insn.imm >>> 0);
      const why = validate(insn);
      if (why) throw new DecodeError(i, why);
      out[i] = insn;
      out[i + 1] = hi;
      i++;
      continue;
    }
    const why = validate(insn);
    if (why) throw new DecodeError(i, why);
    out[i] = insn;
  }
  return out;
}

/** Fill `imm64` on every lddw first slot from its two halves, as decode() does (in place). */
export function withImm64(insns: Insn[]): Insn[] {
  insns.forEach((insn, i) => {
    const hi = insns[i + 1];
    if (!insn.lddwHi && hi?.lddwHi) insn.imm64 = (BigInt(hi.imm >>> 0) << 32n) | BigInt(insn.imm >>> 0);
  });
  return insns;
}

/** Encode slots back to bytes (inverse of decode). */
export function encode(insns: readonly Insn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * op.INSN_SIZE);
  const view = new DataView(bytes.buffer);
  insns.forEach((insn, i) => {
    const b = i * op.INSN_SIZE;
    view.setUint8(b, insn.opcode);
    view.setUint8(b + 1, ((insn.src & 0x0f) << 4) | (insn.dst & 0x0f));
    view.setInt16(b + 2, insn.off, true);
    view.setInt32(b + 4, insn.imm | 0, true);
  });
  return bytes;
}

const ALU_OPS = new Set([
  op.BPF_ADD, op.BPF_SUB, op.BPF_MUL, op.BPF_DIV, op.BPF_OR, op.BPF_AND, op.BPF_LSH, op.BPF_RSH,
  op.BPF_NEG, op.BPF_MOD, op.BPF_XOR, op.BPF_MOV, op.BPF_ARSH, op.BPF_END,
]);
const ATOMIC_OPS = new Set([
  op.BPF_ADD, op.BPF_OR, op.BPF_AND, op.BPF_XOR,
  op.BPF_ADD | op.BPF_FETCH, op.BPF_OR | op.BPF_FETCH, op.BPF_AND | op.BPF_FETCH,
  op.BPF_XOR | op.BPF_FETCH, op.BPF_XCHG, op.BPF_CMPXCHG,
]);

/** Returns why an instruction's encoding is invalid, or undefined when it is valid. */
export function validate(insn: Insn): string | undefined {
  const { opcode, dst, src, off, imm } = insn;
  if (dst > op.MAX_REG) return `invalid destination register r${dst}`;
  if (src > op.MAX_REG && !(op.cls(opcode) === op.BPF_LD && isLddw(opcode))) return `invalid source register r${src}`;
  const hex = `opcode 0x${opcode.toString(16).padStart(2, '0')}`;
  switch (op.cls(opcode)) {
    case op.BPF_ALU:
    case op.BPF_ALU64: {
      const is64 = op.cls(opcode) === op.BPF_ALU64;
      const code = op.aluOp(opcode);
      const x = op.srcBit(opcode) === op.BPF_X;
      if (!ALU_OPS.has(code)) return `unknown ALU operation in ${hex}`;
      if (code === op.BPF_NEG) {
        if (x) return `${hex}: neg takes no source operand`;
        if (src !== 0 || off !== 0 || imm !== 0) return `${hex}: neg with non-zero source, offset or immediate`;
        return undefined;
      }
      if (code === op.BPF_END) {
        if (is64 && x) return `${hex}: bswap (ALU64 end) must use source bit 0`;
        if (src !== 0 || off !== 0) return `${hex}: byte swap with non-zero source or offset`;
        if (imm !== 16 && imm !== 32 && imm !== 64) return `${hex}: byte swap width must be 16, 32 or 64, not ${imm}`;
        return undefined;
      }
      if (code === op.BPF_DIV || code === op.BPF_MOD) {
        if (off !== 0 && off !== 1) return `${hex}: division offset must be 0 (unsigned) or 1 (signed), not ${off}`;
      } else if (code === op.BPF_MOV && x) {
        const ok = is64 ? [0, 8, 16, 32] : [0, 8, 16];
        if (!ok.includes(off)) return `${hex}: mov offset must be one of ${ok.join('/')}, not ${off}`;
      } else if (off !== 0) {
        return `${hex}: non-zero offset ${off}`;
      }
      if (x && imm !== 0) return `${hex}: register operand with non-zero immediate ${imm}`;
      if (!x && src !== 0) return `${hex}: immediate operand with non-zero source register r${src}`;
      return undefined;
    }
    case op.BPF_JMP:
    case op.BPF_JMP32: {
      const is32 = op.cls(opcode) === op.BPF_JMP32;
      const code = op.aluOp(opcode);
      const x = op.srcBit(opcode) === op.BPF_X;
      if (code === 0xe0 || code === 0xf0) return `unknown jump operation in ${hex}`;
      if (code === op.BPF_JA) {
        if (x) return `${hex}: ja takes no source operand`;
        if (dst !== 0 || src !== 0) return `${hex}: ja with non-zero registers`;
        if (is32 ? off !== 0 : imm !== 0) return is32 ? `${hex}: gotol with non-zero offset` : `${hex}: ja with non-zero immediate`;
        return undefined;
      }
      if (code === op.BPF_CALL) {
        if (is32) return `${hex}: call is not valid in the JMP32 class`;
        if (off !== 0) return `${hex}: call with non-zero offset`;
        if (x) {
          // callx: the target is in dst (LLVM encoding); imm and src unused
          if (src !== 0 || imm !== 0) return `${hex}: callx with non-zero source or immediate`;
          return undefined;
        }
        if (dst !== 0) return `${hex}: call with non-zero destination register`;
        if (src > op.BPF_PSEUDO_KFUNC_CALL) return `${hex}: call with invalid source kind ${src}`;
        return undefined;
      }
      if (code === op.BPF_EXIT) {
        if (is32 || x) return `${hex}: invalid exit encoding`;
        if (dst !== 0 || src !== 0 || off !== 0 || imm !== 0) return `${hex}: exit with non-zero fields`;
        return undefined;
      }
      if (x && imm !== 0) return `${hex}: register comparison with non-zero immediate ${imm}`;
      if (!x && src !== 0) return `${hex}: immediate comparison with non-zero source register r${src}`;
      return undefined;
    }
    case op.BPF_LD: {
      if (isLddw(opcode)) {
        if (off !== 0) return `${hex}: lddw with non-zero offset`;
        if (src > op.BPF_PSEUDO_MAP_IDX_VALUE) return `${hex}: lddw with unknown source kind ${src}`;
        return undefined;
      }
      const mode = op.ldMode(opcode);
      const size = op.ldSize(opcode);
      if ((mode === op.BPF_ABS || mode === op.BPF_IND) && size !== op.BPF_DW) {
        if (dst !== 0 || off !== 0) return `${hex}: legacy packet load with non-zero destination or offset`;
        if (mode === op.BPF_ABS && src !== 0) return `${hex}: ld_abs with non-zero source register`;
        return undefined;
      }
      return `unknown load ${hex}`;
    }
    case op.BPF_LDX: {
      const mode = op.ldMode(opcode);
      if (mode !== op.BPF_MEM && mode !== op.BPF_MEMSX) return `unknown load mode in ${hex}`;
      if (mode === op.BPF_MEMSX && op.ldSize(opcode) === op.BPF_DW) return `${hex}: sign-extending 64-bit load does not exist`;
      if (imm !== 0) return `${hex}: load with non-zero immediate ${imm}`;
      return undefined;
    }
    case op.BPF_ST: {
      if (op.ldMode(opcode) !== op.BPF_MEM) return `unknown store mode in ${hex}`;
      if (src !== 0) return `${hex}: store immediate with non-zero source register r${src}`;
      return undefined;
    }
    case op.BPF_STX: {
      const mode = op.ldMode(opcode);
      if (mode === op.BPF_MEM) {
        if (imm !== 0) return `${hex}: store with non-zero immediate ${imm}`;
        return undefined;
      }
      if (mode === op.BPF_ATOMIC) {
        const size = op.ldSize(opcode);
        if (size !== op.BPF_W && size !== op.BPF_DW) return `${hex}: atomic operations are 32 or 64 bit only`;
        if (!ATOMIC_OPS.has(imm)) return `${hex}: unknown atomic operation 0x${(imm >>> 0).toString(16)}`;
        return undefined;
      }
      return `unknown store mode in ${hex}`;
    }
  }
  return `unknown ${hex}`;
}
