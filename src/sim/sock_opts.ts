/**
 * Socket options (net/core/sock.c sk_setsockopt, net/ipv6/ipv6_sockglue.c, net/ipv4/tcp.c) and
 * the reuseport program attach/detach they lead to (net/core/filter.c sk_reuseport_attach_bpf,
 * net/core/sock_reuseport.c reuseport_attach_prog / reuseport_detach_prog).
 */
import {
  AF_INET, AF_INET6, BPF_PROG_TYPE_SK_REUSEPORT, BPF_PROG_TYPE_SOCKET_FILTER, IPV6_V6ONLY, SOL_IPV6, SOL_SOCKET, SOL_TCP,
  SO_ACCEPTCONN, SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_CBPF, SO_ATTACH_REUSEPORT_EBPF, SO_COOKIE, SO_DETACH_REUSEPORT_BPF,
  SO_DOMAIN, SO_ERROR, SO_INCOMING_CPU, SO_LOCK_FILTER, SO_MEMINFO, SO_PROTOCOL, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT,
  SO_TYPE, TCP_FASTOPEN, TCP_FASTOPEN_CONNECT, fail,
} from '../kernel/index.js';
import type { BpfProg } from './bpf_prog.js';
import { checkClassic } from './cbpf.js';
import { genCookie } from './cookie.js';
import { ReuseportGroup } from './reuseport_group.js';
import { RMEM_MAX, SOCK_MIN_RCVBUF, Sock, TCP_LISTEN } from './socket.js';
import type { File } from './sim_kernel.js';

/** What the option code needs from the kernel around it. */
export interface SockOptHost {
  /** The open file at fd (for SO_ATTACH_REUSEPORT_EBPF's program fd). */
  file(fd: number): File | undefined;
  optmemMax(): number;
  /** Drop a program reference (the group's old program). */
  progPut(p: BpfProg): void;
}

export function intBytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v | 0, true);
  return b;
}

const isInetFamily = (sk: Sock): boolean => sk.family === AF_INET || sk.family === AF_INET6;

/** sk_setsockopt() / do_ip_setsockopt() / do_ipv6_setsockopt() / do_tcp_setsockopt(), as far as modelled. */
export function sockSetsockopt(host: SockOptHost, sk: Sock, level: number, optname: number, value: number | Uint8Array): void {
  const sc = 'setsockopt';
  const bytes = typeof value === 'number' ? intBytes(value) : value;
  if (!(bytes instanceof Uint8Array)) fail(sc, 'EFAULT', 'value must be a number or a Uint8Array');
  const int = (): number => {
    if (bytes.length < 4) fail(sc, 'EINVAL', `option ${optname} needs an int (4 bytes), got ${bytes.length}`);
    return new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true);
  };
  if (level === SOL_SOCKET) {
    switch (optname) {
      case SO_REUSEADDR: sk.reuse = int() !== 0; return;
      case SO_REUSEPORT: {
        const v = int() !== 0;
        if (v && !isInetFamily(sk)) fail(sc, 'EOPNOTSUPP', 'SO_REUSEPORT on a non-inet socket');
        sk.reuseport = v;
        return;
      }
      case SO_RCVBUF: {
        const v = Math.min(Math.max(int(), 0), RMEM_MAX);
        sk.rcvbuf = Math.max(v * 2, SOCK_MIN_RCVBUF);
        return;
      }
      case SO_INCOMING_CPU: {
        const v = int();
        const g = sk.reuseCb;
        if (g && g.socks.includes(sk)) {
          if (sk.incomingCpu < 0 && v >= 0) g.incomingCpu++;
          else if (sk.incomingCpu >= 0 && v < 0) g.incomingCpu--;
        }
        sk.incomingCpu = v;
        return;
      }
      case SO_LOCK_FILTER: sk.filterLocked = int() !== 0; return;
      case SO_ATTACH_REUSEPORT_EBPF: return attachReuseportEbpf(host, sk, bytes);
      case SO_ATTACH_REUSEPORT_CBPF: return attachReuseportCbpf(host, sk, bytes);
      case SO_DETACH_REUSEPORT_BPF: int(); return detachReuseportBpf(host, sk);
      case SO_ATTACH_BPF: fail(sc, 'ENOPROTOOPT', 'SO_ATTACH_BPF (socket filters) is not simulated');
    }
    if ([SO_TYPE, SO_PROTOCOL, SO_DOMAIN, SO_ERROR, SO_ACCEPTCONN, SO_COOKIE, SO_MEMINFO].includes(optname)) fail(sc, 'ENOPROTOOPT', `option ${optname} is read-only`);
    return fail(sc, 'ENOPROTOOPT', `SOL_SOCKET option ${optname} is not simulated`);
  }
  if (!isInetFamily(sk)) fail(sc, 'EOPNOTSUPP', `level ${level} on a non-inet socket`);
  if (level === SOL_IPV6) {
    if (sk.family !== AF_INET6) fail(sc, 'ENOPROTOOPT', 'SOL_IPV6 option on an AF_INET socket');
    if (optname === IPV6_V6ONLY) {
      const v = int();
      if (sk.bound) fail(sc, 'EINVAL', 'IPV6_V6ONLY after bind');
      sk.ipv6only = v !== 0;
      return;
    }
    return fail(sc, 'ENOPROTOOPT', `SOL_IPV6 option ${optname} is not simulated`);
  }
  if (level === SOL_TCP) {
    if (!sk.isTcp) fail(sc, 'ENOPROTOOPT', 'SOL_TCP option on a non-TCP socket');
    if (optname === TCP_FASTOPEN) { sk.fastopenQlen = Math.max(0, int()); return; }
    if (optname === TCP_FASTOPEN_CONNECT) { sk.fastopenConnect = int() !== 0; return; }
    if (optname === 1 /* TCP_NODELAY */) { int(); return; }
    return fail(sc, 'ENOPROTOOPT', `SOL_TCP option ${optname} is not simulated`);
  }
  return fail(sc, 'ENOPROTOOPT', `level ${level} is not simulated`);
}

