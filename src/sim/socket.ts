/**
 * struct sock, reduced to what reuseport selection, the bpf maps and the selftests can observe.
 * One Sock is one kernel socket; several fds may point at it (sock refcount = fd count).
 */
import { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM } from '../kernel/index.js';
import type { InAddr } from './addr.js';
import type { ReuseportGroup } from './reuseport_group.js';
import type { CookieGen } from './cookie.js';

/** TCP states (include/net/tcp_states.h), the same numbers BPF_TCP_* uses. */
export const TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2, TCP_SYN_RECV = 3, TCP_TIME_WAIT = 6, TCP_CLOSE = 7;
export const TCP_LISTEN = 10, TCP_NEW_SYN_RECV = 12;

/** One queued datagram or a chunk of stream data. */
export interface SkbEntry {
  data: Uint8Array;
  address: string;
  port: number;
  truesize: number;
}

/** What sk_user_data points at: a sockarray slot (SK_USER_DATA_BPF) tags the socket as taken. */
export interface SockUserData {
  kind: 'sockarray';
  map: { clearSlotOf(sk: Sock): void };
}

/** A request socket (NEW_SYN_RECV): a handshake whose final ACK has not been processed yet. */
export interface RequestSock {
  listener: Sock;
  /** The client socket waiting in SYN_SENT/ESTABLISHED for our side. */
  client: Sock;
  hash: number;
  synPayload: Uint8Array;
  /** Data the client sent while the handshake's final ACK was held back. */
  pending: Uint8Array[];
  cookie: bigint;
  state: number;
}

let nextSockId = 1;

export class Sock {
  readonly id = nextSockId++;
  readonly family: number;
  readonly type: number;
  readonly protocol: number;
  uid: number;
  /** SO_REUSEADDR (sk_reuse) and SO_REUSEPORT (sk_reuseport). */
  reuse = false;
  reuseport = false;
  ipv6only = false;
  /** Set once bind() (or an implicit autobind) assigned a local port. */
  bound = false;
  /** The port was given explicitly (SOCK_BINDPORT_LOCK): a re-listen keeps it. */
  bindPortLocked = false;
  /** bind() gave a specific address (SOCK_BINDADDR_LOCK): a disconnect keeps it. */
  bindAddrLocked = false;
  /** inet_rcv_saddr (v4-mapped for IPv4). */
  rcvSaddr: InAddr | null = null;
  num = 0;
  daddr: InAddr | null = null;
  dport = 0;
  state = TCP_CLOSE;
  /** In the lookup tables (TCP listener lhash / UDP hash): sk_hashed(). */
  hashed = false;
  /** SOCK_RCU_FREE: set when TCP listens / UDP binds. */
  rcuFree = false;
  /** sk_reuseport_cb. */
  reuseCb: ReuseportGroup | null = null;
  /** Position in reuseCb.socks (kept by ReuseportGroup; -1 when not a listening member). */
  reuseIdx = -1;
  userData: SockUserData | null = null;
  /** Number of sockmap/sockhash entries holding this socket (a psock). */
  psockRefs = 0;
  /** Lazily generated SO_COOKIE (0n: not generated yet). */
  cookie = 0n;
  /** SO_INCOMING_CPU (-1: unset). */
  incomingCpu = -1;
  filterLocked = false;
  /** SO_RCVBUF as stored in sk_rcvbuf (already doubled). */
  rcvbuf = 212992;
  rmemAlloc = 0;
  rcvQueue: SkbEntry[] = [];
  rcvHead = 0;
  /** Pending error reported by the next recv/SO_ERROR (e.g. ECONNREFUSED from ICMP). */
  softError = 0;
  shutdownRd = false;
  shutdownWr = false;
  /** A FIN arrived (tcp_fin: SOCK_DONE + RCV_SHUTDOWN): reads give EOF, before any pending error. */
  peerClosed = false;
  /** struct socket state SS_CONNECTED (TCP): set when connect()/accept() completes, cleared only by a disconnect. */
  connected = false;
  /** TCP: the connected peer socket. */
  peer: Sock | null = null;
  /** TCP client whose handshake's final ACK is held back (the server side is still a request). */
  pendingReq: RequestSock | null = null;
  /** TCP listener state. */
  backlog = 0;
  acceptQueue: Sock[] = [];
  requests: RequestSock[] = [];
  /**
   * sk_data_ready() ran on this listener since a pollEdge() last looked at it: a sleeping epoll
   * waiter was woken. True at creation: EPOLL_CTL_ADD checks readiness once (ep_insert).
   */
  wakeupPending = true;
  /** TCP_FASTOPEN queue length on a listener (0: off). */
  fastopenQlen = 0;
  fastopenConnect = false;
  /** TCP_FASTOPEN_CONNECT: connect() returned at once; the first write sends SYN+data here. */
  deferredConnect: { address: string; port: number } | null = null;
  /** inet_sport: what getsockname() reports even after inet_put_port() released the port. */
  sport = 0;
  /** tcp_done() ran (RST received, or the connection closed): TCP_CLOSE with SHUTDOWN_MASK. */
  done = false;
  /**
   * icsk_af_ops == &ipv6_mapped: an AF_INET6 TCP socket that sent a SYN to a v4-mapped address.
   * tcp_v6_connect() switches to the IPv4 ops for that and switches back only when
   * tcp_v4_connect() fails before the SYN; nothing else (tcp_disconnect included) resets it.
   */
  afOpsMapped = false;
  /** The listener a child was created by (rsk_listener / for state reporting). */
  parent: Sock | null = null;
  /** The 4-tuple hash the connection was created with (sk_hash). */
  skHash = 0;
  /** fds referring to this socket; the socket is released at 0. */
  refs = 0;
  dead = false;

