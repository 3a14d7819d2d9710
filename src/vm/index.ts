/**
 * eBPF virtual machine (RFC 9669): a BigInt reference interpreter and a compiler to JavaScript,
 * sharing one bounds-checked region memory. See docs/vm.md.
 */
export * from './types.js';
export { VmError, HelperError, ProgramExit } from './errors.js';
export { Memory, Region, MAX_REGION_LEN, type MapOptions } from './memory.js';
export { loadProgram, runProgram, identityHelper, defaultHelpers, COMPILE_LIMIT } from './vm.js';
