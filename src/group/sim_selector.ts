/**
 * The emulated backend's decision maker: a SimKernel holding one SO_REUSEPORT socket per worker
 * slot (bound to the wildcard of the group's family, so any real local address matches) and,
 * through the group's Steering, the same maps and program the kernel backend attaches. For each
 * real connection or datagram it builds the packet Linux would see (a SYN with Linux's default
 * options, or the UDP header) from the real 4-tuple, with the simulator's 4-tuple hash, and runs
 * the simulator's listener lookup + reuseport selection: the selected socket names the slot.
 */
import net from 'node:net';
import {
  AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SO_ATTACH_REUSEPORT_EBPF, SO_REUSEPORT, SOCK_DGRAM, SOCK_STREAM,
  SOL_SOCKET, IPV6_V6ONLY, SOL_IPV6, type Kernel,
} from '../kernel/index.js';
import { SimKernel } from '../sim/index.js';
import type { Packet } from '../sim/packet.js';
import type { Sock } from '../sim/socket.js';
import type { Proto } from './protocol.js';


/** reuseport_select_sock() of the simulator (one place that reaches past the Kernel interface). */
interface SimRuntime {
  select(reuse: unknown, sk: Sock, pkt: Packet): Sock | null | symbol;
}

export class SimSelector {
  readonly kernel: Kernel;
  private readonly sim: SimKernel;
  private readonly runtime: SimRuntime;
  private readonly proto: Proto;
  private readonly port: number;
  private readonly v6: boolean;
  private readonly slotFd = new Map<number, number>();
  private readonly sockSlot = new Map<Sock, number>();
  private progFd = -1;

  private constructor(proto: Proto, host: string, port: number) {
    this.sim = new SimKernel();
    this.kernel = this.sim;
    this.runtime = this.sim.runtime as unknown as SimRuntime;
    this.proto = proto;
    this.port = port;
    this.v6 = !net.isIPv4(host);
  }

  static async create(proto: Proto, host: string, port: number): Promise<SimSelector> {
    return new SimSelector(proto, host, port);
  }

  /** A simulated socket for a worker slot, in the simulated group. */
  addSlot(slot: number): number {
    this.removeSlot(slot);
    const k = this.sim;
    const fd = k.socket(this.v6 ? AF_INET6 : AF_INET, this.proto === 'tcp' ? SOCK_STREAM : SOCK_DGRAM, this.proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP);
    try {
      k.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
      if (this.v6) k.setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, 0);
      k.bind(fd, this.v6 ? '::' : '0.0.0.0', this.port);
      if (this.proto === 'tcp') k.listen(fd, 4096);
    } catch (err) {
      k.close(fd);
      throw err;
    }
    this.slotFd.set(slot, fd);
    this.sockSlot.set(k.socketOf(fd), slot);
    return fd;
  }

  removeSlot(slot: number): void {
    const fd = this.slotFd.get(slot);
    if (fd === undefined) return;
    this.slotFd.delete(slot);
    for (const [sk, s] of this.sockSlot) if (s === slot) this.sockSlot.delete(sk);
    this.sim.close(fd);
  }

  /** Attach (or re-attach) the group's program through any member, as the kernel backend does. */
  attach(progFd: number): void {
    this.progFd = progFd;
    const member = this.slotFd.values().next();
    if (!member.done) this.sim.setsockopt(member.value, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, progFd);
  }

  /** The slot the group's program (or the kernel's hash fallback) picks for this 4-tuple. */
  select(saddr: string, sport: number, daddr: string): number | undefined {
    const member = this.slotFd.values().next();
    if (member.done) return undefined;
    const plain = (a: string): string => a.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '').replace(/%.*$/, '');
    const src = plain(saddr);
    const dst = plain(daddr);
    const v4 = net.isIPv4(src);
    // The packet Linux would see: a SYN with its default options (or the UDP header), the
    // simulator's 4-tuple hash, the real addresses and ports.
    const pkt = this.sim.makePacket(member.value, {
      protocol: this.proto,
      family: v4 ? 'ipv4' : 'ipv6',
      saddr: src,
      sport,
      daddr: v4 === net.isIPv4(dst) ? dst : v4 ? '127.0.0.1' : '::1',
      dport: this.port,
    });
    const lookup = this.sim.socketOf(member.value);
    const chosen = this.runtime.select(lookup.reuseCb, lookup, pkt);
    if (chosen === null) return this.sockSlot.get(lookup);
    if (typeof chosen === 'symbol') return undefined;
    return this.sockSlot.get(chosen);
  }

  get attachedProgram(): number {
    return this.progFd;
  }

  close(): void {
    for (const slot of [...this.slotFd.keys()]) this.removeSlot(slot);
  }
}
