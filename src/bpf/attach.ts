/**
 * Group-scoped attachment (aya's SkReuseport::attach/detach): one program per reuseport
 * group, set or replaced through any member socket with SO_ATTACH_REUSEPORT_EBPF, removed with
 * SO_DETACH_REUSEPORT_BPF (ENOENT when the group has none). There is no link object.
 */
import { SO_ATTACH_REUSEPORT_EBPF, SO_DETACH_REUSEPORT_BPF, SOL_SOCKET } from '../kernel/constants.js';
import type { Kernel } from '../kernel/kernel.js';
import { BpfProgram } from './program.js';
import { fdOf, type SocketLike } from '../kernel/socket_fd.js';

export function attachReuseportProgram(kernel: Kernel, socket: SocketLike, prog: BpfProgram | number): void {
  const progFd = prog instanceof BpfProgram ? prog.fd : prog;
  if (typeof progFd !== 'number' || !Number.isInteger(progFd)) throw new TypeError('prog must be a BpfProgram or a program fd');
  kernel.setsockopt(fdOf(socket), SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, progFd);
}

export function detachReuseportProgram(kernel: Kernel, socket: SocketLike): void {
  kernel.setsockopt(fdOf(socket), SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0);
}
