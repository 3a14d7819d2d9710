/**
 * Mnemonic tables shared by the builder, the text assembler and the disassembler, in the
 * ubpf / bpf_conformance spelling (`add`, `add32`, `jeq32`, `ldxdw`, `lock fetch add` ...).
 */
import * as op from './opcodes.js';

/** Two-operand ALU operations (dst op= src|imm); `32` suffix selects the ALU class. */
export const ALU_BINARY = {
  add: op.BPF_ADD, sub: op.BPF_SUB, mul: op.BPF_MUL, div: op.BPF_DIV, or: op.BPF_OR,
  and: op.BPF_AND, lsh: op.BPF_LSH, rsh: op.BPF_RSH, mod: op.BPF_MOD, xor: op.BPF_XOR,
  mov: op.BPF_MOV, arsh: op.BPF_ARSH,
} as const;
export type AluBinaryName = keyof typeof ALU_BINARY;

/** Signed division/modulo: same operation code with offset 1 (RFC 9669 §4.1). */
export const ALU_SIGNED = { sdiv: op.BPF_DIV, smod: op.BPF_MOD } as const;
export type AluSignedName = keyof typeof ALU_SIGNED;

/** Conditional jumps; `32` suffix selects the JMP32 class. */
export const JUMPS = {
  jeq: op.BPF_JEQ, jgt: op.BPF_JGT, jge: op.BPF_JGE, jset: op.BPF_JSET, jne: op.BPF_JNE,
  jsgt: op.BPF_JSGT, jsge: op.BPF_JSGE, jlt: op.BPF_JLT, jle: op.BPF_JLE, jslt: op.BPF_JSLT,
  jsle: op.BPF_JSLE,
} as const;
export type JumpName = keyof typeof JUMPS;

export type MemSize = 'b' | 'h' | 'w' | 'dw';
export const SIZES: Readonly<Record<MemSize, number>> = { b: op.BPF_B, h: op.BPF_H, w: op.BPF_W, dw: op.BPF_DW };
export const SIZE_BYTES: Readonly<Record<MemSize, number>> = { b: 1, h: 2, w: 4, dw: 8 };
export const sizeName = (size: number): MemSize =>
  size === op.BPF_B ? 'b' : size === op.BPF_H ? 'h' : size === op.BPF_W ? 'w' : 'dw';

/** Atomic read-modify-write operations (the imm field of BPF_STX|BPF_ATOMIC). */
export const ATOMICS = {
  add: op.BPF_ADD, or: op.BPF_OR, and: op.BPF_AND, xor: op.BPF_XOR,
  xchg: op.BPF_XCHG, cmpxchg: op.BPF_CMPXCHG,
} as const;
export type AtomicName = keyof typeof ATOMICS;

/** ld_imm64 source kinds (RFC 9669 §4.4) as written in assembly: `lddw %r1, map_fd 3`. */
export const PSEUDO_KINDS = ['imm', 'map_fd', 'map_value', 'btf_id', 'func', 'map_idx', 'map_idx_value'] as const;
export type PseudoKind = (typeof PSEUDO_KINDS)[number];

export const INT32_MIN = -0x80000000;
export const INT32_MAX = 0x7fffffff;
export const UINT32_MAX = 0xffffffff;
export const INT16_MIN = -0x8000;
export const INT16_MAX = 0x7fff;
