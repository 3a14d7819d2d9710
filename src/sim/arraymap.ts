/** BPF_MAP_TYPE_ARRAY and PERCPU_ARRAY (kernel/bpf/arraymap.c). */
import {
  BPF_EXIST, BPF_F_ACCESS, BPF_F_INNER_MAP, BPF_F_LOCK_MASK, BPF_F_MMAPABLE, BPF_F_NUMA_NODE, BPF_F_PRESERVE_ELEMS,
  BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_NOEXIST, fail, type MapCreateAttr,
} from './uapi.js';
import { BpfMap, arrayNextKey, u32 } from './bpf_map.js';

/** ARRAY_CREATE_FLAG_MASK. */
export const ARRAY_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
const PCPU_MIN_UNIT_SIZE = 32768;

/** bpf_map_flags_access_ok(): RDONLY_PROG and WRONLY_PROG exclude each other. */
export const accessOk = (flags: number): boolean => (flags & (128 | 256)) !== (128 | 256);

/** array_map_alloc_check(). */
export function arrayAllocCheck(sc: string, a: MapCreateAttr): void {
  const flags = a.mapFlags ?? 0;
  const percpu = a.mapType === BPF_MAP_TYPE_PERCPU_ARRAY;
  const numa = (flags & BPF_F_NUMA_NODE) !== 0;
  if (a.maxEntries === 0) fail(sc, 'EINVAL', 'max_entries is 0');
  if (a.keySize !== 4) fail(sc, 'EINVAL', `key_size ${a.keySize} (array keys are 4 bytes)`);
  if (a.valueSize === 0) fail(sc, 'EINVAL', 'value_size is 0');
  if (flags & ~ARRAY_CREATE_FLAG_MASK) fail(sc, 'EINVAL', `map_flags 0x${flags.toString(16)} not valid for this map type`);
  if (!accessOk(flags)) fail(sc, 'EINVAL', 'BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together');
  if (percpu && numa) fail(sc, 'EINVAL', 'per-CPU maps take no NUMA node');
  if (a.mapType !== BPF_MAP_TYPE_ARRAY && flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP)) fail(sc, 'EINVAL', 'BPF_F_MMAPABLE/BPF_F_INNER_MAP only for ARRAY');
  if (a.mapType !== BPF_MAP_TYPE_PERF_EVENT_ARRAY && flags & BPF_F_PRESERVE_ELEMS) fail(sc, 'EINVAL', 'BPF_F_PRESERVE_ELEMS only for PERF_EVENT_ARRAY');
  if (a.valueSize > 0x7fffffff) fail(sc, 'E2BIG', 'value_size too large');
  if (percpu && roundUp8(a.valueSize) > PCPU_MIN_UNIT_SIZE) fail(sc, 'E2BIG', 'per-CPU value larger than 32768 bytes');
}

export const roundUp8 = (n: number): number => (n + 7) & ~7;

export class ArrayMap extends BpfMap {
  /** Element stride (round_up(value_size, 8), as array_map_alloc lays them out). */
  readonly elemSize: number;
  readonly cpus: number;
  constructor(a: MapCreateAttr, storedFlags: number, cpus: number) {
    super(a.mapType, 4, a.valueSize, a.maxEntries, storedFlags, a.name ?? '');
    this.elemSize = roundUp8(a.valueSize);
    this.cpus = a.mapType === BPF_MAP_TYPE_PERCPU_ARRAY ? cpus : 1;
  }
  get percpu(): boolean {
    return this.type === BPF_MAP_TYPE_PERCPU_ARRAY;
  }
  storageSize(): number {
    return this.elemSize * this.maxEntries * this.cpus;
  }
  override sysValueSize(cpus: number): number {
    return this.percpu ? roundUp8(this.valueSize) * cpus : this.valueSize;
  }
  private off(index: number, cpu: number): number {
    return (cpu * this.maxEntries + index) * this.elemSize;
  }
  lookupSys(key: Uint8Array): Uint8Array {
    const sc = 'bpf(BPF_MAP_LOOKUP_ELEM)';
    const i = u32(key);
    if (i >= this.maxEntries) fail(sc, 'ENOENT', `index ${i} >= max_entries ${this.maxEntries}`);
    const out = new Uint8Array(this.sysValueSize(this.cpus));
    for (let c = 0; c < this.cpus; c++) {
      const o = this.off(i, c);
      out.set(this.region.bytes.subarray(o, o + this.valueSize), c * this.elemSize);
    }
    return out;
  }
  updateSys(key: Uint8Array, value: Uint8Array, flags: number): void {
    const sc = 'bpf(BPF_MAP_UPDATE_ELEM)';
    if ((flags & ~BPF_F_LOCK_MASK) > BPF_EXIST) fail(sc, 'EINVAL', `flags ${flags}`);
    const i = u32(key);
    if (i >= this.maxEntries) fail(sc, 'E2BIG', `index ${i} >= max_entries ${this.maxEntries}`);
    if (flags & BPF_NOEXIST) fail(sc, 'EEXIST', 'array elements always exist');
    for (let c = 0; c < this.cpus; c++) {
      const src = this.percpu ? value.subarray(c * this.elemSize, c * this.elemSize + this.valueSize) : value.subarray(0, this.valueSize);
      this.region.bytes.set(src, this.off(i, c));
    }
  }
  deleteSys(): void {
    fail('bpf(BPF_MAP_DELETE_ELEM)', 'EINVAL', 'array elements cannot be deleted');
  }
  getNextKey(key: Uint8Array | null): Uint8Array {
    return arrayNextKey('bpf(BPF_MAP_GET_NEXT_KEY)', key, this.maxEntries);
  }
  override progLookup(key: Uint8Array, cpu: number): number {
    const i = u32(key);
    if (i >= this.maxEntries) return 0;
    return this.region.base + this.off(i, this.percpu ? cpu : 0);
  }
  override progUpdate(key: Uint8Array, value: Uint8Array, flags: number, cpu: number): number {
    if ((flags & ~BPF_F_LOCK_MASK) > BPF_EXIST) return -22;
    const i = u32(key);
    if (i >= this.maxEntries) return -7;
    if (flags & BPF_NOEXIST) return -17;
    this.region.bytes.set(value.subarray(0, this.valueSize), this.off(i, this.percpu ? cpu : 0));
    return 0;
  }
  override progDelete(): number {
    return -22;
  }
}
