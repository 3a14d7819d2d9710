/**
 * BPF_MAP_TYPE_ARRAY_OF_MAPS / HASH_OF_MAPS (kernel/bpf/map_in_map.c, arraymap.c, hashtab.c):
 * values are inner-map fds on update and inner-map ids on lookup; programs get the inner map.
 */
import {
  BPF_ANY, BPF_EXIST, BPF_F_INNER_MAP, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_PROG_ARRAY,
  BPF_NOEXIST, fail, type MapCreateAttr,
} from './uapi.js';
import { BpfMap, arrayNextKey, fromHex, keyHex, u32, u32bytes, type FdResolver } from './bpf_map.js';
import { arrayAllocCheck } from './arraymap.js';
import { htabAllocCheck } from './hashtab.js';

/** fd_array_map_alloc_check() / fd_htab_map_alloc_check(). */
export function mapInMapAllocCheck(sc: string, a: MapCreateAttr, sysAdmin: boolean): void {
  if (a.valueSize !== 4) fail(sc, 'EINVAL', 'map-in-map values are 4-byte map fds');
  if (a.mapType === BPF_MAP_TYPE_ARRAY_OF_MAPS) arrayAllocCheck(sc, { ...a, mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS });
  else htabAllocCheck(sc, a, sysAdmin);
}

/** bpf_map_meta_alloc(): which maps may be inner maps. */
export function checkInnerTemplate(sc: string, inner: BpfMap): void {
  if (inner.type === BPF_MAP_TYPE_PROG_ARRAY || inner.type === BPF_MAP_TYPE_ARRAY_OF_MAPS || inner.type === BPF_MAP_TYPE_HASH_OF_MAPS) {
    fail(sc, 'EINVAL', `map type ${inner.type} cannot be an inner map`);
  }
}

/** ops->map_meta_equal: bpf_map_meta_equal(), plus max_entries for arrays (array_map_meta_equal) unless BPF_F_INNER_MAP. */
export function metaEqual(meta: BpfMap, m: BpfMap): boolean {
  const same = meta.type === m.type && meta.keySize === m.keySize && meta.valueSize === m.valueSize && meta.mapFlags === m.mapFlags;
  if (!same) return false;
  if (meta.type === BPF_MAP_TYPE_ARRAY || meta.type === BPF_MAP_TYPE_PERCPU_ARRAY) {
    return (meta.mapFlags & BPF_F_INNER_MAP) !== 0 || meta.maxEntries === m.maxEntries;
  }
  return true;
}

export class MapInMap extends BpfMap {
  private readonly arr = new Map<number, BpfMap>();
  private readonly hash = new Map<string, BpfMap>();
  constructor(a: MapCreateAttr, storedFlags: number, meta: BpfMap) {
    super(a.mapType, a.keySize, 4, a.maxEntries, storedFlags, a.name ?? '');
    this.innerMeta = meta;
  }
  get isArray(): boolean {
    return this.type === BPF_MAP_TYPE_ARRAY_OF_MAPS;
  }
  storageSize(): number {
    return 0;
  }
  private get(key: Uint8Array): BpfMap | undefined {
    return this.isArray ? this.arr.get(u32(key)) : this.hash.get(keyHex(key.subarray(0, this.keySize)));
  }
  lookupSys(key: Uint8Array): Uint8Array {
    const m = this.get(key);
    if (!m) fail('bpf(BPF_MAP_LOOKUP_ELEM)', 'ENOENT', 'no inner map at this key');
    return u32bytes(m.id);
  }
  updateSys(key: Uint8Array, value: Uint8Array, flags: number, fds: FdResolver): void {
    const sc = 'bpf(BPF_MAP_UPDATE_ELEM)';
    if (this.isArray) {
      if (flags !== BPF_ANY) fail(sc, 'EINVAL', 'ARRAY_OF_MAPS takes BPF_ANY only');
      const i = u32(key);
      if (i >= this.maxEntries) fail(sc, 'E2BIG', `index ${i} >= max_entries ${this.maxEntries}`);
    } else if (flags > BPF_EXIST) {
      fail(sc, 'EINVAL', `flags ${flags}`);
    }
    const fd = new DataView(value.buffer, value.byteOffset, 4).getInt32(0, true);
    const inner = fds.map(fd, sc);
    if (!metaEqual(this.innerMeta!, inner)) fail(sc, 'EINVAL', 'inner map does not match the template (type, key/value size, flags, max_entries)');
    if (this.isArray) {
      const i = u32(key);
      const old = this.arr.get(i);
      if (old) old.refs--;
      inner.refs++;
      this.arr.set(i, inner);
      return;
    }
    const k = keyHex(key.subarray(0, this.keySize));
    const old = this.hash.get(k);
    if (old && flags === BPF_NOEXIST) fail(sc, 'EEXIST', 'key exists');
    if (!old && flags === BPF_EXIST) fail(sc, 'ENOENT', 'no such key');
    if (!old && this.hash.size >= this.maxEntries) fail(sc, 'E2BIG', 'map is full');
    if (old) old.refs--;
    inner.refs++;
    this.hash.set(k, inner);
  }
  deleteSys(key: Uint8Array): void {
    const sc = 'bpf(BPF_MAP_DELETE_ELEM)';
    if (this.isArray) {
      const i = u32(key);
      if (i >= this.maxEntries) fail(sc, 'E2BIG', `index ${i} >= max_entries ${this.maxEntries}`);
      const m = this.arr.get(i);
      if (!m) fail(sc, 'ENOENT', `index ${i} is empty`);
      m.refs--;
      this.arr.delete(i);
      return;
    }
    const k = keyHex(key.subarray(0, this.keySize));
    const m = this.hash.get(k);
    if (!m) fail(sc, 'ENOENT', 'no such key');
    m.refs--;
    this.hash.delete(k);
  }
  getNextKey(key: Uint8Array | null): Uint8Array {
    const sc = 'bpf(BPF_MAP_GET_NEXT_KEY)';
    if (this.isArray) return arrayNextKey(sc, key, this.maxEntries);
    const keys = [...this.hash.keys()];
    const i = key === null ? -1 : keys.indexOf(keyHex(key.subarray(0, this.keySize)));
    if (i < 0) {
      if (!keys.length) fail(sc, 'ENOENT', 'map is empty');
      return fromHex(keys[0]!);
    }
    if (i + 1 >= keys.length) fail(sc, 'ENOENT', 'last key');
    return fromHex(keys[i + 1]!);
  }
  /** Program view: the inner map's handle (its region base) or NULL. */
  override progLookup(key: Uint8Array): number {
    const m = this.get(key);
    return m ? m.region.base : 0;
  }
  innerMaps(): Iterable<BpfMap> {
    return this.isArray ? this.arr.values() : this.hash.values();
  }
  override free(): void {
    for (const m of this.innerMaps()) m.refs--;
    super.free();
  }
}
export { BPF_MAP_TYPE_HASH_OF_MAPS };
