/**
 * The socket layer of one network namespace: socket(2) .. close(2) for AF_INET/AF_INET6 TCP and
 * UDP over loopback, with the reuseport hooks (group join at UDP bind / TCP listen, selection on
 * every SYN and datagram, detach/migration at unhash). Delivery is synchronous: when connect()
 * or sendto() returns, the peer's queues hold the result.
 */
import {
  AF_INET, AF_INET6, AF_UNIX, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, MSG_FASTOPEN,
  POLLERR, POLLHUP, POLLIN, ERRNO, fail, SysError, type Datagram, type SockAddr,
} from '../kernel/index.js';
import { INADDR_ANY as INADDR_ANY_, IN6ADDR_ANY as IN6ADDR_ANY_, INADDR_LOOPBACK, IN6ADDR_LOOPBACK, formatAddr, parseAddr, type InAddr } from './addr.js';
import {
  Sock, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_RECV, TCP_SYN_SENT, TCP_NEW_SYN_RECV, skbTruesize, type RequestSock,
} from './socket.js';
import { PortTable } from './inet_hashtables.js';
import { ReuseportGroup } from './reuseport_group.js';
import { Prng, jhash3 } from './rand.js';
import type { CookieGen } from './cookie.js';
import { TCP_ACK, TCP_SYN, type Packet } from './packet.js';
import type { SockMapBase } from './sockmap.js';
import { expireSynAckTimers, inetCskListenStop, releaseHeldAcks } from './migration.js';

/** What reuseport_select_sock() returned: a socket, NULL (use the looked-up socket) or an error (drop). */
export const SELECT_DROP = Symbol('ERR_PTR(-ECONNREFUSED)');
export type SelectResult = Sock | null | typeof SELECT_DROP;

/** reuseport_select_sock / reuseport_migrate_sock, provided by filter.ts (runs the group's program). */
export interface ReuseportHooks {
  select(reuse: ReuseportGroup, sk: Sock, pkt: Packet): SelectResult;
  /** Returns the listener a child/request moves to, or null (migration failed or cancelled). */
  migrate(sk: Sock, migrating: Sock | RequestSock, len0: boolean): Sock | null;
}

export interface NetSysctls {
  tcpMigrateReq: number;
  /** 0: never, 1: when the SYN queue overflows (not reached here), 2: always send SYN cookies. */
  tcpSyncookies: number;
  tcpFastopen: number;
  somaxconn: number;
  optmemMax: number;
  unprivilegedBpfDisabled: number;
  bpfStatsEnabled: number;
}

export interface NetStats {
  /** /proc/net/netstat TCPMigrateReqSuccess / TCPMigrateReqFailure. */
  migrateReqSuccess: number;
  migrateReqFailure: number;
  /** UDP datagrams dropped because the receive buffer was full (UDP_MIB_RCVBUFERRORS). */
  udpRcvbufErrors: number;
  /** Datagrams to a port nobody listens on, or dropped by a program (UDP_MIB_NOPORTS). */
  udpNoPorts: number;
  /** Resets sent for SYNs nobody took (no listener or program drop). */
  tcpRsts: number;
}

export class InetStack {
  readonly ports: PortTable;
  readonly rng: Prng;
  readonly hashSecret: number;
  readonly cookies: CookieGen;
  readonly sysctl: NetSysctls = {
    tcpMigrateReq: 0, tcpFastopen: 1, tcpSyncookies: 1, somaxconn: 4096, optmemMax: 131072, unprivilegedBpfDisabled: 2, bpfStatsEnabled: 0,
  };
  readonly stats: NetStats = { migrateReqSuccess: 0, migrateReqFailure: 0, udpRcvbufErrors: 0, udpNoPorts: 0, tcpRsts: 0 };
  hooks!: ReuseportHooks;
  sockmaps = new Set<SockMapBase>();
  /** CPU packets are processed on unless a sender says otherwise. */
  defaultCpu = 0;
  cpus: number;
  /**
   * inet_csk_listen_stop() calls sk_data_ready() on the listener a child migrated to (upstream
   * 3864c6ba1e04, in 6.18 stable). false: 5.14 kernels before that fix (no wakeup).
   */
  migrationWakeup = true;
  /** While set, the final ACK of each handshake is held back (request sockets stay NEW_SYN_RECV). */
  holdAcks = false;
  /** @internal requests whose final ACK is held back. */
  heldAcks: RequestSock[] = [];
  /** Destinations (address key) for which a TFO cookie is cached. */
  private readonly tfoCookies = new Set<string>();

  constructor(seed: number, cookies: CookieGen, cpus: number) {
    this.rng = new Prng(seed);
    this.hashSecret = this.rng.u32();
    this.ports = new PortTable(this.rng);
    this.cookies = cookies;
    this.cpus = cpus;
  }

  // ---- socket(2) ----
  create(domain: number, type: number, protocol: number, uid: number, caps: ReadonlySet<string>): Sock {
    const sc = 'socket';
    if (domain === AF_UNIX) {
      if (type !== SOCK_STREAM && type !== SOCK_DGRAM && type !== 5) fail(sc, 'ESOCKTNOSUPPORT', `AF_UNIX type ${type}`);
      if (protocol !== 0 && protocol !== 1) fail(sc, 'EPROTONOSUPPORT', `AF_UNIX protocol ${protocol}`);
      return new Sock(domain, type, 0, uid, this.cookies);
    }
    if (domain !== AF_INET && domain !== AF_INET6) fail(sc, 'EAFNOSUPPORT', `address family ${domain}`);
    if (type === SOCK_STREAM) {
      if (protocol !== 0 && protocol !== IPPROTO_TCP) fail(sc, 'EPROTONOSUPPORT', `SOCK_STREAM protocol ${protocol}`);
      return new Sock(domain, type, IPPROTO_TCP, uid, this.cookies);
    }
    if (type === SOCK_DGRAM) {
      if (protocol !== 0 && protocol !== IPPROTO_UDP) fail(sc, 'EPROTONOSUPPORT', `SOCK_DGRAM protocol ${protocol}`);
      return new Sock(domain, type, IPPROTO_UDP, uid, this.cookies);
    }
    if (type === SOCK_RAW) {
      if (!caps.has('CAP_NET_RAW')) fail(sc, 'EPERM', 'SOCK_RAW needs CAP_NET_RAW');
      if (protocol < 0 || protocol > 255) fail(sc, 'EINVAL', `protocol ${protocol}`);
      return new Sock(domain, type, protocol, uid, this.cookies);
    }
    return fail(sc, 'ESOCKTNOSUPPORT', `socket type ${type}`);
  }

