/**
 * BpfMap: a map fd with its spec, typed keys/values and fd ownership (cilium/ebpf's Map,
 * aya's maps). Works over any Kernel: LinuxKernel (real bpf(2)) or SimKernel.
 */
import { BPF_ANY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS } from '../kernel/constants.js';
import { ERRNO, SysError } from '../kernel/errno.js';
import type { Kernel, MapInfo } from '../kernel/kernel.js';
import { bytes, type Codec } from './codec.js';
import { MmapArray } from './mmap_array.js';

export interface MapSpec {
  /** BPF_MAP_TYPE_* */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** map_flags (BPF_F_*). */
  flags?: number;
  /** At most 15 characters of [A-Za-z0-9_.]. */
  name?: string;
  numaNode?: number;
  /** Template for ARRAY_OF_MAPS / HASH_OF_MAPS: a spec (a temporary map is made) or a map. */
  innerMap?: MapSpec | BpfMap<any, any>;
}

export interface MapCodecs<K, V> {
  key?: Codec<K>;
  value?: Codec<V>;
}

function checkSpec(spec: MapSpec): void {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('MapSpec must be an object');
  for (const f of ['type', 'keySize', 'valueSize', 'maxEntries'] as const) {
    const v = spec[f];
    if (typeof v !== 'number') throw new TypeError(`MapSpec.${f} must be a number, got ${typeof v}`);
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`MapSpec.${f} must be a u32, got ${v}`);
  }
  if (spec.flags !== undefined && (!Number.isInteger(spec.flags) || spec.flags < 0 || spec.flags > 0xffffffff)) throw new RangeError(`MapSpec.flags must be a u32, got ${spec.flags}`);
  if (spec.name !== undefined && typeof spec.name !== 'string') throw new TypeError('MapSpec.name must be a string');
}

const isMissing = (e: unknown): boolean => e instanceof SysError && e.errno === ERRNO.ENOENT;
/** The map type has no batch operations (generic syscall.c BPF_DO_BATCH answer). */
const noBatch = (e: unknown): boolean => e instanceof SysError && (e.errno === ERRNO.ENOTSUPP || e.errno === ERRNO.EOPNOTSUPP);

export class BpfMap<K = Uint8Array, V = Uint8Array> {
  readonly kernel: Kernel;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly name: string;
  private readonly keyCodec: Codec<K>;
  private readonly valueCodec: Codec<V>;
  /** Scratch for encoded keys/values: the hot path allocates nothing on the way in. */
  private readonly keyBuf: Uint8Array;
  private readonly nextBuf: Uint8Array;
  private readonly valueBuf: Uint8Array;
  private _fd: number;
  private mapped: MmapArray<V> | undefined;

  /** Take ownership of `fd` (a map with geometry `info`). Prefer create/fromPin/fromId. */
  constructor(kernel: Kernel, fd: number, info: Pick<MapInfo, 'type' | 'keySize' | 'valueSize' | 'maxEntries' | 'mapFlags' | 'name'>, codecs: MapCodecs<K, V> = {}) {
    this.kernel = kernel;
    this._fd = fd;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.mapFlags;
    this.name = info.name;
    this.keyCodec = codecs.key ?? (bytes(info.keySize) as unknown as Codec<K>);
    this.valueCodec = codecs.value ?? (bytes(info.valueSize) as unknown as Codec<V>);
    if (this.keyCodec.size !== info.keySize) throw new RangeError(`key codec is ${this.keyCodec.size} bytes, the map's key_size is ${info.keySize}`);
    if (this.valueCodec.size !== info.valueSize) throw new RangeError(`value codec is ${this.valueCodec.size} bytes, the map's value_size is ${info.valueSize}`);
    this.keyBuf = new Uint8Array(info.keySize);
    this.nextBuf = new Uint8Array(info.keySize);
    this.valueBuf = new Uint8Array(info.valueSize);
  }

