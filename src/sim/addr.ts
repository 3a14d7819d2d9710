/**
 * Internet addresses as the inet layer compares them. Every address is kept in its 16-byte IPv6
 * form (IPv4 as ::ffff:a.b.c.d) so that dual-stack sockets, v4-mapped addresses and plain IPv4
 * compare with one rule, as ipv6_addr_v4mapped()/inet_rcv_saddr_equal() do.
 */
import { AF_INET, AF_INET6, fail } from '../kernel/index.js';

export interface InAddr {
  /** 16 bytes, IPv4 in v4-mapped form. */
  readonly bytes: Uint8Array;
  /** Comparable key (hex of bytes). */
  readonly key: string;
  /** An IPv4 address (or an IPv4-mapped IPv6 address). */
  readonly v4: boolean;
  /** INADDR_ANY, in6addr_any or ::ffff:0.0.0.0. */
  readonly any: boolean;
  readonly loopback: boolean;
}

const hex = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  return s;
};

function make(bytes: Uint8Array): InAddr {
  let v4 = true;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) v4 = false;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) v4 = false;
  let allZero = true;
  for (let i = 0; i < 16; i++) if (bytes[i] !== 0) allZero = false;
  const v4zero = v4 && bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0 && bytes[15] === 0;
  const loopback = v4 ? bytes[12] === 127 : (bytes.slice(0, 15).every((x) => x === 0) && bytes[15] === 1);
  return { bytes, key: hex(bytes), v4, any: allZero || v4zero, loopback };
}

export function parseIPv4(s: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const v = Number(m[i + 1]);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

export function parseIPv6(s: string): Uint8Array | null {
  const out = new Uint8Array(16);
  let str = s;
  const pct = str.indexOf('%');
  if (pct >= 0) str = str.slice(0, pct);
  let tailV4: Uint8Array | null = null;
  const lastColon = str.lastIndexOf(':');
  if (lastColon >= 0 && str.indexOf('.', lastColon) >= 0) {
    tailV4 = parseIPv4(str.slice(lastColon + 1));
    if (!tailV4) return null;
    str = str.slice(0, lastColon + 1) + '0:0';
  }
  const halves = str.split('::');
  if (halves.length > 2) return null;
  const parse = (p: string): number[] | null => {
    if (p === '') return [];
    const groups = p.split(':');
    const r: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      r.push(parseInt(g, 16));
    }
    return r;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return null;
  if (halves.length === 1 && head.length !== 8) return null;
  if (head.length + tail.length > (halves.length === 2 ? 7 : 8)) return null;
  const groups = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i]! >> 8;
    out[i * 2 + 1] = groups[i]! & 0xff;
  }
  if (tailV4) out.set(tailV4, 12);
  return out;
}

/** Parse an address for a socket of `family`; EINVAL/EAFNOSUPPORT like the sockaddr checks. */
export function parseAddr(syscall: string, family: number, address: string): InAddr {
  if (typeof address !== 'string') fail(syscall, 'EINVAL', 'address must be a string');
  if (family === AF_INET) {
    const b = parseIPv4(address);
    if (!b) {
      // an IPv6 sockaddr given to an AF_INET socket: the kernel sees sin_family != AF_INET
      if (parseIPv6(address)) fail(syscall, 'EAFNOSUPPORT', `${address} is not an IPv4 address`);
      fail(syscall, 'EINVAL', `bad IPv4 address ${JSON.stringify(address)}`);
    }
    return v4(b);
  }
  if (family === AF_INET6) {
    const b6 = parseIPv6(address);
    if (!b6) {
      // an IPv4 string on an AF_INET6 socket means the v4-mapped address (as LinuxKernel passes it)
      const b4 = parseIPv4(address);
      if (b4) return v4(b4);
      fail(syscall, 'EINVAL', `bad IPv6 address ${JSON.stringify(address)}`);
    }
    return make(b6);
  }
  return fail(syscall, 'EAFNOSUPPORT', `address family ${family}`);
}

export function v4(b4: Uint8Array): InAddr {
  const b = new Uint8Array(16);
  b[10] = 0xff;
  b[11] = 0xff;
  b.set(b4, 12);
  return make(b);
}

export const INADDR_ANY = v4(new Uint8Array(4));
export const IN6ADDR_ANY = make(new Uint8Array(16));
export const IN6ADDR_LOOPBACK = make(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
export const INADDR_LOOPBACK = v4(Uint8Array.from([127, 0, 0, 1]));

/** inet_ntop for a socket of `family` (AF_INET6 sockets print v4 addresses as ::ffff:a.b.c.d). */
export function formatAddr(family: number, a: InAddr): string {
  const b = a.bytes;
  if (family === AF_INET) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (a.v4) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  // longest run of zero groups (length >= 2) becomes '::' (RFC 5952)
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const part = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return part(g);
  return `${part(g.slice(0, bestStart))}::${part(g.slice(bestStart + bestLen))}`;
}

/** The 4 IPv4 bytes of a v4 address. */
export const v4bytes = (a: InAddr): Uint8Array => a.bytes.subarray(12, 16);