/** sk_getsockopt() and friends. */
export function sockGetsockopt(sk: Sock, level: number, optname: number, length?: number): Uint8Array {
  const sc = 'getsockopt';
  let out: Uint8Array;
  if (level === SOL_SOCKET) {
    switch (optname) {
      case SO_REUSEADDR: out = intBytes(sk.reuse ? 1 : 0); break;
      case SO_REUSEPORT: out = intBytes(sk.reuseport ? 1 : 0); break;
      case SO_TYPE: out = intBytes(sk.type); break;
      case SO_PROTOCOL: out = intBytes(sk.protocol); break;
      case SO_DOMAIN: out = intBytes(sk.family); break;
      case SO_ACCEPTCONN: out = intBytes(sk.state === TCP_LISTEN ? 1 : 0); break;
      case SO_RCVBUF: out = intBytes(sk.rcvbuf); break;
      case SO_INCOMING_CPU: out = intBytes(sk.incomingCpu); break;
      case SO_ERROR: out = intBytes(sk.softError); sk.softError = 0; break;
      case SO_LOCK_FILTER: out = intBytes(sk.filterLocked ? 1 : 0); break;
      case SO_COOKIE: {
        out = new Uint8Array(8);
        new DataView(out.buffer).setBigUint64(0, genCookie(sk), true);
        if (length !== undefined && length < 8) fail(sc, 'EINVAL', 'SO_COOKIE needs 8 bytes');
        break;
      }
      default: return fail(sc, 'ENOPROTOOPT', `SOL_SOCKET option ${optname} is not simulated`);
    }
  } else if (level === SOL_IPV6 && optname === IPV6_V6ONLY) {
    if (sk.family !== AF_INET6) fail(sc, 'ENOPROTOOPT', 'SOL_IPV6 option on an AF_INET socket');
    out = intBytes(sk.ipv6only ? 1 : 0);
  } else if (level === SOL_TCP && optname === TCP_FASTOPEN && sk.isTcp) {
    out = intBytes(sk.fastopenQlen);
  } else {
    return fail(sc, 'ENOPROTOOPT', `option ${level}/${optname} is not simulated`);
  }
  if (length !== undefined) {
    if (length < 0) fail(sc, 'EINVAL', 'negative optlen');
    return out.slice(0, Math.min(length, out.length));
  }
  return out;
}