  /** BPF_MAP_CREATE from a spec. */
  static create<K = Uint8Array, V = Uint8Array>(kernel: Kernel, spec: MapSpec, codecs?: MapCodecs<K, V>): BpfMap<K, V> {
    checkSpec(spec);
    let innerFd: number | undefined;
    let temp: BpfMap<any, any> | undefined;
    if (spec.innerMap !== undefined) {
      if (spec.type !== BPF_MAP_TYPE_ARRAY_OF_MAPS && spec.type !== BPF_MAP_TYPE_HASH_OF_MAPS) throw new TypeError('MapSpec.innerMap is only for ARRAY_OF_MAPS / HASH_OF_MAPS');
      if (spec.innerMap instanceof BpfMap) innerFd = spec.innerMap.fd;
      else { temp = BpfMap.create(kernel, spec.innerMap); innerFd = temp.fd; }
    }
    try {
      const fd = kernel.mapCreate({
        mapType: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries,
        mapFlags: spec.flags ?? 0, innerMapFd: innerFd, numaNode: spec.numaNode, name: spec.name,
      });
      try {
        return new BpfMap<K, V>(kernel, fd, { type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries, mapFlags: spec.flags ?? 0, name: spec.name ?? '' }, codecs);
      } catch (e) { kernel.close(fd); throw e; }
    } finally {
      temp?.close(); // the kernel copied what it needs from the template
    }
  }

  /** Adopt an fd this process already holds (inherited, received...). Takes ownership. */
  static fromFd<K = Uint8Array, V = Uint8Array>(kernel: Kernel, fd: number, codecs?: MapCodecs<K, V>): BpfMap<K, V> {
    const info = kernel.mapGetInfo(fd);
    return new BpfMap<K, V>(kernel, fd, info, codecs);
  }

  /** BPF_OBJ_GET of a bpffs pin. */
  static fromPin<K = Uint8Array, V = Uint8Array>(kernel: Kernel, path: string, codecs?: MapCodecs<K, V>): BpfMap<K, V> {
    return BpfMap.adopt(kernel, kernel.objGet(path), codecs);
  }

  /** BPF_MAP_GET_FD_BY_ID (needs CAP_SYS_ADMIN). */
  static fromId<K = Uint8Array, V = Uint8Array>(kernel: Kernel, id: number, codecs?: MapCodecs<K, V>): BpfMap<K, V> {
    return BpfMap.adopt(kernel, kernel.mapGetFdById(id), codecs);
  }

  private static adopt<K, V>(kernel: Kernel, fd: number, codecs?: MapCodecs<K, V>): BpfMap<K, V> {
    try { return BpfMap.fromFd(kernel, fd, codecs); } catch (e) { kernel.close(fd); throw e; }
  }

  get fd(): number {
    if (this._fd < 0) throw new Error(`BpfMap${this.name ? ` "${this.name}"` : ''} used after close()`);
    return this._fd;
  }

  get closed(): boolean { return this._fd < 0; }

  /** The value at key, or undefined when there is none (ENOENT). Other errnos throw. */
  lookup(key: K): V | undefined {
    this.keyCodec.encodeInto(key, this.keyBuf);
    let raw: Uint8Array;
    try { raw = this.kernel.mapLookupElem(this.fd, this.keyBuf); } catch (e) { if (isMissing(e)) return undefined; throw e; }
    return this.valueCodec.decode(raw);
  }

  /** BPF_MAP_UPDATE_ELEM; flags BPF_ANY (default) / BPF_NOEXIST / BPF_EXIST. */
  update(key: K, value: V, flags: number = BPF_ANY): void {
    this.keyCodec.encodeInto(key, this.keyBuf);
    this.valueCodec.encodeInto(value, this.valueBuf);
    this.kernel.mapUpdateElem(this.fd, this.keyBuf, this.valueBuf, flags);
  }

  /** true when an element was deleted, false when there was none (ENOENT). */
  delete(key: K): boolean {
    this.keyCodec.encodeInto(key, this.keyBuf);
    try { this.kernel.mapDeleteElem(this.fd, this.keyBuf); return true; } catch (e) { if (isMissing(e)) return false; throw e; }
  }

  /**
   * Update many elements in one BPF_MAP_UPDATE_BATCH (one syscall instead of one per element).
   * Falls back to element-wise updates on kernels or map types without batch support.
   */
  batchUpdate(entries: ReadonlyArray<readonly [K, V]>, flags: number = BPF_ANY): void {
    if (!Array.isArray(entries)) throw new TypeError('batchUpdate: entries must be an array of [key, value]');
    const n = entries.length;
    if (n === 0) return;
    const ks = this.keySize, vs = this.valueSize;
    const update = this.kernel.mapUpdateBatch;
    if (update) {
      const keys = new Uint8Array(n * ks), values = new Uint8Array(n * vs);
      for (let i = 0; i < n; i++) {
        const [k, v] = entries[i]!;
        this.keyCodec.encodeInto(k, this.keyBuf);
        this.valueCodec.encodeInto(v, this.valueBuf);
        for (let j = 0; j < ks; j++) keys[i * ks + j] = this.keyBuf[j]!;
        for (let j = 0; j < vs; j++) values[i * vs + j] = this.valueBuf[j]!;
      }
      try { update.call(this.kernel, this.fd, keys, values, n, flags); return; } catch (e) { if (!noBatch(e)) throw e; }
    }
    for (const [k, v] of entries) this.update(k, v, flags);
  }

