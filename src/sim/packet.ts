/**
 * The bytes a packet has on the loopback wire: a 14-byte Ethernet header (lo uses an all-zero
 * one), the IPv4/IPv6 header, the TCP/UDP header and the payload. SK_REUSEPORT programs see the
 * L4 part through data/data_end and reach the rest with bpf_skb_load_bytes_relative().
 * A Linux SYN carries 20 bytes of options (MSS, SACK_PERM, TS, NOP, WS): L4 length 40.
 */
import { ETH_P_IP, ETH_P_IPV6, IPPROTO_TCP } from '../kernel/index.js';
import type { InAddr } from './addr.js';

export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10;

export interface Packet {
  /** IPv6 on the wire (false: IPv4, including v4-mapped traffic of AF_INET6 sockets). */
  v6: boolean;
  protocol: number;
  saddr: InAddr;
  sport: number;
  daddr: InAddr;
  dport: number;
  payload: Uint8Array;
  /** The 4-tuple hash (inet_ehashfn / udp_ehashfn / migrating sk_hash). */
  hash: number;
  /** CPU the packet is processed on (bpf_get_smp_processor_id, SO_INCOMING_CPU). */
  cpu: number;
  /** TCP only. */
  tcpFlags: number;
  seq: number;
  /** TCP SYN: carry Linux's default SYN options. */
  synOptions: boolean;
  tsval: number;
}

export interface Frame {
  bytes: Uint8Array;
  /** Offset of the network header (after the 14-byte Ethernet header). */
  netOff: number;
  /** Offset of the TCP/UDP header. */
  l4Off: number;
  /** Bytes used in `bytes`. */
  len: number;
}

export const ETH_HLEN = 14;

/** L4 header length for this packet (TCP: 20 + options). */
export function l4HeaderLen(p: Packet): number {
  if (p.protocol !== IPPROTO_TCP) return 8;
  return p.synOptions ? 40 : 32; // non-SYN segments carry the 12-byte timestamp option block
}

export function buildFrame(p: Packet): Frame {
  const len = frameLen(p);
  const bytes = new Uint8Array(len);
  return writeFrame(p, bytes, new DataView(bytes.buffer));
}

export function frameLen(p: Packet): number {
  return ETH_HLEN + (p.v6 ? 40 : 20) + l4HeaderLen(p) + p.payload.length;
}

/** Lay the frame out in `bytes` (at least frameLen(p) long, reused across packets). */
export function writeFrame(p: Packet, bytes: Uint8Array, dv: DataView): Frame {
  const len = writeL4(p, bytes, dv);
  writeL3(p, bytes, dv);
  return { bytes, netOff: ETH_HLEN, l4Off: ETH_HLEN + (p.v6 ? 40 : 20), len };
}

/** Offsets only (no bytes written). */
export function frameOffsets(p: Packet): Frame {
  const l4Off = ETH_HLEN + (p.v6 ? 40 : 20);
  return { bytes: EMPTY, netOff: ETH_HLEN, l4Off, len: l4Off + l4HeaderLen(p) + p.payload.length };
}
const EMPTY = new Uint8Array(0);

/** The Ethernet and IP headers (written lazily: only bpf_skb_load_bytes_relative reads them). */
export function writeL3(p: Packet, bytes: Uint8Array, dv: DataView): void {
  const l4len = l4HeaderLen(p) + p.payload.length;
  const ipLen = p.v6 ? 40 : 20;
  bytes.fill(0, 0, ETH_HLEN + ipLen);
  dv.setUint16(12, p.v6 ? ETH_P_IPV6 : ETH_P_IP);
  const n = ETH_HLEN;
  if (p.v6) {
    dv.setUint32(n, 0x60000000 | (p.hash & 0xfffff)); // version 6, flow label from the flow hash
    dv.setUint16(n + 4, l4len);
    bytes[n + 6] = p.protocol;
    bytes[n + 7] = 64;
    bytes.set(p.saddr.bytes, n + 8);
    bytes.set(p.daddr.bytes, n + 24);
  } else {
    bytes[n] = 0x45;
    dv.setUint16(n + 2, 20 + l4len);
    dv.setUint16(n + 4, ipIdent(p)); // ip_select_ident: a hashed per-destination counter
    dv.setUint16(n + 6, 0x4000); // DF
    bytes[n + 8] = 64;
    bytes[n + 9] = p.protocol;
    bytes.set(p.saddr.bytes.subarray(12), n + 12);
    bytes.set(p.daddr.bytes.subarray(12), n + 16);
    dv.setUint16(n + 10, ipChecksum(bytes, n, 20));
  }
}

