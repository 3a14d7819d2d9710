/**
 * struct sockaddr_in / sockaddr_in6 encoding. Text <-> binary goes through libc's
 * inet_pton/inet_ntop so that addresses read back exactly as the C API prints them
 * ('::ffff:127.0.0.1' for IPv4-mapped IPv6).
 */
import { AF_INET, AF_INET6 } from '../kernel/constants.js';
import type { SockAddr } from '../kernel/kernel.js';
import type { Libc } from './libc.js';

export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;
/** sizeof(struct sockaddr_storage). */
export const SOCKADDR_STORAGE_SIZE = 128;

export function checkPort(port: unknown, what = 'port'): number {
  if (typeof port !== 'number') throw new TypeError(`${what} must be a number, got ${typeof port}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`${what} must be an integer 0..65535, got ${port}`);
  return port;
}

export function checkAddress(address: unknown): string {
  if (typeof address !== 'string') throw new TypeError(`address must be a string, got ${typeof address}`);
  return address;
}

/**
 * Encode `address:port` for a socket of `family` into `out` (a zeroed sockaddr_storage-sized
 * buffer). An IPv4 address given to an AF_INET6 socket becomes '::ffff:a.b.c.d', as it must
 * for dual-stack sockets. Returns the sockaddr length.
 */
export function encodeSockaddr(c: Libc, family: number, address: string, port: number, out: Buffer): number {
  out.fill(0, 0, SOCKADDR_IN6_SIZE);
  const v6text = address.includes(':');
  if (family === AF_INET6) {
    const text = v6text ? address : `::ffff:${address}`;
    out.writeUInt16LE(AF_INET6, 0);
    out.writeUInt16BE(port, 2);
    if (c.inet_pton(AF_INET6, text, out.subarray(8, 24)) !== 1) throw new TypeError(`invalid IPv6 address "${address}"`);
    return SOCKADDR_IN6_SIZE;
  }
  if (family === AF_INET) {
    if (v6text) throw new TypeError(`IPv6 address "${address}" given to an AF_INET socket`);
    out.writeUInt16LE(AF_INET, 0);
    out.writeUInt16BE(port, 2);
    if (c.inet_pton(AF_INET, address, out.subarray(4, 8)) !== 1) throw new TypeError(`invalid IPv4 address "${address}"`);
    return SOCKADDR_IN_SIZE;
  }
  // Other families (AF_UNIX ...): hand the kernel an AF_INET-shaped address so it answers
  // with its own errno (EINVAL / EAFNOSUPPORT), as a C caller would see.
  out.writeUInt16LE(v6text ? AF_INET6 : AF_INET, 0);
  out.writeUInt16BE(port, 2);
  if (v6text) {
    if (c.inet_pton(AF_INET6, address, out.subarray(8, 24)) !== 1) throw new TypeError(`invalid IPv6 address "${address}"`);
    return SOCKADDR_IN6_SIZE;
  }
  if (c.inet_pton(AF_INET, address, out.subarray(4, 8)) !== 1) throw new TypeError(`invalid IPv4 address "${address}"`);
  return SOCKADDR_IN_SIZE;
}

const ntopBuf = Buffer.alloc(64);

/** Decode a sockaddr written by the kernel; unknown families read as address ''. */
export function decodeSockaddr(c: Libc, buf: Buffer): SockAddr {
  const family = buf.readUInt16LE(0);
  const port = buf.readUInt16BE(2);
  if (family === AF_INET) return { address: c.inet_ntop(AF_INET, buf.subarray(4, 8), ntopBuf, 64) as string, port };
  if (family === AF_INET6) return { address: c.inet_ntop(AF_INET6, buf.subarray(8, 24), ntopBuf, 64) as string, port };
  return { address: '', port: 0 };
}
