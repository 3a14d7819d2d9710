/** Object API over any Kernel (LinuxKernel or SimKernel): maps, sockarrays, programs, attach, stats. */
export { BpfMap, type MapSpec, type MapCodecs } from './map.js';
export { MmapArray } from './mmap_array.js';
export { ReuseportSockArray, type SockArraySpec } from './sockarray.js';
export { BpfProgram, VerifierError, type ProgramSpec } from './program.js';
export { attachReuseportProgram, detachReuseportProgram } from './attach.js';
export { enableStats, withStats, programStats, type ProgramStats } from './stats.js';
export { u32, i32, u64, bytes, type Codec } from './codec.js';
export { fdOf, type SocketLike } from '../kernel/socket_fd.js';
export { selectSlotProgram } from './select_program.js';
export { probeFeatures, type Feature, type ReuseportFeatures } from './features.js';
