export { LinuxKernel, type LinuxKernelOptions } from './linux_kernel.js';
export type { ProbeResult } from './probe.js';
export { inPrivateNetns, unshareNetns } from './netns.js';
export { createReuseportServer, createReuseportDgram, createReuseportSocket, fdOf, assertReuseport, defaultKernel, acceptPending } from './node.js';
export type { ReuseportServerOptions, ReuseportDgramOptions } from './node.js';
export { borrowFd, closeFd } from './pidfd.js';