  // ---- addresses ----
  private isLocal(a: InAddr): boolean {
    return a.any || a.loopback;
  }

  sockName(sk: Sock): SockAddr {
    const a = sk.rcvSaddr ?? (sk.family === AF_INET ? parseAddr('getsockname', AF_INET, '0.0.0.0') : parseAddr('getsockname', AF_INET6, '::'));
    return { address: formatAddr(sk.family, a), port: sk.bound ? sk.num : sk.sport };
  }

  private readonly parsed4 = new Map<string, InAddr>();
  private readonly parsed6 = new Map<string, InAddr>();

  /** A destination as the packet will carry it (connect to the wildcard means loopback). */
  private destination(sc: string, sk: Sock, address: string, port: number, portZeroEinval = false): { v6: boolean; daddr: InAddr } {
    checkPort(sc, port);
    const cache = sk.family === AF_INET ? this.parsed4 : this.parsed6;
    let d = cache.get(address);
    if (!d) {
      d = parseAddr(sc, sk.family, address);
      if (cache.size < 1024) cache.set(address, d);
    }
    if (sk.family === AF_INET6 && d.v4 && sk.ipv6only) fail(sc, 'ENETUNREACH', 'IPV6_V6ONLY socket cannot reach an IPv4 address');
    // UDP sendto(): udp_sendmsg / udpv6_sendmsg refuse port 0 before routing (address checks below)
    if (portZeroEinval && port === 0) fail(sc, 'EINVAL', 'destination port 0');
    const v6 = sk.family === AF_INET6 && !d.v4;
    if (d.any) d = v6 ? IN6ADDR_LOOPBACK : INADDR_LOOPBACK;
    if (!d.loopback) fail(sc, 'ENETUNREACH', `${address}: only loopback exists in the simulated namespace`);
    if (sk.family === AF_INET6 && sk.rcvSaddr && !sk.rcvSaddr.any && sk.rcvSaddr.v4 !== d.v4) {
      // a v4-mapped local address (bound or taken at connect) has no IPv6 peers: EAFNOSUPPORT;
      // an explicitly bound IPv6 address has no route to IPv4: ENETUNREACH (an unlocked one is re-chosen)
      if (sk.rcvSaddr.v4) fail(sc, 'EAFNOSUPPORT', 'socket with a v4-mapped local address cannot reach an IPv6 address');
      if (sk.bindAddrLocked) fail(sc, 'ENETUNREACH', 'socket bound to an IPv6 address cannot reach an IPv4 address');
    }
    return { v6, daddr: d };
  }

  /** Source address for a packet to daddr: the bound address, else the loopback of that family. */
  private source(sk: Sock, v6: boolean): InAddr {
    const a = sk.rcvSaddr;
    if (a && !a.any && a.v4 === !v6) return a;
    return v6 ? IN6ADDR_LOOPBACK : INADDR_LOOPBACK;
  }

