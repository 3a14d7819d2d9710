/** RFC 9669 opcode fields. An opcode byte is class | (op or size|mode) | source. */

// instruction classes (low 3 bits)
export const BPF_LD = 0x00, BPF_LDX = 0x01, BPF_ST = 0x02, BPF_STX = 0x03;
export const BPF_ALU = 0x04, BPF_JMP = 0x05, BPF_JMP32 = 0x06, BPF_ALU64 = 0x07;

// source (bit 3) for ALU/JMP
export const BPF_K = 0x00, BPF_X = 0x08;

// ALU operations (high 4 bits)
export const BPF_ADD = 0x00, BPF_SUB = 0x10, BPF_MUL = 0x20, BPF_DIV = 0x30, BPF_OR = 0x40;
export const BPF_AND = 0x50, BPF_LSH = 0x60, BPF_RSH = 0x70, BPF_NEG = 0x80, BPF_MOD = 0x90;
export const BPF_XOR = 0xa0, BPF_MOV = 0xb0, BPF_ARSH = 0xc0, BPF_END = 0xd0;
/** BPF_END source bit: BPF_TO_LE (0) / BPF_TO_BE (8); in ALU64 class it is the unconditional bswap. */
export const BPF_TO_LE = 0x00, BPF_TO_BE = 0x08;

// JMP operations (high 4 bits)
export const BPF_JA = 0x00, BPF_JEQ = 0x10, BPF_JGT = 0x20, BPF_JGE = 0x30, BPF_JSET = 0x40;
export const BPF_JNE = 0x50, BPF_JSGT = 0x60, BPF_JSGE = 0x70, BPF_CALL = 0x80, BPF_EXIT = 0x90;
export const BPF_JLT = 0xa0, BPF_JLE = 0xb0, BPF_JSLT = 0xc0, BPF_JSLE = 0xd0;

// load/store size (bits 3-4) and mode (bits 5-7)
export const BPF_W = 0x00, BPF_H = 0x08, BPF_B = 0x10, BPF_DW = 0x18;
export const BPF_IMM = 0x00, BPF_ABS = 0x20, BPF_IND = 0x40, BPF_MEM = 0x60, BPF_MEMSX = 0x80;
export const BPF_ATOMIC = 0xc0;

// atomic operations (imm field)
export const BPF_FETCH = 0x01;
export const BPF_XCHG = 0xe0 | BPF_FETCH, BPF_CMPXCHG = 0xf0 | BPF_FETCH;

// ld_imm64 src_reg kinds (RFC 9669 §4.4)
export const BPF_PSEUDO_MAP_FD = 1, BPF_PSEUDO_MAP_VALUE = 2, BPF_PSEUDO_BTF_ID = 3;
export const BPF_PSEUDO_FUNC = 4, BPF_PSEUDO_MAP_IDX = 5, BPF_PSEUDO_MAP_IDX_VALUE = 6;

// call src_reg kinds
export const BPF_PSEUDO_CALL = 1, BPF_PSEUDO_KFUNC_CALL = 2;

export const cls = (opcode: number): number => opcode & 0x07;
export const aluOp = (opcode: number): number => opcode & 0xf0;
export const srcBit = (opcode: number): number => opcode & 0x08;
export const ldSize = (opcode: number): number => opcode & 0x18;
export const ldMode = (opcode: number): number => opcode & 0xe0;

export const INSN_SIZE = 8;
/** r0-r10; r10 is the read-only frame pointer. */
export const MAX_REG = 10;
