/**
 * BPF_MAP_TYPE_HASH and LRU_HASH (kernel/bpf/hashtab.c). Values live in preallocated slots of
 * the map's region (htab prealloc); a JS Map keeps key -> slot in insertion order, which is the
 * order GET_NEXT_KEY walks (the kernel walks buckets: the order is unspecified either way).
 * LRU_HASH never fails for lack of room: it evicts the least recently used element.
 */
import {
  BPF_EXIST, BPF_F_ACCESS, BPF_F_LOCK_MASK, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_ZERO_SEED,
  BPF_MAP_TYPE_LRU_HASH, BPF_NOEXIST, fail, type MapCreateAttr,
} from './uapi.js';
import { BpfMap, fromHex, keyHex } from './bpf_map.js';
import { accessOk, roundUp8 } from './arraymap.js';

export const HTAB_CREATE_FLAG_MASK = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS | BPF_F_ZERO_SEED;
const MAX_BPF_STACK = 512;

/** htab_map_alloc_check(). `sysAdmin`: CAP_SYS_ADMIN (for BPF_F_ZERO_SEED). */
export function htabAllocCheck(sc: string, a: MapCreateAttr, sysAdmin: boolean): void {
  const flags = a.mapFlags ?? 0;
  const lru = a.mapType === BPF_MAP_TYPE_LRU_HASH;
  const percpuLru = (flags & BPF_F_NO_COMMON_LRU) !== 0;
  const prealloc = (flags & BPF_F_NO_PREALLOC) === 0;
  if (flags & BPF_F_ZERO_SEED && !sysAdmin) fail(sc, 'EPERM', 'BPF_F_ZERO_SEED needs CAP_SYS_ADMIN');
  if (flags & ~HTAB_CREATE_FLAG_MASK || !accessOk(flags)) fail(sc, 'EINVAL', `map_flags 0x${flags.toString(16)} not valid for a hash map`);
  if (!lru && percpuLru) fail(sc, 'EINVAL', 'BPF_F_NO_COMMON_LRU only for LRU maps');
  if (lru && !prealloc) fail(sc, 'ENOTSUPP', 'LRU maps are always preallocated');
  if (a.maxEntries === 0 || a.keySize === 0 || a.valueSize === 0) fail(sc, 'EINVAL', 'max_entries, key_size and value_size must be non-zero');
  if (a.keySize > MAX_BPF_STACK) fail(sc, 'E2BIG', `key_size ${a.keySize} > 512`);
  if (a.keySize + a.valueSize >= 4194304 - 48) fail(sc, 'E2BIG', 'element too large');
}

export class HashMap extends BpfMap {
  readonly elemSize: number;
  private readonly slots = new Map<string, number>();
  private freeSlots: number[] = [];
  /** Slots never used yet are handed out in order. */
  private fresh = 0;
  constructor(a: MapCreateAttr, storedFlags: number) {
    super(a.mapType, a.keySize, a.valueSize, a.maxEntries, storedFlags, a.name ?? '');
    this.elemSize = roundUp8(a.valueSize);
  }
  get lru(): boolean {
    return this.type === BPF_MAP_TYPE_LRU_HASH;
  }
  get count(): number {
    return this.slots.size;
  }
  storageSize(): number {
    return this.elemSize * this.maxEntries;
  }
  private touch(k: string, slot: number): void {
    if (!this.lru) return;
    this.slots.delete(k);
    this.slots.set(k, slot);
  }
  /** Insert/replace; returns the slot or -errno. */
  private put(key: Uint8Array, value: Uint8Array, flags: number): number {
    if ((flags & ~BPF_F_LOCK_MASK) > BPF_EXIST) return -22;
    const k = keyHex(key.subarray(0, this.keySize));
    let slot = this.slots.get(k);
    if (slot !== undefined && flags === BPF_NOEXIST) return -17;
    if (slot === undefined && flags === BPF_EXIST) return -2;
    if (slot === undefined) {
      if (this.freeSlots.length === 0 && this.fresh < this.maxEntries) {
        this.freeSlots.push(this.fresh++);
      }
      if (this.freeSlots.length === 0) {
        if (!this.lru) return -7;
        // evict the least recently used element
        const [oldest, s] = this.slots.entries().next().value as [string, number];
        this.slots.delete(oldest);
        this.freeSlots.push(s);
      }
      slot = this.freeSlots.pop()!;
    } else {
      this.slots.delete(k);
    }
    this.slots.set(k, slot);
    const o = slot * this.elemSize;
    this.region.bytes.fill(0, o, o + this.elemSize);
    this.region.bytes.set(value.subarray(0, this.valueSize), o);
    return slot;
  }
  lookupSys(key: Uint8Array): Uint8Array {
    const slot = this.slots.get(keyHex(key.subarray(0, this.keySize)));
    if (slot === undefined) fail('bpf(BPF_MAP_LOOKUP_ELEM)', 'ENOENT', 'no such key');
    const o = slot * this.elemSize;
    return this.region.bytes.slice(o, o + this.valueSize);
  }
  updateSys(key: Uint8Array, value: Uint8Array, flags: number): void {
    const r = this.put(key, value, flags);
    if (r < 0) fail('bpf(BPF_MAP_UPDATE_ELEM)', r === -22 ? 'EINVAL' : r === -17 ? 'EEXIST' : r === -2 ? 'ENOENT' : 'E2BIG', r === -7 ? `map is full (max_entries ${this.maxEntries})` : `flags ${flags}`);
  }
  deleteSys(key: Uint8Array): void {
    if (this.progDelete(key) < 0) fail('bpf(BPF_MAP_DELETE_ELEM)', 'ENOENT', 'no such key');
  }
  getNextKey(key: Uint8Array | null): Uint8Array {
    const keys = [...this.slots.keys()];
    if (keys.length === 0) fail('bpf(BPF_MAP_GET_NEXT_KEY)', 'ENOENT', 'map is empty');
    const i = key === null ? -1 : keys.indexOf(keyHex(key.subarray(0, this.keySize)));
    if (i < 0) return fromHex(keys[0]!);
    if (i + 1 >= keys.length) fail('bpf(BPF_MAP_GET_NEXT_KEY)', 'ENOENT', 'last key');
    return fromHex(keys[i + 1]!);
  }
  override progLookup(key: Uint8Array): number {
    const k = keyHex(key);
    const slot = this.slots.get(k);
    if (slot === undefined) return 0;
    this.touch(k, slot);
    return this.region.base + slot * this.elemSize;
  }
  override progUpdate(key: Uint8Array, value: Uint8Array, flags: number): number {
    const r = this.put(key, value, flags);
    return r < 0 ? r : 0;
  }
  override progDelete(key: Uint8Array): number {
    const k = keyHex(key.subarray(0, this.keySize));
    const slot = this.slots.get(k);
    if (slot === undefined) return -2;
    this.slots.delete(k);
    this.freeSlots.push(slot);
    return 0;
  }
}
