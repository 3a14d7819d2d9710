/**
 * Port ownership, bind conflicts and listener/socket lookup (net/ipv4/inet_hashtables.c,
 * inet_connection_sock.c, udp.c): who may share a port, which group a socket joins, and which
 * socket a packet finds before reuseport selection runs.
 */
import { AF_INET, AF_INET6, IPPROTO_TCP } from '../kernel/index.js';
import { v4, type InAddr } from './addr.js';
import { Sock, TCP_ESTABLISHED, TCP_LISTEN, TCP_TIME_WAIT } from './socket.js';
import { Prng } from './rand.js';

export const EPHEMERAL_LOW = 32768, EPHEMERAL_HIGH = 60999;

/** Does socket `sk` (bound address) accept a packet to `daddr` (v6 = IPv6 on the wire)? */
export function addrMatches(sk: Sock, v6: boolean, daddr: InAddr): boolean {
  const a = sk.rcvSaddr!;
  if (sk.family === AF_INET) return !v6 && (a.any || a.key === daddr.key);
  // AF_INET6
  if (!v6) {
    if (sk.ipv6only) return false;
    if (a.v4) return a.any || a.key === daddr.key;
    return a.any; // :: accepts IPv4 unless IPV6_V6ONLY
  }
  if (a.v4) return false;
  return a.any || a.key === daddr.key;
}

/** inet_rcv_saddr of an AF_INET6 socket with an IPv6 local address: LOOPBACK4_IPV6 (127.0.0.6). */
const LOOPBACK4_IPV6_KEY = v4(Uint8Array.from([127, 0, 0, 6])).key;

/** The address space a bound socket covers, for overlap tests. */
function covers(sk: Sock): { v4: 'all' | string | null; v6: 'all' | string | null } {
  const a = sk.rcvSaddr!;
  if (sk.family === AF_INET) return { v4: a.any ? 'all' : a.key, v6: null };
  if (a.v4) return { v4: a.any ? 'all' : a.key, v6: null };
  if (a.any) return { v4: sk.ipv6only ? null : 'all', v6: 'all' };
  // an IPv6 address taken at connect() (bind() would have set sk_ipv6only): ipv4_rcv_saddr_equal()
  // still compares its IPv4 view, inet_rcv_saddr = LOOPBACK4_IPV6, so an IPv4 wildcard overlaps it
  return { v4: sk.ipv6only ? null : LOOPBACK4_IPV6_KEY, v6: a.key };
}
const meet = (x: 'all' | string | null, y: 'all' | string | null): boolean => x !== null && y !== null && (x === 'all' || y === 'all' || x === y);

/** inet_rcv_saddr_equal(sk, sk2, match_wildcard=true): do the bound addresses overlap? */
export function addrOverlap(a: Sock, b: Sock): boolean {
  const ca = covers(a), cb = covers(b);
  return meet(ca.v4, cb.v4) || meet(ca.v6, cb.v6);
}

/** inet_rcv_saddr_equal(sk, sk2, false): the same address exactly (wildcard only equals wildcard). */
export function addrEqual(a: Sock, b: Sock): boolean {
  return a.rcvSaddr!.key === b.rcvSaddr!.key || (a.rcvSaddr!.any && b.rcvSaddr!.any && a.family === b.family);
}

export class PortTable {
  /** protocol -> port -> sockets owning it (bind bucket owners, incl. connected/accepted sockets). */
  private readonly owners = new Map<number, Map<number, Sock[]>>();
  /** Hashed sockets per (protocol, port) in lookup order. */
  private readonly hashed = new Map<number, Sock[]>();
  /** Lookup results per (protocol, port) for buckets without connected sockets (they depend on the 4-tuple). */
  private readonly cache = new Map<number, WeakMap<InAddr, Sock | null>[]>();
  private readonly rng: Prng;

  constructor(rng: Prng) {
    this.rng = rng;
  }

  ownersOf(protocol: number, port: number): Sock[] {
    let t = this.owners.get(protocol);
    if (!t) this.owners.set(protocol, (t = new Map()));
    let l = t.get(port);
    if (!l) t.set(port, (l = []));
    return l;
  }

  addOwner(sk: Sock, port: number): void {
    this.ownersOf(sk.protocol, port).push(sk);
    sk.num = port;
    sk.sport = port;
    sk.bound = true;
  }

  /**
   * A TIME_WAIT socket (inet_twsk_hashdance) stays in the bind bucket of `sk`'s address and port:
   * bind()/listen() conflict with it as with any non-listening owner (SO_REUSEADDR/SO_REUSEPORT
   * on both let them share). Modelled only for self-connected sockets (their own FIN closes them).
   */
  addTimeWait(sk: Sock): void {
    const tw = new Sock(sk.family, sk.type, sk.protocol, sk.uid, sk.cookieGen);
    tw.state = TCP_TIME_WAIT;
    tw.reuse = sk.reuse;
    tw.reuseport = sk.reuseport;
    tw.ipv6only = sk.ipv6only;
    tw.rcvSaddr = sk.rcvSaddr;
    tw.daddr = sk.daddr;
    tw.dport = sk.dport;
    tw.dead = true;
    this.addOwner(tw, sk.num);
  }

  /** A connect() to the 4-tuple of a TIME_WAIT socket reuses it (tcp_twsk_unique, loopback). */
  killTimeWait(protocol: number, port: number, saddr: InAddr, daddr: InAddr, dport: number): void {
    const l = this.ownersOf(protocol, port);
    const i = l.findIndex((o) => o.state === TCP_TIME_WAIT && o.rcvSaddr?.key === saddr.key && o.daddr?.key === daddr.key && o.dport === dport);
    if (i >= 0) l.splice(i, 1);
  }