/** sk_reuseport_attach_bpf(). */
function attachReuseportEbpf(host: SockOptHost, sk: Sock, bytes: Uint8Array): void {
  const sc = 'setsockopt(SO_ATTACH_REUSEPORT_EBPF)';
  if (bytes.length !== 4) fail(sc, 'EINVAL', `optlen ${bytes.length} (must be 4)`);
  if (sk.filterLocked) fail(sc, 'EPERM', 'SO_LOCK_FILTER is set');
  const fd = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const f = host.file(fd);
  if (!f) fail(sc, 'EBADF', `fd ${fd} is not open`);
  if (f.kind !== 'prog' || (f.prog.type !== BPF_PROG_TYPE_SOCKET_FILTER && f.prog.type !== BPF_PROG_TYPE_SK_REUSEPORT)) {
    fail(sc, 'EINVAL', `fd ${fd} is not a SOCKET_FILTER or SK_REUSEPORT program`);
  }
  const prog = f.prog;
  if (prog.type === BPF_PROG_TYPE_SK_REUSEPORT) {
    if (!sk.isInet) fail(sc, 'ENOTSUPP', 'SK_REUSEPORT programs attach to TCP/UDP inet sockets only');
  } else if (prog.size > host.optmemMax()) {
    fail(sc, 'ENOMEM', `program size ${prog.size} > net.core.optmem_max`);
  }
  reuseportAttachProg(host, sc, sk, { kind: 'ebpf', prog });
  prog.refs++;
}

function attachReuseportCbpf(host: SockOptHost, sk: Sock, bytes: Uint8Array): void {
  const sc = 'setsockopt(SO_ATTACH_REUSEPORT_CBPF)';
  const prog = checkClassic(sc, bytes);
  if (sk.filterLocked) fail(sc, 'EPERM', 'SO_LOCK_FILTER is set');
  if (40 + prog.size > host.optmemMax()) fail(sc, 'ENOMEM', 'program larger than net.core.optmem_max');
  reuseportAttachProg(host, sc, sk, { kind: 'cbpf', prog });
}

/** reuseport_attach_prog(): one program per group; an unhashed socket gets its own group now. */
function reuseportAttachProg(host: SockOptHost, sc: string, sk: Sock, p: ReuseportGroup['prog']): void {
  if (!sk.hashed) {
    if (!sk.reuseport) fail(sc, 'EINVAL', 'SO_REUSEPORT is not set');
    if (!sk.reuseCb) {
      new ReuseportGroup(false).add(sk);
    } else if (sk.reuseCb.closed.includes(sk)) {
      // a shut-down listener gets a new group: attaching must not change the listeners' program
      const old = sk.reuseCb;
      old.detachClosed(sk);
      new ReuseportGroup(false).add(sk);
      old.maybeFree();
    }
  } else if (!sk.reuseCb) {
    fail(sc, 'EINVAL', 'socket was bound without SO_REUSEPORT');
  }
  const g = sk.reuseCb!;
  releaseGroupProg(host, g);
  g.prog = p;
}

function releaseGroupProg(host: SockOptHost, g: ReuseportGroup): void {
  if (g.prog?.kind === 'ebpf') host.progPut(g.prog.prog);
  g.prog = null;
}

/** reuseport_detach_prog(). */
function detachReuseportBpf(host: SockOptHost, sk: Sock): void {
  const sc = 'setsockopt(SO_DETACH_REUSEPORT_BPF)';
  const g = sk.reuseCb;
  if (!g) fail(sc, sk.reuseport ? 'ENOENT' : 'EINVAL', sk.reuseport ? 'socket is not in a reuseport group' : 'SO_REUSEPORT is not set');
  if (!sk.hashed && g.closed.length > 0) fail(sc, 'ENOENT', 'socket was shut down');
  if (!g.prog) fail(sc, 'ENOENT', 'the group has no program');
  releaseGroupProg(host, g);
}
