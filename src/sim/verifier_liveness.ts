/**
 * compute_live_registers() (kernel/bpf/verifier.c, 6.15+): a static backward data-flow pass
 * giving, per instruction, the registers read before being written on some path from it.
 * State pruning ignores dead registers (clean_func_state), so two paths that differ only in a
 * value nobody reads again are the same state.
 */
import * as op from '../ebpf/opcodes.js';
import type { Insn } from '../ebpf/insn.js';

const R0_5 = 0b111111;
const regs1to = (n: number): number => ((1 << (n + 1)) - 1) & ~1;

/** Live-in register masks (bit r = register r), one per instruction. */
export function computeLiveRegs(insns: readonly Insn[], helperArgc: (id: number) => number): Uint16Array {
  const n = insns.length;
  const use = new Uint16Array(n), def = new Uint16Array(n);
  const succ: number[][] = [];
  for (let i = 0; i < n; i++) {
    const x = insns[i]!;
    const c = op.cls(x.opcode);
    const isX = op.srcBit(x.opcode) === op.BPF_X;
    const bit = (r: number): number => 1 << r;
    let u = 0, d = 0;
    let next: number[] = [i + 1];
    if (x.lddwHi) { succ.push([]); continue; }
    if (c === op.BPF_ALU || c === op.BPF_ALU64) {
      const code = op.aluOp(x.opcode);
      if (code === op.BPF_MOV) { u = isX ? bit(x.src) : 0; d = bit(x.dst); }
      else if (code === op.BPF_NEG || code === op.BPF_END) { u = bit(x.dst); d = bit(x.dst); }
      else { u = bit(x.dst) | (isX ? bit(x.src) : 0); d = bit(x.dst); }
    } else if (c === op.BPF_LDX) {
      u = bit(x.src); d = bit(x.dst);
    } else if (c === op.BPF_ST) {
      u = bit(x.dst);
    } else if (c === op.BPF_STX) {
      u = bit(x.dst) | bit(x.src);
      if (op.ldMode(x.opcode) === op.BPF_ATOMIC) {
        if (x.imm === op.BPF_CMPXCHG) { u |= 1; d = 1; } else if (x.imm & op.BPF_FETCH) d = bit(x.src);
      }
    } else if (c === op.BPF_LD) {
      if (x.imm64 !== undefined) { d = bit(x.dst); next = [i + 2]; }
      else { u = 1 << 6 | (op.ldMode(x.opcode) === op.BPF_IND ? bit(x.src) : 0); d = R0_5; }
    } else {
      const code = op.aluOp(x.opcode);
      if (code === op.BPF_EXIT) { u = 1; next = []; }
      else if (code === op.BPF_CALL) {
        u = x.src === op.BPF_PSEUDO_CALL ? regs1to(5) : regs1to(helperArgc(x.imm));
        d = R0_5;
      } else if (code === op.BPF_JA) next = [i + (c === op.BPF_JMP32 ? x.imm : x.off) + 1];
      else { u = bit(x.dst) | (isX ? bit(x.src) : 0); next = [i + 1, i + x.off + 1]; }
    }
    use[i] = u; def[i] = d;
    succ.push(next.filter((t) => t >= 0 && t < n));
  }
  const live = new Uint16Array(n);
  for (let changed = true; changed;) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      let out = 0;
      for (const t of succ[i]!) out |= live[t]!;
      const v = use[i]! | (out & ~def[i]!);
      if (v !== live[i]) { live[i] = v; changed = true; }
    }
  }
  return live;
}
