/**
 * The tool the kernel lacks (BPF_PROG_TEST_RUN gives ENOTSUPP for SK_REUSEPORT): run a program
 * against a real group with a synthetic packet and see the verdict, the selected socket, the
 * hash fallback and every helper call. Also the fast `select()` path the emulated backend uses.
 */
import {
  AF_INET, AF_INET6, BPF_PROG_TYPE_SK_REUSEPORT, BPF_PROG_TYPE_SOCKET_FILTER, IPPROTO_TCP, IPPROTO_UDP, SK_PASS, fail,
} from '../kernel/index.js';
import { INADDR_LOOPBACK, IN6ADDR_LOOPBACK, parseAddr, type InAddr } from './addr.js';
import type { BpfProg } from './bpf_prog.js';
import { genCookie } from './cookie.js';
import type { HelperTrace } from './filter.js';
import { TCP_SYN, type Packet } from './packet.js';
import type { SimKernel } from './sim_kernel.js';
import { Sock, TCP_LISTEN } from './socket.js';

export interface TestRunPacket {
  /** 'tcp' (a SYN with Linux's default options) or 'udp'; default: the group's protocol. */
  protocol?: 'tcp' | 'udp' | 6 | 17;
  /** Wire family; default: IPv6 for an AF_INET6 group bound to an IPv6 address, else IPv4. */
  family?: 'ipv4' | 'ipv6' | 2 | 10;
  saddr?: string;
  sport?: number;
  daddr?: string;
  dport?: number;
  payload?: Uint8Array;
  /** The 4-tuple hash sk_reuseport_md.hash carries; default: the kernel's ehash of the tuple. */
  hash?: number;
  /** CPU the packet is processed on. */
  cpu?: number;
}

export interface TestRunOptions {
  /** Any socket fd of the target reuseport group (`group` is an alias). */
  fd?: number;
  group?: number;
  packet?: TestRunPacket;
  /** fd of a child socket being migrated (SELECT_OR_MIGRATE programs see it as migrating_sk). */
  migratingSk?: number;
  /** Record helper calls (default true). */
  trace?: boolean;
}

export interface SelectedSocket {
  /** An fd of this process for the socket (null when none is open, e.g. a migrated child's listener closed). */
  fd: number | null;
  /** Position in the group's socks[] (what a classic-BPF index or the hash picks). */
  index: number;
  cookie: bigint;
}

export interface TestRunResult {
  /** The program's return value (u32): SK_PASS (1) / SK_DROP (0) / other, or the socks[] index for SOCKET_FILTER. */
  verdict: number;
  /** Where the kernel delivers: the program's selection, or the hash pick on fallback; null on drop. */
  selected: SelectedSocket | null;
  /** True when the kernel fell back to reuseport_select_sock_by_hash. */
  fallback: boolean;
  helperCalls: HelperTrace[];
  insnCount: number;
}

function resolvePacket(sim: SimKernel, group: Sock, p: TestRunPacket): Packet {
  const sc = 'testRun';
  const proto = p.protocol === undefined ? group.protocol : p.protocol === 'tcp' || p.protocol === 6 ? IPPROTO_TCP : p.protocol === 'udp' || p.protocol === 17 ? IPPROTO_UDP : fail(sc, 'EINVAL', `protocol ${String(p.protocol)}`);
  let v6: boolean;
  if (p.family === undefined) v6 = group.family === AF_INET6 && !(group.rcvSaddr?.v4 ?? false);
  else if (p.family === 'ipv6' || p.family === AF_INET6) v6 = true;
  else if (p.family === 'ipv4' || p.family === AF_INET) v6 = false;
  else return fail(sc, 'EINVAL', `family ${String(p.family)}`);
  const addr = (s: string | undefined, dflt: InAddr): InAddr => {
    if (s === undefined) return dflt;
    const a = parseAddr(sc, AF_INET6, s.includes(':') ? s : `::ffff:${s}`);
    if (a.v4 === v6) fail(sc, 'EINVAL', `${s} is not an ${v6 ? 'IPv6' : 'IPv4'} address`);
    return a;
  };
  const lo = v6 ? IN6ADDR_LOOPBACK : INADDR_LOOPBACK;
  const bound = group.rcvSaddr && !group.rcvSaddr.any && group.rcvSaddr.v4 !== v6 ? group.rcvSaddr : lo;
  const saddr = addr(p.saddr, lo);
  const daddr = addr(p.daddr, bound);
  const sport = p.sport ?? 40000;
  const dport = p.dport ?? group.num;
  for (const [n, v] of [['sport', sport], ['dport', dport]] as const) if (!Number.isInteger(v) || v < 0 || v > 65535) fail(sc, 'EINVAL', `${n} ${v}`);
  const payload = p.payload ?? new Uint8Array(0);
  if (!(payload instanceof Uint8Array)) fail(sc, 'EINVAL', 'payload must be a Uint8Array');
  const hash = p.hash ?? sim.net.ehash(v6, daddr, dport, saddr, sport, proto);
  const cpu = p.cpu ?? sim.net.defaultCpu;
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= sim.cpus) fail(sc, 'EINVAL', `cpu ${cpu} is not 0..${sim.cpus - 1}`);
  return {
    v6, protocol: proto, saddr, sport, daddr, dport, payload, hash: hash >>> 0, cpu,
    tcpFlags: proto === IPPROTO_TCP ? TCP_SYN : 0, seq: 1, synOptions: proto === IPPROTO_TCP, tsval: 1,
  };
}

