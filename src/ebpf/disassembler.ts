/**
 * Disassembler printing the syntax the assembler reads (ubpf / bpf_conformance style), so that
 * assemble(disassemble(b)) reproduces b byte for byte for every program decode() accepts.
 * Jump and call targets inside the program become labels `L<slot>:`; targets outside it (or
 * into the middle of an lddw) stay relative offsets (`+3`, `-2`).
 */
import * as op from './opcodes.js';
import { type Insn, decode, isLddw } from './insn.js';
import { helperName } from './helpers.js';
import { ALU_BINARY, ATOMICS, JUMPS, PSEUDO_KINDS, sizeName } from './syntax.js';

export interface DisassembleOptions {
  /** Print in-program jump targets as labels (default true); false prints relative offsets. */
  labels?: boolean;
  /** Append `# helper_name` to helper calls (default true). */
  helperComments?: boolean;
}

const invert = (o: Readonly<Record<string, number>>): Map<number, string> =>
  new Map(Object.entries(o).map(([k, v]) => [v, k]));
const ALU_NAMES = invert(ALU_BINARY);
const JUMP_NAMES = invert(JUMPS);
const ATOMIC_NAMES = invert(ATOMICS);
const BIT_OPS = new Set([op.BPF_AND, op.BPF_OR, op.BPF_XOR]);

const r = (n: number): string => `%r${n}`;
const hex32 = (imm: number): string => `0x${(imm >>> 0).toString(16)}`;
const mem = (reg: number, off: number): string =>
  off === 0 ? `[${r(reg)}]` : off > 0 ? `[${r(reg)}+${off}]` : `[${r(reg)}${off}]`;

/** Disassemble bytecode (validated by decode(), which throws DecodeError on a bad encoding). */
export function disassemble(bytecode: Uint8Array, opts: DisassembleOptions = {}): string {
  return disassembleInsns(decode(bytecode), opts);
}

