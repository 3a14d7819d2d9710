/**
 * reuseport/ebpf: the RFC 9669 toolchain. Instruction codec (decode/encode/validate), helper
 * ids, the `program()` builder, the text assembler and disassembler, conformance groups, and
 * the typed errors they throw (all subclasses of EbpfError).
 */
export * as opcodes from './opcodes.js';
export * from './errors.js';
export * from './insn.js';
export * from './helpers.js';
export * from './asm.js';
export * from './assembler.js';
export * from './disassembler.js';
export * from './groups.js';
export type { MemSize, AtomicName, JumpName, AluBinaryName, PseudoKind } from './syntax.js';
export * from './classic.js';