export function testRun(sim: SimKernel, progFd: number, opts: TestRunOptions): TestRunResult {
  const sc = 'testRun';
  const prog: BpfProg = sim.progOf(progFd, sc);
  if (prog.type !== BPF_PROG_TYPE_SK_REUSEPORT && prog.type !== BPF_PROG_TYPE_SOCKET_FILTER) fail(sc, 'EINVAL', `program type ${prog.type} does not select sockets (SK_REUSEPORT or SOCKET_FILTER)`);
  const gfd = opts.fd ?? opts.group;
  if (gfd === undefined) fail(sc, 'EINVAL', 'testRun needs `fd` (a socket of the reuseport group)');
  const sk = sim.sock(gfd, sc);
  const reuse = sk.reuseCb;
  if (!reuse) fail(sc, 'EINVAL', `fd ${gfd} is not in a reuseport group (set SO_REUSEPORT, then bind/listen)`);
  const pkt = resolvePacket(sim, sk, opts.packet ?? {});
  let migrating: Sock | null = null;
  if (opts.migratingSk !== undefined) {
    if (prog.type !== BPF_PROG_TYPE_SK_REUSEPORT) fail(sc, 'EINVAL', 'migratingSk needs an SK_REUSEPORT program');
    migrating = sim.sock(opts.migratingSk, sc);
  }
  const rt = sim.runtime;
  const trace: HelperTrace[] = [];
  rt.trace = opts.trace === false ? null : trace;
  let verdict: number, insnCount: number, chosen: Sock | null = null, fallback = false;
  try {
    if (prog.type === BPF_PROG_TYPE_SK_REUSEPORT) {
      const r = rt.runSkReuseport(prog, reuse, sk, migrating ? null : pkt, migrating, migrating ? migrating.skHash : pkt.hash);
      verdict = r.verdict;
      insnCount = r.insnCount;
      if (verdict === SK_PASS) {
        chosen = r.selected;
        if (!chosen) {
          fallback = true;
          chosen = reuse.selectByHash(migrating ? migrating.skHash : pkt.hash, pkt.cpu);
        }
      }
    } else {
      const r = rt.runSocketFilter(prog, reuse, sk, pkt);
      verdict = r.verdict;
      insnCount = r.insnCount;
      chosen = verdict < reuse.socks.length ? reuse.socks[verdict]! : null;
      if (!chosen) {
        fallback = true;
        chosen = reuse.selectByHash(pkt.hash, pkt.cpu);
      }
    }
  } finally {
    rt.trace = null;
  }
  return { verdict, selected: chosen ? describe(sim, chosen) : null, fallback, helperCalls: trace, insnCount };
}

export function describe(sim: SimKernel, s: Sock): SelectedSocket {
  return { fd: sim.fdOfSocket(s), index: s.reuseIdx, cookie: genCookie(s) };
}

/** A packet template for SimKernel.select(): build once, change sport/payload/hash/cpu per call. */
export function makePacket(sim: SimKernel, groupFd: number, p: TestRunPacket = {}): Packet {
  const sk = sim.sock(groupFd, 'makePacket');
  return resolvePacket(sim, sk, p);
}

/**
 * What the kernel does with `pkt` arriving at the group of `groupFd`: the group's attached program
 * (or the hash) picks a socket. Returns the socket's index in socks[], or -1 when dropped.
 * No allocation besides the program run: the emulated backend's hot path.
 */
export function selectIndex(sim: SimKernel, groupFd: number, pkt: Packet): number {
  const sk = sim.sock(groupFd, 'select');
  const reuse = sk.reuseCb;
  if (!reuse) return -1;
  if (!sk.hashed && sk.state !== TCP_LISTEN && !sk.isUdp) return -1;
  const r = sim.runtime.select(reuse, sk, pkt);
  if (r === null) return sk.reuseIdx;
  if (typeof r === 'symbol') return -1;
  return r.reuseIdx;
}