/** The TCP/UDP header and payload at their place after the IP header; returns the frame length. */
export function writeL4(p: Packet, bytes: Uint8Array, dv: DataView): number {
  const l4h = l4HeaderLen(p);
  const l4len = l4h + p.payload.length;
  const t = ETH_HLEN + (p.v6 ? 40 : 20);
  dv.setUint16(t, p.sport);
  dv.setUint16(t + 2, p.dport);
  if (p.protocol === IPPROTO_TCP) {
    bytes.fill(0, t + 4, t + l4h);
    dv.setUint32(t + 4, p.seq >>> 0);
    bytes[t + 12] = (l4h / 4) << 4;
    bytes[t + 13] = p.tcpFlags;
    const mss = p.v6 ? 65476 : 65495; // loopback MTU 65536 minus IP and TCP headers
    dv.setUint16(t + 14, mss);
    dv.setUint16(t + 16, pseudoHeaderSum(p, l4len));
    let o = t + 20;
    if (p.synOptions) {
      bytes[o++] = 2; bytes[o++] = 4; dv.setUint16(o, mss); o += 2; // MSS
      bytes[o++] = 4; bytes[o++] = 2; // SACK permitted
      bytes[o++] = 8; bytes[o++] = 10; dv.setUint32(o, p.tsval >>> 0); o += 4; dv.setUint32(o, 0); o += 4; // timestamps
      bytes[o++] = 1; // NOP
      bytes[o++] = 3; bytes[o++] = 3; bytes[o++] = 10; // window scale (10 with this machine's tcp_rmem)
    } else {
      bytes[o++] = 1; bytes[o++] = 1; bytes[o++] = 8; bytes[o++] = 10;
      dv.setUint32(o, p.tsval >>> 0); o += 4; dv.setUint32(o, 0); o += 4;
    }
  } else {
    dv.setUint16(t + 4, l4len);
    dv.setUint16(t + 6, pseudoHeaderSum(p, l4len));
  }
  const pl = p.payload;
  if (pl.length <= 16) for (let i = 0; i < pl.length; i++) bytes[t + l4h + i] = pl[i]!;
  else bytes.set(pl, t + l4h);
  return t + l4len;
}

let identCounter = 0;
function ipIdent(p: Packet): number {
  identCounter = (identCounter + 1) & 0xffff;
  return ((p.hash >>> 7) ^ (p.hash << 3) ^ identCounter * 0x9e37) & 0xffff;
}

/**
 * Loopback packets carry CHECKSUM_PARTIAL: the L4 checksum field holds the folded pseudo-header
 * sum (addresses, protocol, L4 length), as seen on 6.18.
 */
export function pseudoHeaderSum(p: Packet, l4len: number): number {
  let sum = p.protocol + l4len;
  const add16 = (a: Uint8Array, from: number, to: number): void => {
    for (let i = from; i < to; i += 2) sum += (a[i]! << 8) | a[i + 1]!;
  };
  if (p.v6) { add16(p.saddr.bytes, 0, 16); add16(p.daddr.bytes, 0, 16); } else { add16(p.saddr.bytes, 12, 16); add16(p.daddr.bytes, 12, 16); }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function ipChecksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