  /** inet_ehashfn / udp_ehashfn (IPv6: the addresses folded to 32 bits first). */
  ehash(v6: boolean, daddr: InAddr, dport: number, saddr: InAddr, sport: number, protocol: number): number {
    const fold = (a: InAddr): number => {
      const b = a.bytes;
      if (!v6) return ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
      let x = 0;
      for (let i = 0; i < 16; i += 4) x ^= (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
      return x >>> 0;
    };
    const secret = (this.hashSecret + (protocol === IPPROTO_UDP ? 0x5bd1e995 : 0)) >>> 0;
    return jhash3(fold(daddr), (((dport & 0xffff) << 16) | (sport & 0xffff)) >>> 0, fold(saddr), secret);
  }

  // ---- bind(2) ----
  bind(sk: Sock, address: string, port: number, caps: ReadonlySet<string>): void {
    const sc = 'bind';
    if (sk.family === AF_UNIX) fail(sc, 'EINVAL', 'AF_UNIX sockets take a path, not an inet address');
    checkPort(sc, port);
    const a = parseAddr(sc, sk.family, address);
    if (sk.family === AF_INET6 && a.v4 && sk.ipv6only) fail(sc, 'EINVAL', 'v4-mapped address on an IPV6_V6ONLY socket');
    if (!this.isLocal(a)) fail(sc, 'EADDRNOTAVAIL', `${address} is not a local address`);
    if (sk.bound || sk.state !== TCP_CLOSE) fail(sc, 'EINVAL', 'socket is already bound');
    if (port !== 0 && port < 1024 && !caps.has('CAP_NET_BIND_SERVICE')) fail(sc, 'EACCES', `port ${port} < 1024 needs CAP_NET_BIND_SERVICE`);
    if (sk.type === SOCK_RAW) {
      sk.rcvSaddr = a;
      return;
    }
    sk.rcvSaddr = a;
    sk.bindAddrLocked = !a.any;
    // __inet6_bind(): a specific IPv6 (not v4-mapped) address makes the socket IPv6-only
    // (sk_ipv6only = 1, restored if the port cannot be had): IPV6_V6ONLY reads 1, and IPv4
    // destinations are ENETUNREACH from then on
    const savedIpv6only = sk.ipv6only;
    if (sk.family === AF_INET6 && !a.any && !a.v4) sk.ipv6only = true;
    const undo = (): void => { sk.rcvSaddr = null; sk.bindAddrLocked = false; sk.ipv6only = savedIpv6only; };
    if (port === 0) {
      port = this.freePortFor(sk, true);
      if (port === 0) { undo(); fail(sc, 'EADDRINUSE', 'no free ephemeral port'); }
    } else {
      const other = this.ports.conflicts(sk, port);
      if (other) { undo(); fail(sc, 'EADDRINUSE', `port ${port} is in use${other.reuseport && sk.reuseport ? ' (a socket with its own reuseport group cannot join another, or different owner uid)' : ''}`); }
      sk.bindPortLocked = true;
    }
    this.ports.addOwner(sk, port);
    if (sk.isUdp) {
      // udp_lib_get_port(): hash now, join the reuseport group now
      if (sk.reuseport && !this.joinGroup(sk)) {
        this.ports.removeOwner(sk);
        undo();
        fail(sc, 'EADDRINUSE', 'reuseport group is full');
      }
      sk.rcuFree = true;
      this.ports.hash(sk);
    }
  }

  private freePortFor(sk: Sock, odd: boolean): number {
    return this.ports.ephemeral(sk.protocol, odd);
  }

  /**
   * Join the group of an equal socket or allocate one (reuseport_add_sock / reuseport_alloc). A
   * shut-down listener (in its old group's closed section) is resurrected: into the old group when
   * the peer found is in it, into the peer's group otherwise, and into a NEW group without the
   * program when no listener is left to join (reuseport_resurrect: the eBPF program is not carried over).
   */
  private joinGroup(sk: Sock): boolean {
    const peer = this.ports.findGroupPeer(sk);
    const bindInany = sk.rcvSaddr!.any;
    const old = sk.reuseCb;
    if (old && old.closed.includes(sk)) {
      let reuse: ReuseportGroup;
      if (peer) {
        reuse = peer.reuseCb ?? new ReuseportGroup(peer.rcvSaddr!.any);
        if (!peer.reuseCb) reuse.add(peer);
      } else {
        reuse = new ReuseportGroup(bindInany);
      }
      old.detachClosed(sk);
      const ok = reuse.add(sk);
      if (reuse !== old) old.maybeFree();
      return ok;
    }
    if (peer) {
      let reuse = peer.reuseCb;
      if (!reuse) {
        reuse = new ReuseportGroup(peer.rcvSaddr!.any);
        reuse.add(peer);
      }
      if (old && old !== reuse) {
        if (old.socks.length > 1 || (old.socks.length === 1 && old.socks[0] !== sk)) return false; // -EBUSY
        old.detachListening(sk);
        old.maybeFree();
      }
      if (old === reuse && reuse.socks.includes(sk)) return true;
      return reuse.add(sk);
    }
    if (old) {
      // a one-socket group made by attaching a program before bind: keep it (and its program)
      if (!old.socks.includes(sk) && !old.add(sk)) return false;
      old.bindInany = bindInany;
      return true;
    }
    return new ReuseportGroup(bindInany).add(sk);
  }

  // ---- listen(2) ----
  listen(sk: Sock, backlog: number): void {
    const sc = 'listen';
    if (sk.family === AF_UNIX) fail(sc, 'EOPNOTSUPP', 'AF_UNIX listen is not simulated');
    if (sk.type !== SOCK_STREAM) fail(sc, 'EOPNOTSUPP', 'listen() needs a SOCK_STREAM socket');
    // inet_listen(): only an SS_UNCONNECTED socket in CLOSE/LISTEN (a connection that ended stays SS_CONNECTED)
    if (sk.connected || (sk.state !== TCP_CLOSE && sk.state !== TCP_LISTEN)) fail(sc, 'EINVAL', 'socket is connected');
    const b = backlog >>> 0 > this.sysctl.somaxconn ? this.sysctl.somaxconn : backlog >>> 0;
    if (sk.state === TCP_LISTEN) {
      sk.backlog = b;
      return;
    }
    if (!sk.bound) {
      if (!sk.rcvSaddr) sk.rcvSaddr = parseAddr(sc, sk.family, sk.family === AF_INET ? '0.0.0.0' : '::');
      const port = this.freePortFor(sk, true);
      if (!port) fail(sc, 'EADDRINUSE', 'no free ephemeral port');
      this.ports.addOwner(sk, port);
    }
    sk.state = TCP_LISTEN;
    const other = this.ports.conflicts(sk, sk.num);
    if (other) {
      sk.state = TCP_CLOSE;
      fail(sc, 'EADDRINUSE', `port ${sk.num} is in use by another listener`);
    }
    if (sk.reuseport) {
      if (!this.joinGroup(sk)) {
        sk.state = TCP_CLOSE;
        fail(sc, 'ENOMEM', 'reuseport group is full');
      }
    } else if (sk.reuseCb && sk.reuseCb.closed.includes(sk)) {
      sk.reuseCb.detachClosed(sk);
      sk.reuseCb.maybeFree();
      sk.reuseCb = null;
    }
    sk.backlog = b;
    sk.rcuFree = true;
    this.ports.hash(sk);
  }

  // ---- connect(2) ----
  connect(sk: Sock, address: string, port: number, data?: Uint8Array, cpu?: number): void {
    const sc = 'connect';
    if (sk.family === AF_UNIX) fail(sc, 'EINVAL', 'AF_UNIX connect is not simulated');
    if (sk.isUdp) return this.udpConnect(sk, address, port);
    if (!sk.isTcp) fail(sc, 'EOPNOTSUPP', 'raw sockets are not simulated');
    // __inet_stream_connect(): SS_CONNECTED stays after the connection ended (RST, FIN): EISCONN
    if (sk.connected) fail(sc, 'EISCONN', 'socket was connected');
    if (sk.state === TCP_LISTEN) fail(sc, 'EISCONN', 'socket is listening');
    if (sk.state === TCP_ESTABLISHED || sk.state === TCP_SYN_RECV || sk.deferredConnect) fail(sc, 'EISCONN', 'already connected');
    // SS_CONNECTING (__inet_stream_connect): the SYN of an earlier connect() is still unanswered
    if (sk.state === TCP_SYN_SENT) fail(sc, 'EALREADY', 'a connection attempt is already in progress');
    const { v6, daddr } = this.destination(sc, sk, address, port);
    if (data === undefined && sk.fastopenConnect && (this.sysctl.tcpFastopen & 1)) {
      // TCP_FASTOPEN_CONNECT: connect() returns at once, the first write sends SYN + data
      this.autobindConnect(sc, sk, v6);
      if (sk.family === AF_INET6 && !v6) sk.afOpsMapped = true;
      sk.deferredConnect = { address, port };
      return;
    }
    this.autobindConnect(sc, sk, v6);
    // tcp_v6_connect() to a v4-mapped address: icsk_af_ops = &ipv6_mapped from here on (see Sock.afOpsMapped)
    if (sk.family === AF_INET6 && !v6) sk.afOpsMapped = true;
    const saddr = this.source(sk, v6);
    const hash = this.ehash(v6, daddr, port, saddr, sk.num, IPPROTO_TCP);
    const tfo = data !== undefined && data.length > 0 && (this.sysctl.tcpFastopen & 1) !== 0 &&
      ((this.sysctl.tcpFastopen & 4) !== 0 || this.tfoCookies.has(daddr.key));
    const pkt: Packet = {
      v6, protocol: IPPROTO_TCP, saddr, sport: sk.num, daddr, dport: port, payload: tfo ? data! : EMPTY, hash,
      cpu: cpu ?? this.defaultCpu, tcpFlags: TCP_SYN, seq: this.rng.u32(), synOptions: true, tsval: this.rng.u32(),
    };
    if (v6 && sk.afOpsMapped) {
      // tcp_v6_connect() does not restore ipv6_specific: tcp_connect() hands the IPv6 SYN to the
      // IPv4 ops (ip_queue_xmit), which route it by the socket's stale IPv4 fields. Whatever
      // answers can never match this socket's IPv6 4-tuple, so the SYN is retransmitted until
      // connect() gives up: ETIMEDOUT after the bounded wait, the socket still in SYN_SENT.
      sk.daddr = daddr;
      sk.dport = port;
      sk.state = TCP_SYN_SENT;
      if (!sk.rcvSaddr || sk.rcvSaddr.any) sk.rcvSaddr = saddr;
      fail(sc, 'ETIMEDOUT', `the SYN to [${address}]:${port} left through the socket's leftover IPv4 ops (after its v4-mapped connect) and got no answer`);
    }
    if (saddr.key === daddr.key && sk.num === port) {
      // __inet_lookup_skb() tries the established table before the listeners: the SYN carries this
      // socket's own 4-tuple and finds it (simultaneous open with itself), even where a listener
      // shares the port. connect() has chosen the source address, as for any connect.
      sk.daddr = daddr;
      sk.dport = port;
      if (!sk.rcvSaddr || sk.rcvSaddr.any) sk.rcvSaddr = saddr;
      this.ports.killTimeWait(IPPROTO_TCP, port, saddr, daddr, port);
      if (sk.shutdownWr) {
        this.ports.addTimeWait(sk);
        // SEND_SHUTDOWN set before connect(): on SYN_RECV -> ESTABLISHED tcp_rcv_state_process()
        // calls tcp_shutdown(), the FIN comes back to the socket itself (FIN_WAIT2 -> TIME_WAIT,
        // tcp_done): TCP_CLOSE without an error, so the blocking connect() returns ECONNABORTED
        // and disconnects (TIME_WAIT itself is not modelled)
        this.unbindClient(sk);
        this.tcpDisconnect(sk);
        fail(sc, 'ECONNABORTED', 'the self-connected socket was shut down for writing: its FIN closed it');
      }
      sk.state = TCP_ESTABLISHED;
      sk.connected = true;
      sk.peer = sk;
      return;
    }
    const listener = this.lookupListener(pkt);
    if (!listener) {
      this.stats.tcpRsts++;
      // the RST: tcp_reset() -> tcp_done(): TCP_CLOSE releases the port unless bound explicitly
      // (inet_put_port; inet_sport stays for getsockname)
      this.unbindClient(sk);
      // the blocking connect() returns sock_error() (ECONNREFUSED, consumed) and then disconnects
      this.tcpDisconnect(sk);
      fail(sc, 'ECONNREFUSED', `nothing accepted the SYN to ${address}:${port}`);
    }
    if (this.sysctl.tcpSyncookies === 2) return this.cookieHandshake(sk, pkt, data ?? EMPTY);
    if (listener.acceptQueue.length + listener.requests.length > listener.backlog) {
      this.unbindClient(sk);
      fail(sc, 'ETIMEDOUT', `accept queue of ${address}:${port} is full: the SYN was dropped`);
    }
    const fastopenServer = (this.sysctl.tcpFastopen & 2) !== 0 && listener.fastopenQlen > 0;
    if (fastopenServer) this.tfoCookies.add(daddr.key);
    sk.daddr = daddr;
    sk.dport = port;
    sk.skHash = hash;
    sk.state = TCP_ESTABLISHED;
    sk.connected = true;
    if (!sk.rcvSaddr || sk.rcvSaddr.any) sk.rcvSaddr = saddr;
    const tfoAccepted = tfo && fastopenServer && ((this.sysctl.tcpFastopen & 0x200) !== 0 || this.tfoCookies.has(daddr.key));
    const req: RequestSock = { listener, client: sk, hash, synPayload: tfo ? data! : EMPTY, pending: [], cookie: 0n, state: TCP_NEW_SYN_RECV };
    // data that did not ride in the SYN is sent right after the handshake
    if (data && data.length && !tfo) req.pending.push(data.slice());
    if (tfoAccepted) {
      // the child exists from the SYN on (SYN_RECV until the final ACK)
      const child = this.makeChild(listener, sk, req);
      child.state = this.holdAcks ? TCP_SYN_RECV : TCP_ESTABLISHED;
      if (this.holdAcks) this.heldAcks.push(req);
      return;
    }
    if (this.holdAcks) {
      listener.requests.push(req);
      this.heldAcks.push(req);
      sk.pendingReq = req;
      return;
    }
    this.makeChild(listener, sk, req);
  }

  /**
   * tcp_syncookies=2: the SYN-ACK carries a cookie and no request socket is kept; the client's ACK
   * (with any data that did not ride in the SYN) goes through the listener lookup, and so through
   * the reuseport program, again: the listener picked for the ACK gets the connection.
   */
  private cookieHandshake(sk: Sock, syn: Packet, data: Uint8Array): void {
    sk.daddr = syn.daddr;
    sk.dport = syn.dport;
    sk.skHash = syn.hash;
    sk.state = TCP_ESTABLISHED;
    sk.connected = true;
    if (!sk.rcvSaddr || sk.rcvSaddr.any) sk.rcvSaddr = syn.saddr;
    const ack: Packet = { ...syn, tcpFlags: TCP_ACK, synOptions: false, payload: data, seq: (syn.seq + 1) >>> 0 };
    const listener = this.lookupListener(ack);
    if (!listener) {
      this.stats.tcpRsts++;
      this.resetClient(sk);
      return;
    }
    const req: RequestSock = { listener, client: sk, hash: syn.hash, synPayload: EMPTY, pending: data.length ? [data.slice()] : [], cookie: 0n, state: TCP_NEW_SYN_RECV };
    this.makeChild(listener, sk, req);
  }

  /** @internal a handshake completes on `listener`: the child joins its accept queue. */
  makeChild(listener: Sock, client: Sock, req: RequestSock): Sock {
    const child = new Sock(listener.family, SOCK_STREAM, IPPROTO_TCP, listener.uid, this.cookies);
    child.reuseport = listener.reuseport;
    child.reuse = listener.reuse;
    child.ipv6only = listener.ipv6only;
    child.rcvSaddr = client.daddr;
    child.num = listener.num;
    child.bound = true;
    child.daddr = client.rcvSaddr;
    child.dport = client.num;
    child.state = TCP_ESTABLISHED;
    child.skHash = req.hash;
    child.parent = listener;
    child.peer = client;
    client.peer = child;
    this.ports.ownersOf(IPPROTO_TCP, listener.num).push(child);
    if (req.synPayload.length) child.enqueue({ data: req.synPayload, address: '', port: 0, truesize: skbTruesize(req.synPayload.length) });
    for (const d of req.pending) child.enqueue({ data: d, address: '', port: 0, truesize: skbTruesize(d.length) });
    req.pending = [];
    client.pendingReq = null;
    listener.acceptQueue.push(child);
    listener.wakeupPending = true; // tcp_child_process()/TFO: parent->sk_data_ready(parent)
    return child;
  }

  private autobindConnect(sc: string, sk: Sock, v6: boolean): void {
    if (sk.bound) return;
    const port = this.ports.ephemeral(sk.protocol, false);
    if (!port) fail(sc, 'EADDRNOTAVAIL', 'no free ephemeral port');
    // inet_autobind(): the port only; the local address stays the wildcard (connect() sets it)
    if (!sk.rcvSaddr) sk.rcvSaddr = sk.family === AF_INET ? INADDR_ANY_ : IN6ADDR_ANY_;
    this.ports.addOwner(sk, port);
    if (sk.isUdp) {
      sk.rcuFree = true;
      this.ports.hash(sk);
    }
  }

  private unbindClient(sk: Sock): void {
    if (!sk.bindPortLocked && sk.isTcp) this.ports.removeOwner(sk);
  }

  /**
   * tcp_disconnect(): back to an unconnected TCP_CLOSE socket. From SYN_SENT the pending error
   * is ECONNRESET; the port is released unless bound explicitly (inet_sport stays); the local
   * address is reset unless bound explicitly; SOCK_DONE and the shutdown bits are cleared (so a
   * recv() after a refused connect() is ENOTCONN, not EOF).
   */
  private tcpDisconnect(sk: Sock): void {
    const old = sk.state;
    if (old !== TCP_CLOSE) {
      sk.state = TCP_CLOSE;
      this.unbindClient(sk);
    }
    if (old === TCP_SYN_SENT) sk.softError = ERRNO.ECONNRESET;
    while (sk.dequeue()) { /* __skb_queue_purge(&sk->sk_receive_queue) */ }
    sk.daddr = null;
    sk.dport = 0;
    if (!sk.bindAddrLocked) sk.rcvSaddr = sk.family === AF_INET ? INADDR_ANY_ : IN6ADDR_ANY_;
    sk.shutdownRd = false;
    sk.shutdownWr = false;
    sk.done = false;
    sk.peerClosed = false;
    sk.peer = null;
    sk.connected = false;
  }

  /**
   * tcp_done(): TCP_CLOSE (the port is released unless bound explicitly; inet_sport stays),
   * SHUTDOWN_MASK. SS_CONNECTED and SOCK_DONE are left as they are.
   */
  private tcpDone(sk: Sock): void {
    sk.state = TCP_CLOSE;
    this.unbindClient(sk);
    sk.shutdownRd = true;
    sk.shutdownWr = true;
    sk.done = true;
    sk.peer = null;
    sk.pendingReq = null;
  }

  /** __inet_lookup_listener + reuseport selection; null = RST. */
  lookupListener(pkt: Packet): Sock | null {
    const sk = this.ports.lookup(IPPROTO_TCP, pkt.v6, pkt.daddr, pkt.dport, pkt.saddr, pkt.sport, true);
    if (!sk) return null;
    if (sk.reuseport && sk.reuseCb) {
      const r = this.hooks.select(sk.reuseCb, sk, pkt);
      if (r === SELECT_DROP) return null;
      if (r) return r.state === TCP_LISTEN ? r : (r.isTcp ? r : null);
    }
    return sk;
  }

  /** The final ACKs held back by holdAcks arrive now (see migration.ts). */
  releaseAcks(): void {
    releaseHeldAcks(this);
  }

  /** SYN+ACK retransmit timers fire (see migration.ts). */
  expireSynAckTimers(): void {
    expireSynAckTimers(this);
  }

  /** @internal the client side of a connection that got a RST: tcp_reset() -> tcp_done_with_error(). */
  resetClient(client: Sock): void {
    if (client.state === TCP_CLOSE) return;
    // CLOSE_WAIT (a FIN came first): EPIPE; otherwise ECONNRESET
    client.softError = client.peerClosed && client.state === TCP_ESTABLISHED ? ERRNO.EPIPE : ERRNO.ECONNRESET;
    this.tcpDone(client);
  }

  // ---- accept(2) ----
  accept(sk: Sock): Sock {
    const sc = 'accept';
    if (sk.type !== SOCK_STREAM) fail(sc, 'EOPNOTSUPP', 'accept() needs a SOCK_STREAM socket');
    if (sk.state !== TCP_LISTEN) fail(sc, 'EINVAL', 'socket is not listening');
    const i = sk.acceptQueue.findIndex((c) => c.state === TCP_ESTABLISHED || c.state === TCP_SYN_RECV || c.state === TCP_CLOSE);
    if (i < 0) fail(sc, 'EAGAIN', 'accept queue is empty');
    const [child] = sk.acceptQueue.splice(i, 1);
    child!.connected = true; // inet_accept(): newsock->state = SS_CONNECTED
    return child!;
  }

  // ---- UDP ----
  private udpConnect(sk: Sock, address: string, port: number): void {
    const sc = 'connect';
    checkPort(sc, port);
    // inet_dgram_connect() autobinds before the protocol looks at the address: a connect() that
    // then fails (ENETUNREACH, EAFNOSUPPORT ...) leaves the socket bound to an ephemeral port
    this.autobindConnect(sc, sk, sk.family === AF_INET6);
    const { v6, daddr } = this.destination(sc, sk, address, port);
    sk.daddr = daddr;
    sk.dport = port;
    sk.state = TCP_ESTABLISHED;
    if (!sk.rcvSaddr || sk.rcvSaddr.any) sk.rcvSaddr = this.source(sk, v6);
    this.ports.changed(sk);
    if (sk.reuseCb) {
      sk.reuseCb.hasConns = true;
      // udp_lib_hash4() (6.13+): a connected socket hashed by 4-tuple leaves its reuseport group
      this.detachFromGroup(sk);
    }
  }

  sendto(sk: Sock, data: Uint8Array, address: string | undefined, port: number | undefined, flags: number, cpu?: number): number {
    const sc = 'sendto';
    if (!(data instanceof Uint8Array)) fail(sc, 'EFAULT', 'data must be a Uint8Array');
    if (sk.family === AF_UNIX) fail(sc, 'ENOTCONN', 'AF_UNIX sockets are not simulated');
    if (sk.isTcp) {
      if (sk.deferredConnect) {
        const d = sk.deferredConnect;
        sk.deferredConnect = null;
        this.connect(sk, d.address, d.port, data, cpu);
        return data.length;
      }
      if (flags & MSG_FASTOPEN && sk.state === TCP_CLOSE) {
        if (address === undefined || port === undefined) fail(sc, 'EDESTADDRREQ', 'MSG_FASTOPEN needs a destination');
        this.connect(sk, address, port, data, cpu);
        return data.length;
      }
      if (sk.state === TCP_LISTEN || sk.state === TCP_CLOSE || sk.state === TCP_SYN_SENT) {
        // sk_stream_wait_connect(): the pending error, EPIPE unless connecting, EAGAIN (non-blocking)
        if (sk.softError) { const e = sk.softError; sk.softError = 0; throw new SysError(sc, e); }
        if (sk.state === TCP_SYN_SENT) fail(sc, 'EAGAIN', 'the handshake has not completed');
        fail(sc, 'EPIPE', 'socket is not connected');
      }
      if (sk.softError) { const e = sk.softError; sk.softError = 0; throw new SysError(sc, e); }
      if (sk.shutdownWr) fail(sc, 'EPIPE', 'socket is shut down for writing');
      const peer = sk.peer;
      if (!peer && sk.pendingReq) {
        // the server side is still a request socket: the segment waits for the handshake
        sk.pendingReq.pending.push(data.slice());
        return data.length;
      }
      if (!peer) {
        // CLOSE_WAIT: the peer closed; this send is accepted and the orphaned peer answers with a
        // RST (tcp_reset in CLOSE_WAIT: EPIPE pending, the socket closes)
        if (sk.peerClosed) {
          this.resetClient(sk);
          return data.length;
        }
        fail(sc, 'EPIPE', 'connection was reset');
      }
      if (!peer.shutdownRd && data.length) peer.enqueue({ data: data.slice(), address: '', port: 0, truesize: skbTruesize(data.length) });
      return data.length;
    }
    if (!sk.isUdp) fail(sc, 'EOPNOTSUPP', 'raw sockets are not simulated');
    // inet_send_prepare(): autobind before udp_sendmsg() looks at anything
    this.autobindConnect(sc, sk, sk.family === AF_INET6);
    let v6: boolean, daddr: InAddr, dport: number;
    if (address === undefined) {
      if (!sk.daddr) fail(sc, 'EDESTADDRREQ', 'UDP socket is not connected and no destination was given');
      daddr = sk.daddr;
      dport = sk.dport;
      v6 = sk.family === AF_INET6 && !daddr.v4;
    } else {
      ({ v6, daddr } = this.destination(sc, sk, address, port ?? 0, true));
      dport = port ?? 0;
    }
    // port 0 (explicit destinations: checked above): EINVAL for a v4-mapped peer of an IPv6 socket
    // (udpv6_sendmsg passes it to udp_sendmsg as an explicit address); a connected socket with an
    // IPv4 or IPv6 peer on port 0 sends (to nobody)
    if (dport === 0 && sk.family === AF_INET6 && daddr.v4) fail(sc, 'EINVAL', 'destination port 0');
    // the pending error (ICMP) and SEND_SHUTDOWN are seen when the datagram is allocated
    // (sock_alloc_send_pskb: sock_error, then SEND_SHUTDOWN), after the destination checks
    if (sk.softError) { const e = sk.softError; sk.softError = 0; throw new SysError(sc, e); }
    if (sk.shutdownWr) fail(sc, 'EPIPE', 'socket is shut down for writing');
    if (data.length > 65507) fail(sc, 'EMSGSIZE', `datagram of ${data.length} bytes`);
    this.autobindConnect(sc, sk, v6);
    const saddr = this.source(sk, v6);
    const pkt: Packet = {
      v6, protocol: IPPROTO_UDP, saddr, sport: sk.num, daddr, dport, payload: data,
      hash: this.ehash(v6, daddr, dport, saddr, sk.num, IPPROTO_UDP), cpu: cpu ?? this.defaultCpu,
      tcpFlags: 0, seq: 0, synOptions: false, tsval: 0,
    };
    this.deliverUdp(pkt, sk);
    return data.length;
  }

  /** __udp4_lib_rcv / __udp6_lib_rcv: lookup, reuseport selection, enqueue or ICMP. */
  deliverUdp(pkt: Packet, sender: Sock | null): Sock | null {
    let target = this.ports.lookup(IPPROTO_UDP, pkt.v6, pkt.daddr, pkt.dport, pkt.saddr, pkt.sport, false);
    if (target && !target.daddr && target.reuseport && target.reuseCb) {
      const r = this.hooks.select(target.reuseCb, target, pkt);
      target = r === SELECT_DROP ? null : (r ?? target);
    }
    if (!target) {
      this.stats.udpNoPorts++;
      // ICMP port unreachable (__udp4_lib_err / __udp6_lib_err): the sender is looked up by the
      // datagram's 4-tuple — a connected socket's peer port only constrains when it is not 0 — and
      // only a connected socket records the error
      if (sender && sender.daddr && sender.daddr.key === pkt.daddr.key && (sender.dport === 0 || sender.dport === pkt.dport)) sender.softError = ERRNO.ECONNREFUSED;
      return null;
    }
    const truesize = skbTruesize(pkt.payload.length);
    if (target.rmemAlloc + truesize > target.rcvbuf && target.rmemAlloc > 0) {
      this.stats.udpRcvbufErrors++;
      return target;
    }
    target.enqueue({ data: this.copyPayload(pkt.payload), address: this.addrString(target.family, pkt.saddr), port: pkt.sport, truesize });
    return target;
  }

  private slab = new Uint8Array(65536);
  private slabOff = 0;
  /** Copy a datagram into kernel-owned memory (a slab: one ArrayBuffer per 64 KiB of small datagrams). */
  private copyPayload(p: Uint8Array): Uint8Array {
    const n = p.length;
    if (n > 4096) return p.slice();
    if (this.slabOff + n > this.slab.length) {
      this.slab = new Uint8Array(65536);
      this.slabOff = 0;
    }
    const o = this.slabOff;
    if (n <= 16) for (let i = 0; i < n; i++) this.slab[o + i] = p[i]!;
    else this.slab.set(p, o);
    this.slabOff = (o + n + 7) & ~7;
    return this.slab.subarray(o, o + n);
  }

  private readonly addrStrings = [new WeakMap<InAddr, string>(), new WeakMap<InAddr, string>()];
  /** inet_ntop with a cache: source addresses repeat. */
  private addrString(family: number, a: InAddr): string {
    const m = this.addrStrings[family === AF_INET ? 0 : 1]!;
    let s = m.get(a);
    if (s === undefined) m.set(a, (s = formatAddr(family, a)));
    return s;
  }

  recvfrom(sk: Sock, maxLength: number | undefined): Datagram {
    const sc = 'recvfrom';
    if (sk.family === AF_UNIX) fail(sc, 'ENOTCONN', 'AF_UNIX sockets are not simulated');
    if (sk.isTcp) {
      if (sk.state === TCP_LISTEN) fail(sc, 'ENOTCONN', 'listening socket');
      const e = sk.peek();
      if (!e) {
        // tcp_recvmsg_locked(): SOCK_DONE (a FIN came) before the pending error, then RCV_SHUTDOWN, then TCP_CLOSE
        if (sk.peerClosed) return { data: new Uint8Array(0), ...this.peerOrEmpty(sk) };
        if (sk.softError) { const err = sk.softError; sk.softError = 0; throw new SysError(sc, err); }
        if (sk.shutdownRd) return { data: new Uint8Array(0), ...this.peerOrEmpty(sk) };
        if (sk.state === TCP_CLOSE) fail(sc, 'ENOTCONN', 'socket is not connected');
        fail(sc, 'EAGAIN', 'no data');
      }
      const max = maxLength ?? 65536;
      if (e.data.length >= max || sk.rcvQueueLength === 1) {
        if (e.data.length <= max) {
          sk.dequeue();
          return { data: e.data, ...this.peerOrEmpty(sk) };
        }
        const out = e.data.slice(0, max);
        e.data = e.data.subarray(max);
        return { data: out, ...this.peerOrEmpty(sk) };
      }
      // a byte stream: tcp_recvmsg() copies from successive skbs until `max` bytes or the queue ends
      const parts: Uint8Array[] = [];
      let n = 0;
      for (let h = sk.peek(); h && n < max; h = sk.peek()) {
        const take = Math.min(h.data.length, max - n);
        parts.push(h.data.subarray(0, take));
        n += take;
        if (take === h.data.length) sk.dequeue();
        else h.data = h.data.subarray(take);
      }
      const out = new Uint8Array(n);
      let o = 0;
      for (const p of parts) { out.set(p, o); o += p.length; }
      return { data: out, ...this.peerOrEmpty(sk) };
    }
    if (sk.softError) { const err = sk.softError; sk.softError = 0; throw new SysError(sc, err); }
    const e = sk.dequeue();
    if (!e) fail(sc, 'EAGAIN', 'no datagram queued'); // RCV_SHUTDOWN only ends a blocking wait
    const max = maxLength ?? 65536;
    return { data: e.data.length > max ? e.data.subarray(0, max) : e.data, address: e.address, port: e.port };
  }

  /** TCP recvfrom() fills no address: Kernel.recvfrom reports getpeername(), or '' / 0 when that fails. */
  private peerOrEmpty(sk: Sock): SockAddr {
    if (!sk.daddr || sk.dport === 0 || sk.state === TCP_CLOSE || sk.state === TCP_SYN_SENT) return { address: '', port: 0 };
    return { address: formatAddr(sk.family, sk.daddr), port: sk.dport };
  }

  peerName(sk: Sock): SockAddr {
    if (!sk.daddr || sk.dport === 0 || (sk.isTcp && (sk.state === TCP_CLOSE || sk.state === TCP_SYN_SENT))) fail('getpeername', 'ENOTCONN', 'socket is not connected');
    return { address: formatAddr(sk.family, sk.daddr), port: sk.dport };
  }

  // ---- shutdown(2) / close(2) ----
  shutdown(sk: Sock, how: number): void {
    const sc = 'shutdown';
    if (how < 0 || how > 2) fail(sc, 'EINVAL', `how ${how}`);
    const rcv = how === 0 || how === 2, snd = how === 1 || how === 2;
    if (sk.isTcp && sk.state === TCP_LISTEN) {
      if (rcv) {
        // tcp_disconnect() of the listener: also clears the shutdown bits an earlier shutdown() of
        // the unconnected socket had set
        this.listenStop(sk);
        sk.shutdownRd = false;
        sk.shutdownWr = false;
        sk.done = false;
      }
      return;
    }
    // inet_shutdown(): a connect in progress is disconnected (no bits set; the error is ECONNRESET)
    if (sk.isTcp && sk.state === TCP_SYN_SENT) {
      this.tcpDisconnect(sk);
      return;
    }
    // inet_shutdown(): the bits are set even on an unconnected socket, which still gets ENOTCONN
    if (rcv) sk.shutdownRd = true;
    if (snd) {
      sk.shutdownWr = true;
      if (sk.isTcp && sk.peer === sk && sk.state === TCP_ESTABLISHED) {
        // a self-connected socket gets its own FIN: FIN_WAIT2 -> TIME_WAIT, tcp_done() (TCP_CLOSE,
        // SHUTDOWN_MASK, SOCK_DONE; TIME_WAIT itself is not modelled)
        sk.peerClosed = true;
        this.ports.addTimeWait(sk);
        this.tcpDone(sk);
        return;
      }
      if (sk.isTcp && sk.peer) sk.peer.peerClosed = true;
    }
    if (sk.state === TCP_CLOSE) fail(sc, 'ENOTCONN', 'socket is not connected');
  }

  /** tcp_disconnect()/tcp_close() of a listener (see migration.ts). */
  private listenStop(sk: Sock): void {
    inetCskListenStop(this, sk);
  }

  /** @internal inet_child_forget(): the child is reset. */
  abortChild(child: Sock): void {
    if (child.peer) this.resetClient(child.peer);
    child.peer = null;
    child.state = TCP_CLOSE;
    this.ports.removeOwner(child);
  }

  /** reuseport_detach_sock(): leave the group (swap-remove) and the sockarray. */
  detachFromGroup(sk: Sock): void {
    const reuse = sk.reuseCb;
    if (!reuse) return;
    sk.userData?.map.clearSlotOf(sk);
    if (reuse.detachListening(sk) < 0) reuse.detachClosed(sk);
    sk.reuseCb = null;
    reuse.maybeFree();
  }

  /** The last fd went: release the socket. */
  release(sk: Sock): void {
    if (sk.dead) return;
    if (sk.isTcp && sk.state === TCP_LISTEN) this.listenStop(sk);
    this.ports.unhash(sk);
    // pending requests hold the listener (rsk_listener): it stays in the closed section so that
    // their final ACK or SYN+ACK timer can still migrate them
    const keep = sk.requests.length > 0 && sk.reuseCb !== null && sk.reuseCb.closed.includes(sk);
    if (!keep) this.detachFromGroup(sk);
    for (const m of this.sockmaps) m.removeSock(sk);
    // a self-connected socket's FIN comes back to itself: it ends in TIME_WAIT
    if (sk.isTcp && sk.peer === sk && sk.state === TCP_ESTABLISHED) this.ports.addTimeWait(sk);
    if (sk.isTcp && sk.peer && sk.peer !== sk) {
      if (sk.rcvQueueLength > 0) {
        // tcp_close() with unread data: RST instead of FIN
        this.resetClient(sk.peer);
      } else {
        sk.peer.peerClosed = true;
        sk.peer.peer = null;
      }
    }
    for (const c of sk.acceptQueue) this.abortChild(c);
    sk.acceptQueue = [];
    this.ports.removeOwner(sk);
    sk.state = TCP_CLOSE;
    sk.dead = true;
  }

  poll(sk: Sock): number {
    let ev = 0;
    if (sk.state === TCP_LISTEN) {
      if (sk.acceptQueue.length) ev |= POLLIN;
      return ev;
    }
    // Kernel.poll() asks for readability (events = POLLIN): POLLOUT is never reported
    if (sk.rcvQueueLength > 0) ev |= POLLIN;
    if (sk.softError) ev |= POLLERR;
    if (sk.isTcp) {
      if (sk.peerClosed || sk.done) ev |= POLLIN | ((sk.shutdownWr && sk.peerClosed) || sk.done ? POLLHUP : 0);
    }
    return ev;
  }
}

const EMPTY = new Uint8Array(0);

function checkPort(sc: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(sc, 'EINVAL', `port ${port} is not 0..65535`);
}
