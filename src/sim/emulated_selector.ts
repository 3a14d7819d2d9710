/**
 * A ready-made group inside a SimKernel for the product's emulated backend: N sockets sharing one
 * loopback port, a program attached through any of them, and a fast `select()` answering "which
 * worker would the kernel pick for this packet" (-1: dropped). Maps and programs are created on
 * `sim` with the ordinary Kernel calls (or the bpf object API), so what the policy sees is the
 * same as on Linux.
 */
import {
  AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, SO_ATTACH_REUSEPORT_EBPF,
  SO_DETACH_REUSEPORT_BPF, SO_REUSEPORT,
} from '../kernel/index.js';
import type { Packet } from './packet.js';
import { SimKernel, type SimKernelOptions } from './sim_kernel.js';
import type { TestRunPacket } from './test_run.js';

export interface EmulatedSelectorOptions extends SimKernelOptions {
  /** Use this kernel instead of a new one. */
  sim?: SimKernel;
  /** Number of sockets (workers) in the group. */
  workers: number;
  protocol?: 'tcp' | 'udp';
  family?: 4 | 6;
  /** Port to bind (0: ephemeral). */
  port?: number;
}

export interface EmulatedSelector {
  readonly sim: SimKernel;
  /** Socket fds, index = worker = position in the group's socks[] (join order). */
  readonly fds: readonly number[];
  readonly port: number;
  /** SO_ATTACH_REUSEPORT_EBPF through worker 0's socket (replaces the group's program). */
  attach(progFd: number): void;
  /** SO_ATTACH_REUSEPORT_CBPF with sock_filter bytes. */
  attachClassic(filter: Uint8Array): void;
  detach(): void;
  /** A reusable packet; mutate sport/payload/hash/cpu between select() calls. */
  packet(p?: TestRunPacket): Packet;
  /** The worker the kernel picks for `pkt`, or -1 when the program drops it. */
  select(pkt: Packet): number;
  /** Close every socket of the group. */
  close(): void;
}

export function createEmulatedSelector(opts: EmulatedSelectorOptions): EmulatedSelector {
  if (!opts || !Number.isInteger(opts.workers) || opts.workers < 1 || opts.workers > 32768) {
    throw new RangeError(`createEmulatedSelector: workers must be 1..32768, not ${String(opts?.workers)}`);
  }
  const sim = opts.sim ?? new SimKernel(opts);
  const v6 = opts.family === 6;
  const type = opts.protocol === 'tcp' ? SOCK_STREAM : SOCK_DGRAM;
  const addr = v6 ? '::1' : '127.0.0.1';
  const fds: number[] = [];
  let port = opts.port ?? 0;
  for (let i = 0; i < opts.workers; i++) {
    const fd = sim.socket(v6 ? AF_INET6 : AF_INET, type);
    sim.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    sim.bind(fd, addr, port);
    if (type === SOCK_STREAM) sim.listen(fd, 4096);
    if (port === 0) port = sim.getsockname(fd).port;
    fds.push(fd);
  }
  const first = fds[0]!;
  return {
    sim, fds, port,
    attach: (progFd) => sim.setsockopt(first, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, progFd),
    attachClassic: (filter) => sim.setsockopt(first, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, filter),
    detach: () => sim.setsockopt(first, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0),
    packet: (p = {}) => sim.makePacket(first, p),
    select: (pkt) => sim.select(first, pkt),
    close: () => { for (const fd of fds) sim.close(fd); },
  };
}