/** Disassemble decoded slots: one instruction per line, labels on their own line. */
export function disassembleInsns(insns: readonly Insn[], opts: DisassembleOptions = {}): string {
  const useLabels = opts.labels ?? true;
  const comments = opts.helperComments ?? true;
  const n = insns.length;
  const inProgram = (t: number): boolean => t >= 0 && t < n && insns[t]!.lddwHi !== true;

  // pass 1: which slots are jump targets
  const targets = new Set<number>();
  if (useLabels) {
    insns.forEach((insn, i) => {
      const rel = relTarget(insn);
      if (rel !== undefined && inProgram(i + 1 + rel)) targets.add(i + 1 + rel);
    });
  }
  const target = (i: number, rel: number): string => {
    const t = i + 1 + rel;
    if (targets.has(t)) return `L${t}`;
    return rel >= 0 ? `+${rel}` : `${rel}`;
  };

  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const insn = insns[i]!;
    if (insn.lddwHi) continue;
    if (targets.has(i)) lines.push(`L${i}:`);
    lines.push(formatInsn(insn, insns[i + 1], (rel) => target(i, rel), comments));
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** The relative slot offset an instruction refers to (jump, gotol, call local, ld func), if any. */
function relTarget(insn: Insn): number | undefined {
  const cls = op.cls(insn.opcode);
  if (cls === op.BPF_JMP || cls === op.BPF_JMP32) {
    const code = op.aluOp(insn.opcode);
    if (code === op.BPF_EXIT) return undefined;
    if (code === op.BPF_CALL) return insn.src === op.BPF_PSEUDO_CALL && op.srcBit(insn.opcode) === op.BPF_K ? insn.imm : undefined;
    if (code === op.BPF_JA && cls === op.BPF_JMP32) return insn.imm;
    return insn.off;
  }
  if (isLddw(insn.opcode) && insn.src === op.BPF_PSEUDO_FUNC) return insn.imm;
  return undefined;
}

/**
 * One instruction as text. `next` is the following slot (the second half of an lddw);
 * `target` formats a relative jump offset (default: `+N` / `-N`).
 */
export function formatInsn(
  insn: Insn,
  next?: Insn,
  target: (rel: number) => string = (rel) => (rel >= 0 ? `+${rel}` : `${rel}`),
  helperComments = true,
): string {
  const { opcode, dst, src, off, imm } = insn;
  const cls = op.cls(opcode);
  const code = op.aluOp(opcode);
  const x = op.srcBit(opcode) === op.BPF_X;
  switch (cls) {
    case op.BPF_ALU:
    case op.BPF_ALU64: {
      const w = cls === op.BPF_ALU ? '32' : '';
      if (code === op.BPF_NEG) return `neg${w} ${r(dst)}`;
      if (code === op.BPF_END) {
        const name = cls === op.BPF_ALU64 ? 'bswap' : x ? 'be' : 'le';
        return `${name}${imm} ${r(dst)}`;
      }
      if (code === op.BPF_MOV && x && off !== 0) return `movsx${off}${cls === op.BPF_ALU ? '32' : '64'} ${r(dst)}, ${r(src)}`;
      let name = ALU_NAMES.get(code) ?? `alu${code >> 4}`;
      if (off === 1 && (code === op.BPF_DIV || code === op.BPF_MOD)) name = code === op.BPF_DIV ? 'sdiv' : 'smod';
      const operand = x ? r(src) : BIT_OPS.has(code) ? hex32(imm) : `${imm}`;
      return `${name}${w} ${r(dst)}, ${operand}`;
    }
    case op.BPF_JMP:
    case op.BPF_JMP32: {
      const w = cls === op.BPF_JMP32 ? '32' : '';
      if (code === op.BPF_JA) return cls === op.BPF_JMP32 ? `ja32 ${target(imm)}` : `ja ${target(off)}`;
      if (code === op.BPF_EXIT) return 'exit';
      if (code === op.BPF_CALL) {
        if (x) return `call ${r(dst)}`;
        if (src === op.BPF_PSEUDO_CALL) return `call local ${target(imm)}`;
        if (src === op.BPF_PSEUDO_KFUNC_CALL) return `call kfunc ${imm}`;
        const name = helperComments ? helperName(imm) : undefined;
        return name ? `call ${imm} # ${name}` : `call ${imm}`;
      }
      const name = JUMP_NAMES.get(code) ?? `jmp${code >> 4}`;
      const operand = x ? r(src) : code === op.BPF_JSET ? hex32(imm) : `${imm}`;
      return `${name}${w} ${r(dst)}, ${operand}, ${target(off)}`;
    }
    case op.BPF_LD: {
      if (isLddw(opcode)) {
        const hi = next?.imm ?? 0;
        if (src === 0) {
          const v = (BigInt(hi >>> 0) << 32n) | BigInt(imm >>> 0);
          return `lddw ${r(dst)}, 0x${v.toString(16)}`;
        }
        const kind = PSEUDO_KINDS[src] ?? `src${src}`;
        const value = src === op.BPF_PSEUDO_FUNC ? target(imm) : `${imm}`;
        return `lddw ${r(dst)}, ${kind} ${value}${hi !== 0 ? ` ${hi}` : ''}`;
      }
      const size = sizeName(op.ldSize(opcode));
      if (op.ldMode(opcode) === op.BPF_ABS) return `ldabs${size} ${imm}`;
      return `ldind${size} ${r(src)}, ${imm}`;
    }
    case op.BPF_LDX:
      return `ldx${op.ldMode(opcode) === op.BPF_MEMSX ? 's' : ''}${sizeName(op.ldSize(opcode))} ${r(dst)}, ${mem(src, off)}`;
    case op.BPF_ST:
      return `st${sizeName(op.ldSize(opcode))} ${mem(dst, off)}, ${imm}`;
    default: {
      // BPF_STX
      const size = sizeName(op.ldSize(opcode));
      if (op.ldMode(opcode) === op.BPF_ATOMIC) {
        const base = ATOMIC_NAMES.get(imm) ?? ATOMIC_NAMES.get(imm & ~op.BPF_FETCH);
        const fetch = ATOMIC_NAMES.has(imm) || base === undefined ? '' : 'fetch ';
        return `lock ${fetch}${base ?? `op${imm}`}${size === 'w' ? '32' : ''} ${mem(dst, off)}, ${r(src)}`;
      }
      return `stx${size} ${mem(dst, off)}, ${r(src)}`;
    }
  }
}
