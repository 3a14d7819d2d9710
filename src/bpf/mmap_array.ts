/**
 * MmapArray: the values of an ARRAY map created with BPF_F_MMAPABLE, mmap(2)ed into this process
 * (array_map_mmap: element i at i * round_up(value_size, 8)). get/set are memory accesses, no
 * syscall: programs see a store at once. Atomicity is the CPU's only: aligned u32/u64 stores are
 * single instructions, wider values (or the codec path) can be seen half-written by a program.
 */
import type { Codec } from './codec.js';

export class MmapArray<V = Uint8Array> {
  /** max_entries. */
  readonly length: number;
  /** Bytes between elements: round_up(value_size, 8). */
  readonly stride: number;
  readonly valueSize: number;
  private readonly raw: Uint8Array;
  private readonly dv: DataView;
  private readonly codec: Codec<V>;
  /** Scratch for the codec path: no allocation per set(). */
  private readonly scratch: Uint8Array;
  private _closed = false;

  constructor(raw: Uint8Array, maxEntries: number, valueSize: number, codec: Codec<V>) {
    this.stride = (valueSize + 7) & ~7;
    if (raw.length < maxEntries * this.stride) throw new RangeError(`mmap view is ${raw.length} bytes, the map needs ${maxEntries * this.stride}`);
    this.raw = raw;
    this.length = maxEntries;
    this.valueSize = valueSize;
    this.dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    this.codec = codec;
    this.scratch = new Uint8Array(valueSize);
  }

  get closed(): boolean { return this._closed; }

  /** The mapped bytes themselves (element i at i * stride). Invalid after the map is closed. */
  get bytes(): Uint8Array {
    this.live();
    return this.raw;
  }

  private live(): void {
    if (this._closed) throw new Error('MmapArray used after its map was closed');
  }

  /** Byte offset of element `index`, checked like array_map_lookup_elem (index < max_entries). */
  private off(index: number, width: number): number {
    this.live();
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new RangeError(`index ${index} outside 0..${this.length - 1}`);
    if (width > this.valueSize) throw new RangeError(`value_size is ${this.valueSize} bytes, a ${width}-byte access does not fit`);
    return index * this.stride;
  }

  /** The value at index, decoded by the map's value codec (a copy: later stores do not change it). */
  get(index: number): V {
    const o = this.off(index, 0);
    return this.codec.decode(this.raw.slice(o, o + this.valueSize));
  }

  set(index: number, value: V): void {
    const o = this.off(index, 0);
    this.codec.encodeInto(value, this.scratch);
    this.raw.set(this.scratch, o);
  }

  /** First 4 bytes of the value as a little-endian u32 (one aligned load). */
  getU32(index: number): number {
    return this.dv.getUint32(this.off(index, 4), true);
  }

  setU32(index: number, value: number): void {
    const o = this.off(index, 4);
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`u32 value out of range: ${value}`);
    this.dv.setUint32(o, value, true);
  }

  /** First 8 bytes of the value as a little-endian u64 (one aligned load). */
  getU64(index: number): bigint {
    return this.dv.getBigUint64(this.off(index, 8), true);
  }

  setU64(index: number, value: bigint): void {
    const o = this.off(index, 8);
    if (typeof value !== 'bigint') throw new TypeError(`u64 value must be a bigint, got ${typeof value}`);
    if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`u64 value out of range: ${value}`);
    this.dv.setBigUint64(o, value, true);
  }

  /** Called by BpfMap.close(): the kernel drops the mapping with the fd. */
  markClosed(): void { this._closed = true; }
}