  readonly cookieGen: CookieGen;

  constructor(family: number, type: number, protocol: number, uid: number, cookieGen: CookieGen) {
    this.cookieGen = cookieGen;
    this.family = family;
    this.type = type;
    this.protocol = protocol;
    this.uid = uid;
  }

  get isInet(): boolean {
    return (this.family === AF_INET || this.family === AF_INET6) &&
      ((this.type === SOCK_STREAM && this.protocol === IPPROTO_TCP) || (this.type === SOCK_DGRAM && this.protocol === IPPROTO_UDP));
  }
  get isTcp(): boolean {
    return this.type === SOCK_STREAM && this.protocol === IPPROTO_TCP;
  }
  get isUdp(): boolean {
    return this.type === SOCK_DGRAM && this.protocol === IPPROTO_UDP;
  }
  get rcvQueueLength(): number {
    return this.rcvQueue.length - this.rcvHead;
  }

  enqueue(e: SkbEntry): void {
    this.rcvQueue.push(e);
    this.rmemAlloc += e.truesize;
  }

  dequeue(): SkbEntry | undefined {
    if (this.rcvHead >= this.rcvQueue.length) return undefined;
    const e = this.rcvQueue[this.rcvHead]!;
    this.rcvQueue[this.rcvHead++] = undefined as unknown as SkbEntry;
    if (this.rcvHead > 1024 && this.rcvHead * 2 > this.rcvQueue.length) {
      this.rcvQueue = this.rcvQueue.slice(this.rcvHead);
      this.rcvHead = 0;
    } else if (this.rcvHead === this.rcvQueue.length) {
      this.rcvQueue.length = 0;
      this.rcvHead = 0;
    }
    this.rmemAlloc -= e.truesize;
    return e;
  }

  peek(): SkbEntry | undefined {
    return this.rcvHead < this.rcvQueue.length ? this.rcvQueue[this.rcvHead] : undefined;
  }
}

/**
 * skb->truesize of a loopback datagram as measured on Linux 6.18 (default rmem 212992 holds
 * 256 datagrams of <= 160 bytes, 166 of <= 672, 92 of <= 1696, 48 of <= 3744, 25, 12, 6, 3 ...):
 * the data area (payload + ~352 bytes of headroom, headers and skb_shared_info) rounded up to a
 * power of two, plus 256 for struct sk_buff; small skbs come from the 512-byte cache (832).
 */
export function skbTruesize(payloadLen: number): number {
  const need = payloadLen + 352;
  if (need <= 512) return 832;
  let alloc = 1024;
  while (alloc < need) alloc *= 2;
  return alloc + 256;
}

/** sysctl defaults (net.core.rmem_default / rmem_max, SOCK_MIN_RCVBUF). */
/** net.core.rmem_max as configured on the reference machine (4 MiB; the kernel default is 212992). */
export const RMEM_DEFAULT = 212992, RMEM_MAX = 4194304, SOCK_MIN_RCVBUF = 2304;
