/**
 * Out-of-line pieces of compiled programs: the rare or bulky paths (faults, 64-bit division with
 * large operands, accesses whose offset carries into another region id, atomics, ld_abs/ld_ind,
 * helper results that are not int32). Results with two halves return the low half and leave
 * the high half in Z[0].
 */
import { VmError } from './errors.js';
import { helperResult, resultHi, type HelperCallImpl } from './helper_call.js';
import type { Memory, Region } from './memory.js';
import * as op from '../ebpf/opcodes.js';
import type { VmErrorReason } from './types.js';

export const Z = resultHi;
const TWO32 = 4294967296;

const big = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
function split(v: bigint): number {
  const u = BigInt.asUintN(64, v);
  Z[0] = Number(u >> 32n) | 0;
  return Number(u & 0xffffffffn) | 0;
}

function fault(pc: number, reason: VmErrorReason, detail = ''): never {
  throw new VmError(reason, pc, detail);
}

/** Unsigned high 32 bits of a 32x32 product. */
function mulhi(a: number, b: number): number {
  a >>>= 0; b >>>= 0;
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

/** 64-bit division/modulo. kind: 0 udiv, 1 sdiv, 2 umod, 3 smod. */
function div64(al: number, ah: number, bl: number, bh: number, kind: number): number {
  const a = big(al, ah), b = big(bl, bh);
  if (b === 0n) { if (kind >= 2) { Z[0] = ah; return al; } Z[0] = 0; return 0; }
  switch (kind) {
    case 0: return split(a / b);
    case 1: return split(BigInt.asIntN(64, a) / BigInt.asIntN(64, b));
    case 2: return split(a % b);
    default: return split(BigInt.asIntN(64, a) % BigInt.asIntN(64, b));
  }
}

/** Exact address of (lo, hi) + off, as (region, offset), or a fault. */
function locate(T: Region[], pc: number, lo: number, hi: number, off: number, size: number, write: boolean): Region {
  let o = (lo >>> 0) + off;
  let id = hi >>> 0;
  if (o < 0) { o += TWO32; id = (id - 1) >>> 0; } else if (o >= TWO32) { o -= TWO32; id = (id + 1) >>> 0; }
  const r = id < T.length ? T[id] : undefined;
  if (r === undefined || o + size > r.length) {
    const addr = (BigInt(id) << 32n) + BigInt(o);
    fault(pc, 'out-of-bounds', `${write ? 'store' : 'load'} of ${size} bytes at 0x${addr.toString(16)}${r && r.length ? ` (${r.name}, length ${r.length})` : ''}`);
  }
  if (write && !r.writable) fault(pc, 'read-only', `store of ${size} bytes at 0x${((BigInt(id) << 32n) + BigInt(o)).toString(16)} (${r.name})`);
  locOff = o;
  return r;
}
let locOff = 0;

/** Slow-path load: returns lo, Z[0] = hi. sx: sign-extend. */
function ld(T: Region[], pc: number, lo: number, hi: number, off: number, size: number, sx: number): number {
  const r = locate(T, pc, lo, hi, off, size, false);
  const o = locOff, v = r.view;
  let l: number, h = 0;
  switch (size) {
    case 1: l = sx ? v.getInt8(o) : v.getUint8(o); break;
    case 2: l = sx ? v.getInt16(o, true) : v.getUint16(o, true); break;
    case 4: l = v.getInt32(o, true); break;
    default: l = v.getInt32(o, true); h = v.getInt32(o + 4, true);
  }
  if (sx && size < 8) h = l >> 31;
  Z[0] = h;
  return l | 0;
}

/** Slow-path store. */
function st(T: Region[], pc: number, lo: number, hi: number, off: number, size: number, vl: number, vh: number): void {
  const r = locate(T, pc, lo, hi, off, size, true);
  const o = locOff, v = r.view;
  switch (size) {
    case 1: v.setInt8(o, vl); break;
    case 2: v.setInt16(o, vl, true); break;
    case 4: v.setInt32(o, vl, true); break;
    default: v.setInt32(o, vl, true); v.setInt32(o + 4, vh, true);
  }
}

/** Atomic read-modify-write at (lo,hi)+off; returns the old value (lo, Z[0] = hi). */
function atomic(T: Region[], pc: number, lo: number, hi: number, off: number, size: number, aop: number,
  sl: number, sh: number, r0l: number, r0h: number): number {
  const r = locate(T, pc, lo, hi, off, size, true);
  const o = locOff, v = r.view;
  const ol = v.getInt32(o, true), oh = size === 8 ? v.getInt32(o + 4, true) : 0;
  if (size === 4) sh = 0, r0h = 0;
  let nl = ol, nh = oh, write = true;
  if (aop === op.BPF_CMPXCHG) {
    write = r0l === ol && r0h === oh;
    nl = sl; nh = sh;
  } else if (aop === op.BPF_XCHG) {
    nl = sl; nh = sh;
  } else {
    switch (aop & ~op.BPF_FETCH) {
      case op.BPF_ADD: {
        const s = (ol + sl) | 0;
        nh = (oh + sh + ((s >>> 0) < (ol >>> 0) ? 1 : 0)) | 0; nl = s;
        break;
      }
      case op.BPF_OR: nl = ol | sl; nh = oh | sh; break;
      case op.BPF_AND: nl = ol & sl; nh = oh & sh; break;
      default: nl = ol ^ sl; nh = oh ^ sh;
    }
  }
  if (write) {
    v.setInt32(o, nl, true);
    if (size === 8) v.setInt32(o + 4, nh, true);
  }
  Z[0] = oh;
  return ol;
}

/** ld_abs/ld_ind: big-endian load from the packet; -1 when out of the packet (program returns 0). */
function ldpkt(M: Memory, pc: number, o: number, size: number): number {
  const p = M.packet;
  if (p === null) fault(pc, 'no-packet', 'ld_abs/ld_ind without a packet region');
  if (o < 0 || o + size > p.length) return -1;
  const v = p.view;
  return size === 1 ? v.getUint8(o) : size === 2 ? v.getUint16(o, false) : v.getUint32(o, false);
}

/** Helper result that is not a plain int32. */
function hr(t: unknown, C: HelperCallImpl): number {
  return helperResult(t, C);
}

export const kit = { fault, mulhi, div64, ld, st, atomic, ldpkt, hr };
export type Kit = typeof kit;
