/** Shared fixtures for the SimKernel tests: sockets in a group, maps, programs in assembly. */
import assert from 'node:assert/strict';
import { assemble } from '../../src/ebpf/index.js';
import {
  AF_INET, AF_INET6, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_PROG_TYPE_SK_REUSEPORT, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET,
  SO_REUSEPORT, SysError, type ErrnoCode, ERRNO,
} from '../../src/kernel/index.js';
import { SimKernel } from '../../src/sim/index.js';

export const u32 = (v: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return b; };
export const u64 = (v: number | bigint): Uint8Array => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true); return b; };
export const readU64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
export const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
export const be32 = (v: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, false); return b; };

/** Assert that fn throws SysError with this errno name. */
export function throwsErrno(fn: () => unknown, code: ErrnoCode, re?: RegExp): SysError {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  assert.ok(err instanceof SysError, `expected SysError ${code}, got ${err === undefined ? 'no error' : String(err)}`);
  assert.equal((err as SysError).errno, ERRNO[code], `expected ${code}, got ${(err as SysError).code}: ${(err as SysError).message}`);
  if (re) assert.match(((err as SysError).log ?? '') + (err as SysError).message, re);
  return err as SysError;
}

export interface Group { fds: number[]; port: number; }

/** n SO_REUSEPORT sockets on one loopback port (TCP: listening). */
export function group(sim: SimKernel, n: number, opts: { tcp?: boolean; v6?: boolean; addr?: string; port?: number } = {}): Group {
  const fds: number[] = [];
  let port = opts.port ?? 0;
  const addr = opts.addr ?? (opts.v6 ? '::1' : '127.0.0.1');
  for (let i = 0; i < n; i++) {
    const fd = sim.socket(opts.v6 ? AF_INET6 : AF_INET, opts.tcp ? SOCK_STREAM : SOCK_DGRAM);
    sim.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    sim.bind(fd, addr, port);
    if (opts.tcp) sim.listen(fd, 128);
    port = sim.getsockname(fd).port;
    fds.push(fd);
  }
  return { fds, port };
}

export function sockarray(sim: SimKernel, max = 32, valueSize = 8): number {
  return sim.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize, maxEntries: max });
}

/** Load an SK_REUSEPORT program written in assembly; `maps` names map fds for `lddw %r1, map_fd NAME`. */
export function loadAsm(sim: SimKernel, src: string, maps: Record<string, number> = {}, expectedAttachType = 0): number {
  return sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: assemble(src, { maps }), expectedAttachType, license: 'GPL' });
}

/**
 * The canonical steering program: key = first u32 of the UDP/TCP payload, read with
 * bpf_skb_load_bytes at the L4 header length; select it from `map`; SK_PASS either way.
 */
export const SELECT_BY_PAYLOAD = (hdrLen: number): string => `
  mov %r6, %r1
  mov %r2, ${hdrLen}
  mov %r3, %r10
  add %r3, -4
  mov %r4, 4
  call 26
  jne %r0, 0, drop
  mov %r1, %r6
  lddw %r2, map_fd map
  mov %r3, %r10
  add %r3, -4
  mov %r4, 0
  call 82
  mov %r0, 1
  exit
drop:
  mov %r0, 0
  exit
`;

export { SimKernel };

/** Asm: `out[index] = *(u32 *)(fp-8)` — stores the word at fp-8 into the ARRAY map named `out`. */
export const STORE_FP8_TO_OUT = (index: number): string => `
  stw [%r10-4], ${index}
  lddw %r1, map_fd out
  mov %r2, %r10
  add %r2, -4
  mov %r3, %r10
  add %r3, -8
  mov %r4, 0
  call 2`;