  /**
   * Every [key, value] through BPF_MAP_LOOKUP_BATCH, `batchSize` elements per syscall; falls back
   * to iterate() where batches are not supported.
   */
  batchLookup(batchSize = 256): Array<[K, V]> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchLookup: batchSize must be a positive integer, got ${batchSize}`);
    const lookup = this.kernel.mapLookupBatch;
    if (lookup) {
      const out: Array<[K, V]> = [];
      const ks = this.keySize, vs = this.valueSize;
      let token: Uint8Array | null = null;
      try {
        do {
          const b: { keys: Uint8Array; values: Uint8Array; count: number; nextBatch: Uint8Array | null } = lookup.call(this.kernel, this.fd, token, batchSize);
          for (let i = 0; i < b.count; i++) {
            out.push([this.keyCodec.decode(b.keys.slice(i * ks, (i + 1) * ks)), this.valueCodec.decode(b.values.slice(i * vs, (i + 1) * vs))]);
          }
          token = b.nextBatch;
        } while (token);
        return out;
      } catch (e) {
        if (!noBatch(e) || out.length) throw e;
      }
    }
    return [...this.iterate()];
  }

  /** The key after `key` (null: the first key); undefined after the last. */
  nextKey(key: K | null): K | undefined {
    let raw: Uint8Array;
    try {
      if (key === null) raw = this.kernel.mapGetNextKey(this.fd, null);
      else { this.keyCodec.encodeInto(key, this.nextBuf); raw = this.kernel.mapGetNextKey(this.fd, this.nextBuf); }
    } catch (e) { if (isMissing(e)) return undefined; throw e; }
    return this.keyCodec.decode(raw);
  }

  /** Every key, in the kernel's GET_NEXT_KEY order. */
  *keys(): IterableIterator<K> {
    let raw: Uint8Array | null = null;
    for (;;) {
      try { raw = this.kernel.mapGetNextKey(this.fd, raw); } catch (e) { if (isMissing(e)) return; throw e; }
      raw = raw.slice(); // the next call must not see a buffer the caller may keep
      yield this.keyCodec.decode(raw.slice());
    }
  }

  /** [key, value] for every key that has a value (keys whose lookup says ENOENT are skipped). */
  *iterate(): IterableIterator<[K, V]> {
    let raw: Uint8Array | null = null;
    for (;;) {
      try { raw = this.kernel.mapGetNextKey(this.fd, raw); } catch (e) { if (isMissing(e)) return; throw e; }
      raw = raw.slice();
      let value: Uint8Array;
      try { value = this.kernel.mapLookupElem(this.fd, raw); } catch (e) { if (isMissing(e)) continue; throw e; }
      yield [this.keyCodec.decode(raw.slice()), this.valueCodec.decode(value)];
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V]> { return this.iterate(); }

  /** BPF_OBJ_PIN to a bpffs path. */
  pin(path: string): void { this.kernel.objPin(this.fd, path); }

  info(): MapInfo { return this.kernel.mapGetInfo(this.fd); }

  /**
   * The values of an ARRAY map created with `flags: BPF_F_MMAPABLE`, mmap(2)ed: get/set without a
   * syscall, seen by programs at once (see MmapArray for atomicity). One mapping per map, dropped
   * by close(). SysError ENOTSUPP (not an ARRAY) / EINVAL (no BPF_F_MMAPABLE) / EACCES (read-only fd).
   */
  mmap(): MmapArray<V> {
    const fd = this.fd;
    if (this.mapped) return this.mapped;
    const mmap = this.kernel.mapMmap;
    if (!mmap) throw new Error(`mmap: this ${this.kernel.kind} kernel does not implement mapMmap`);
    this.mapped = new MmapArray(mmap.call(this.kernel, fd), this.maxEntries, this.valueSize, this.valueCodec);
    return this.mapped;
  }
  /** Close the fd (idempotent). The map lives on while pinned or referenced elsewhere. */
  close(): void {
    if (this._fd < 0) return;
    const fd = this._fd;
    this._fd = -1;
    this.mapped?.markClosed();
    this.kernel.close(fd);
  }
}
