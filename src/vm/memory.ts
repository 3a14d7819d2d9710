/**
 * VM memory: explicit regions in one flat 64-bit address space (region id << 32 | offset).
 * Callers map a region once and update it in place per run (bytes, length); the VM and helpers
 * reach it by address with every access bounds-checked.
 */
import { VmError } from './errors.js';
import { FIRST_STACK_ID, FIRST_USER_ID, MAX_FRAMES, REGION_SPAN, STACK_SIZE } from './types.js';

const MAX_REGION_ID = 2 ** 21 - 1; // keeps every address below 2^53
// Offsets stay below 2^31 so an offset that carries into the next region id is always out of bounds.
export const MAX_REGION_LEN = 2 ** 31;

export interface MapOptions {
  /** Stores allowed (default true). The SK_REUSEPORT context is read-only. */
  writable?: boolean;
  /** Shown in error messages. */
  name?: string;
  /** Visible length (default bytes.length): lets a packet buffer be reused at varying lengths. */
  length?: number;
}

export class Region {
  readonly id: number;
  /** Address of byte 0: id * 2^32. */
  readonly base: number;
  readonly name: string;
  writable: boolean;
  /** Backing bytes; replace with setBytes(). */
  bytes: Uint8Array;
  view: DataView;
  /** Visible length: accesses at [0, length) are allowed. Set it per run (<= bytes.length). */
  length: number;

  constructor(id: number, bytes: Uint8Array, writable: boolean, name: string, length = bytes.length) {
    this.id = id;
    this.base = id * REGION_SPAN;
    this.name = name;
    this.writable = writable;
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = 0;
    this.setLength(length);
  }

  /** Point the region at other bytes (same address). */
  setBytes(bytes: Uint8Array, length = bytes.length): void {
    if (!(bytes instanceof Uint8Array)) throw new VmError('bad-argument', -1, `region ${this.name}: bytes must be a Uint8Array`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.setLength(length);
  }

  /** Change the visible length (e.g. this run's packet length). */
  setLength(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.bytes.length || length > MAX_REGION_LEN) {
      throw new VmError('bad-argument', -1, `region ${this.name}: length ${length} outside 0..${this.bytes.length}`);
    }
    this.length = length;
  }

  /** Address of `offset` inside this region. */
  addr(offset: number): number {
    return this.base + offset;
  }
}

export class Memory {
  /** Region by id; unmapped ids hold a zero-length region so lookups never see holes. */
  readonly table: Region[] = [];
  /** Region ld_abs/ld_ind read from (null: those instructions fail with 'no-packet'). */
  packet: Region | null = null;
  private nextId = FIRST_USER_ID;

  constructor() {
    this.table.push(new Region(0, new Uint8Array(0), false, 'null'));
    for (let k = 0; k < MAX_FRAMES; k++) {
      this.table.push(new Region(FIRST_STACK_ID + k, new Uint8Array(STACK_SIZE), true, `stack${k}`));
    }
  }

  /** Map bytes as a new region at a fresh address; keep the Region to update it in place. */
  map(bytes: Uint8Array, opts: MapOptions = {}): Region {
    if (!(bytes instanceof Uint8Array)) throw new VmError('bad-argument', -1, 'map: bytes must be a Uint8Array');
    if (this.nextId > MAX_REGION_ID) throw new VmError('bad-argument', -1, 'map: address space exhausted');
    const id = this.nextId++;
    const r = new Region(id, bytes, opts.writable ?? true, opts.name ?? `region${id}`, opts.length ?? bytes.length);
    this.table.push(r);
    return r;
  }

  /** Unmap: later accesses to its addresses fault. Ids are never reused, so stale pointers stay invalid. */
  unmap(region: Region): void {
    if (this.table[region.id] !== region) throw new VmError('bad-argument', -1, `unmap: ${region.name} is not mapped here`);
    this.table[region.id] = new Region(region.id, new Uint8Array(0), false, `unmapped${region.id}`);
    if (this.packet === region) this.packet = null;
  }

  /** Stack of call frame k (0 = the program's own frame). */
  stack(frame = 0): Region {
    return this.table[FIRST_STACK_ID + frame]!;
  }

  /** Zero all stack frames (not done per run: programs must not read uninitialised stack). */
  clearStacks(): void {
    for (let k = 0; k < MAX_FRAMES; k++) this.table[FIRST_STACK_ID + k]!.bytes.fill(0);
  }

  /** Region containing [addr, addr+len) or a VmError('out-of-bounds' / 'read-only'). */
  check(addr: number, len: number, write = false): Region {
    const id = Math.floor(addr / REGION_SPAN);
    const off = addr - id * REGION_SPAN;
    const r = id >= 0 && id < this.table.length ? this.table[id]! : undefined;
    if (r === undefined || !Number.isInteger(addr) || !(len >= 0) || off + len > r.length) {
      throw new VmError('out-of-bounds', -1, `${write ? 'write' : 'read'} of ${len} bytes at 0x${Number.isFinite(addr) ? addr.toString(16) : addr}${r ? ` (${r.name}, length ${r.length})` : ''}`);
    }
    if (write && !r.writable) throw new VmError('read-only', -1, `write of ${len} bytes at 0x${addr.toString(16)} (${r.name})`);
    return r;
  }

  /** A view (no copy) of len bytes at addr. */
  read(addr: number, len: number): Uint8Array {
    const r = this.check(addr, len);
    const off = addr - r.base;
    return r.bytes.subarray(off, off + len);
  }

  /** Copy bytes into VM memory at addr. */
  write(addr: number, bytes: Uint8Array): void {
    const r = this.check(addr, bytes.length, true);
    r.bytes.set(bytes, addr - r.base);
  }

  load8(addr: number): number { const r = this.check(addr, 1); return r.view.getUint8(addr - r.base); }
  load16(addr: number): number { const r = this.check(addr, 2); return r.view.getUint16(addr - r.base, true); }
  load32(addr: number): number { const r = this.check(addr, 4); return r.view.getUint32(addr - r.base, true); }
  load64(addr: number): bigint { const r = this.check(addr, 8); return r.view.getBigUint64(addr - r.base, true); }
  store8(addr: number, v: number): void { const r = this.check(addr, 1, true); r.view.setUint8(addr - r.base, v); }
  store16(addr: number, v: number): void { const r = this.check(addr, 2, true); r.view.setUint16(addr - r.base, v, true); }
  store32(addr: number, v: number): void { const r = this.check(addr, 4, true); r.view.setUint32(addr - r.base, v >>> 0, true); }
  store64(addr: number, v: bigint): void { const r = this.check(addr, 8, true); r.view.setBigUint64(addr - r.base, BigInt.asUintN(64, v), true); }
}