  removeOwner(sk: Sock): void {
    if (!sk.bound) return;
    const l = this.ownersOf(sk.protocol, sk.num);
    const i = l.indexOf(sk);
    if (i >= 0) l.splice(i, 1);
    sk.bound = false;
  }

  private bucket(protocol: number, port: number): Sock[] | undefined {
    return this.hashed.get(protocol * 65536 + port);
  }

  /** Something about a hashed socket changed (connect): forget cached lookups of its port. */
  changed(sk: Sock): void {
    this.cache.delete(sk.protocol * 65536 + sk.num);
  }

  hash(sk: Sock): void {
    const k = sk.protocol * 65536 + sk.num;
    this.cache.delete(k);
    let l = this.hashed.get(k);
    if (!l) this.hashed.set(k, (l = []));
    // IPv6 reuseport sockets go to the tail, everything else to the head (__inet_hash / udp_lib_get_port)
    if (sk.reuseport && sk.family === AF_INET6) l.push(sk);
    else l.unshift(sk);
    sk.hashed = true;
  }

  unhash(sk: Sock): void {
    if (!sk.hashed) return;
    this.cache.delete(sk.protocol * 65536 + sk.num);
    const l = this.bucket(sk.protocol, sk.num);
    const i = l ? l.indexOf(sk) : -1;
    if (i >= 0) l!.splice(i, 1);
    sk.hashed = false;
  }

  /**
   * Would `sk` binding to `port` conflict with an owner? TCP: inet_bind_conflict(); UDP:
   * udp_lib_lport_inuse(). `listening`: the listen()-time recheck (inet_csk_get_port relax).
   */
  conflicts(sk: Sock, port: number): Sock | null {
    for (const sk2 of this.ownersOf(sk.protocol, port)) {
      if (sk2 === sk || !addrOverlap(sk, sk2)) continue;
      if (sk.protocol === IPPROTO_TCP) {
        const cbOk = sk.reuseCb === null || sk.reuseCb.closed.length > 0;
        if (sk.reuse && sk2.reuse && sk2.state !== TCP_LISTEN) continue; // SO_REUSEADDR (relaxed at listen)
        if (sk.reuseport && sk2.reuseport && cbOk && sk.uid === sk2.uid) continue;
        return sk2;
      }
      if (sk.reuse && sk2.reuse) continue;
      if (sk.reuseport && sk2.reuseport && sk.reuseCb === null && sk.uid === sk2.uid) continue;
      return sk2;
    }
    return null;
  }

  /** A free ephemeral port (bind prefers odd, connect even ports, as Linux does). */
  ephemeral(protocol: number, odd: boolean): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = EPHEMERAL_LOW + this.rng.below(span);
    for (const parity of [odd ? 1 : 0, odd ? 0 : 1]) {
      for (let i = 0; i < span; i++) {
        const port = EPHEMERAL_LOW + ((start - EPHEMERAL_LOW + i) % span);
        if ((port & 1) !== parity) continue;
        if (this.ownersOf(protocol, port).length === 0) return port;
      }
    }
    return 0;
  }

  /** The socket a packet goes to before reuseport selection: the first with the best compute_score. */
  lookup(protocol: number, v6: boolean, daddr: InAddr, dport: number, saddr: InAddr, sport: number, tcpListenersOnly: boolean): Sock | null {
    const bk = protocol * 65536 + dport;
    const l = this.hashed.get(bk);
    if (!l) return null;
    const c = this.cache.get(bk);
    const slot = (v6 ? 2 : 0) + (tcpListenersOnly ? 1 : 0);
    if (c) {
      const hit = c[slot]!.get(daddr);
      if (hit !== undefined) return hit;
    }
    let best: Sock | null = null;
    let connected = false;
    let bestScore = -1;
    for (let i = 0; i < l.length; i++) {
      const sk = l[i]!;
      if (tcpListenersOnly && sk.state !== TCP_LISTEN) continue;
      if (!addrMatches(sk, v6, daddr)) continue;
      let score = 1;
      if (sk.family === AF_INET && !v6) score++;
      if (!sk.rcvSaddr!.any) score += 4;
      if (sk.daddr) {
        connected = true;
        // compute_score(): a peer port of 0 (connect() to port 0) does not constrain the source port
        if (sk.daddr.key !== saddr.key || (sk.dport !== 0 && sk.dport !== sport)) continue;
        score += 8;
      }
      if (score > bestScore) {
        bestScore = score;
        best = sk;
      }
    }
    if (!connected) {
      let m = c;
      if (!m) this.cache.set(bk, (m = [new WeakMap(), new WeakMap(), new WeakMap(), new WeakMap()]));
      m[slot]!.set(daddr, best);
    }
    return best;
  }

  /** A listening/bound reuseport socket whose group `sk` joins (inet_reuseport_add_sock / udp_reuseport_add_sock). */
  findGroupPeer(sk: Sock): Sock | null {
    const l = this.bucket(sk.protocol, sk.num) ?? [];
    for (const sk2 of l) {
      if (sk2 === sk) continue;
      if (sk.protocol === IPPROTO_TCP && sk2.state !== TCP_LISTEN) continue;
      if (sk2.state === TCP_ESTABLISHED && sk.protocol !== IPPROTO_TCP) continue;
      if (sk2.family !== sk.family || sk2.ipv6only !== sk.ipv6only || !sk2.reuseport || sk2.uid !== sk.uid) continue;
      if (!addrEqual(sk, sk2)) continue;
      return sk2;
    }
    return null;
  }
}
