/**
 * RFC 9669 conformance groups (§2.4, IANA "BPF Instruction Conformance Groups"): which groups
 * a program's instructions need, following the per-opcode table of the RFC appendix.
 */
import * as op from './opcodes.js';
import { type Insn, isLddw } from './insn.js';

export type ConformanceGroup =
  | 'base32' | 'base64' | 'atomic32' | 'atomic64' | 'divmul32' | 'divmul64' | 'callx' | 'packet';

/** Most demanding first: the order used to name a program's single "main" group. */
export const GROUP_ORDER: readonly ConformanceGroup[] = [
  'callx', 'packet', 'atomic64', 'atomic32', 'divmul64', 'divmul32', 'base64', 'base32',
];

/** The conformance group of one instruction (first slot of an lddw). */
export function groupOf(insn: Insn): ConformanceGroup {
  const { opcode, imm } = insn;
  const cls = op.cls(opcode);
  const code = op.aluOp(opcode);
  switch (cls) {
    case op.BPF_ALU:
    case op.BPF_ALU64: {
      const is64 = cls === op.BPF_ALU64;
      if (code === op.BPF_MUL || code === op.BPF_DIV || code === op.BPF_MOD) return is64 ? 'divmul64' : 'divmul32';
      if (code === op.BPF_END) return imm === 64 ? 'base64' : 'base32';
      return is64 ? 'base64' : 'base32';
    }
    case op.BPF_JMP: {
      if (code === op.BPF_CALL) return op.srcBit(opcode) === op.BPF_X ? 'callx' : 'base32';
      if (code === op.BPF_JA || code === op.BPF_EXIT) return 'base32';
      return 'base64'; // 64-bit comparisons
    }
    case op.BPF_JMP32:
      return 'base32';
    case op.BPF_LD:
      return isLddw(opcode) ? 'base64' : 'packet';
    case op.BPF_LDX:
      // sign-extending loads produce 64-bit values
      return op.ldSize(opcode) === op.BPF_DW || op.ldMode(opcode) === op.BPF_MEMSX ? 'base64' : 'base32';
    case op.BPF_ST:
      return op.ldSize(opcode) === op.BPF_DW ? 'base64' : 'base32';
    default:
      if (op.ldMode(opcode) === op.BPF_ATOMIC) return op.ldSize(opcode) === op.BPF_DW ? 'atomic64' : 'atomic32';
      return op.ldSize(opcode) === op.BPF_DW ? 'base64' : 'base32';
  }
}

/** Every group a program uses, most demanding first. */
export function groupsOf(insns: readonly Insn[]): ConformanceGroup[] {
  const used = new Set<ConformanceGroup>();
  for (const insn of insns) if (!insn.lddwHi) used.add(groupOf(insn));
  return GROUP_ORDER.filter((g) => used.has(g));
}
