/**
 * The standard SK_REUSEPORT select program (~9 instructions): select the socket in a fixed
 * slot of a sockarray and return SK_PASS. If the slot is empty the helper fails and the
 * kernel falls back to its hash (SK_PASS without a selection), never a drop. Steering is
 * changed by updating the slot, not the program. Hand-assembled with the instruction codec so
 * it does not depend on the assembler.
 *
 *   *(u32 *)(r10 - 4) = slot
 *   r2 = map_fd ll                 ; BPF_LD_MAP_FD (src_reg 1)
 *   r3 = r10; r3 += -4             ; &key
 *   r4 = 0                         ; flags
 *   call bpf_sk_select_reuseport   ; r1 still holds ctx
 *   r0 = SK_PASS
 *   exit
 */
import { encode, type Insn } from '../ebpf/insn.js';
import * as op from '../ebpf/opcodes.js';
import { SK_PASS } from '../kernel/constants.js';

const BPF_FUNC_sk_select_reuseport = 82;

const I = (opcode: number, dst: number, src: number, off: number, imm: number): Insn => ({ opcode, dst, src, off, imm });

export function selectSlotProgram(mapFd: number, slot = 0, action: number = SK_PASS): Uint8Array {
  for (const [v, what] of [[mapFd, 'mapFd'], [slot, 'slot'], [action, 'action']] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new RangeError(`selectSlotProgram: ${what} must be a non-negative int32, got ${v}`);
  }
  return encode([
    I(op.BPF_ST | op.BPF_MEM | op.BPF_W, 10, 0, -4, slot),
    I(op.BPF_LD | op.BPF_IMM | op.BPF_DW, 2, op.BPF_PSEUDO_MAP_FD, 0, mapFd),
    I(0, 0, 0, 0, 0),
    I(op.BPF_ALU64 | op.BPF_MOV | op.BPF_X, 3, 10, 0, 0),
    I(op.BPF_ALU64 | op.BPF_ADD | op.BPF_K, 3, 0, 0, -4),
    I(op.BPF_ALU64 | op.BPF_MOV | op.BPF_K, 4, 0, 0, 0),
    I(op.BPF_JMP | op.BPF_CALL, 0, 0, 0, BPF_FUNC_sk_select_reuseport),
    I(op.BPF_ALU64 | op.BPF_MOV | op.BPF_K, 0, 0, 0, action),
    I(op.BPF_JMP | op.BPF_EXIT, 0, 0, 0, 0),
  ]);
}
