/**
 * reuseport/sim: a simulated Linux 6.18 kernel for SO_REUSEPORT selection with eBPF.
 * See docs/sim.md.
 */
export { SimKernel, ROOT_CAPABILITIES, type SimKernelOptions } from './sim_kernel.js';
export type { TestRunOptions, TestRunPacket, TestRunResult, SelectedSocket } from './test_run.js';
export type { HelperTrace } from './filter.js';
export type { Packet } from './packet.js';
export type { NetStats, NetSysctls } from './af_inet.js';
export { checkClassic, encodeClassic, ClassicProg, SKF_AD_OFF, SKF_AD_CPU, type SockFilter } from './cbpf.js';
export { VerifierError } from './verifier.js';
export { createEmulatedSelector, type EmulatedSelector, type EmulatedSelectorOptions } from './emulated_selector.js';
