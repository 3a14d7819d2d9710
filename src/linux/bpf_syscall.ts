/**
 * bpf(2) through `syscall(SYS_bpf, cmd, &attr, sizeof attr)`. Element operations reuse
 * preallocated attr/key/value buffers whose pointer fields are written once: a hot-path call
 * writes only the map fd and flags (a Buffer per call costs ~3 µs, see platform-notes).
 */
import * as C from '../kernel/constants.js';
import { SysError } from '../kernel/errno.js';
import type { MapBatch, MapCreateAttr, MapInfo, ProgInfo, ProgLoadAttr } from '../kernel/kernel.js';
import { readFileSync, readlinkSync } from 'node:fs';
import type { Libc } from './libc.js';

/** sizeof(union bpf_attr) in the 6.1 uapi; newer kernels accept a shorter, zero-tailed attr. */
export const BPF_ATTR_SIZE = 144;
const MAP_INFO_SIZE = 88;
const PROG_INFO_SIZE = 224;
/** Verifier log size limit (kernel/bpf/log.c: UINT_MAX >> 2 on 6.x, 16 MiB - 1 before 5.2). */
const LOG_MAX = 16 * 1024 * 1024 - 1;

const CMD_NAMES: Record<number, string> = {
  [C.BPF_MAP_CREATE]: 'BPF_MAP_CREATE', [C.BPF_MAP_LOOKUP_ELEM]: 'BPF_MAP_LOOKUP_ELEM',
  [C.BPF_MAP_UPDATE_ELEM]: 'BPF_MAP_UPDATE_ELEM', [C.BPF_MAP_DELETE_ELEM]: 'BPF_MAP_DELETE_ELEM',
  [C.BPF_MAP_GET_NEXT_KEY]: 'BPF_MAP_GET_NEXT_KEY', [C.BPF_PROG_LOAD]: 'BPF_PROG_LOAD',
  [C.BPF_OBJ_PIN]: 'BPF_OBJ_PIN', [C.BPF_OBJ_GET]: 'BPF_OBJ_GET',
  [C.BPF_MAP_GET_FD_BY_ID]: 'BPF_MAP_GET_FD_BY_ID', [C.BPF_PROG_GET_FD_BY_ID]: 'BPF_PROG_GET_FD_BY_ID',
  [C.BPF_OBJ_GET_INFO_BY_FD]: 'BPF_OBJ_GET_INFO_BY_FD', [C.BPF_ENABLE_STATS]: 'BPF_ENABLE_STATS',
  [C.BPF_MAP_LOOKUP_BATCH]: 'BPF_MAP_LOOKUP_BATCH', [C.BPF_MAP_UPDATE_BATCH]: 'BPF_MAP_UPDATE_BATCH',
};
export const bpfCmdName = (cmd: number): string => `bpf(${CMD_NAMES[cmd] ?? cmd})`;

/** Key and value geometry of a map fd, remembered so lookups can size their result. */
interface MapGeometry { keySize: number; valueSize: number }

const PERCPU_TYPES = new Set([C.BPF_MAP_TYPE_PERCPU_HASH, C.BPF_MAP_TYPE_PERCPU_ARRAY, C.BPF_MAP_TYPE_LRU_PERCPU_HASH, 21 /* PERCPU_CGROUP_STORAGE */]);

function possibleCpus(): number {
  try {
    // '0-3' or '0,2-5': count every listed CPU (the kernel sizes per-cpu values by possible CPUs)
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8');
    let n = 0;
    for (const part of text.trim().split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a! + 1;
    }
    return n || 1;
  } catch { return 1; }
}

/** Geometry of the map fds this process opened or met; entries are dropped by close(). */
const knownMaps = new Map<number, MapGeometry>();
const UNKNOWN: MapGeometry = { keySize: -1, valueSize: 0 };

const addr = (c: Libc, b: Uint8Array): bigint => c.koffi.address(b) as bigint;

/**
 * A copy of `bytes` in a buffer whose address may be stored in a bpf_attr: at least 128 bytes
 * so V8 never keeps it on its moving heap (typed arrays up to 64 bytes may live there).
 */
function offHeap(bytes: Uint8Array | string, extra = 0): Buffer {
  const src = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const b = Buffer.alloc(Math.max(128, src.length + extra));
  b.set(src);
  return b;
}

export class BpfSyscall {
  private readonly c: Libc;
  private readonly nr: number;
  /** fd -> geometry of map fds (shared by every instance: fd numbers are per process). */
  readonly maps = knownMaps;
  private keyBuf: Buffer;
  private nextBuf: Buffer;
  private valueBuf: Buffer;
  /** attr for LOOKUP/UPDATE: key -> keyBuf, value -> valueBuf (fd and flags written per call). */
  private readonly attrElem = Buffer.alloc(BPF_ATTR_SIZE);
  private readonly elem32 = new Uint32Array(this.attrElem.buffer, this.attrElem.byteOffset, BPF_ATTR_SIZE / 4);
  private readonly delete32: Uint32Array;
  /** attr for DELETE: only fd and key (DELETE's last known field is `key`). */
  private readonly attrDelete = Buffer.alloc(BPF_ATTR_SIZE);
  /** attr for GET_NEXT_KEY: key -> keyBuf, next_key -> nextBuf. */
  private readonly attrNext = Buffer.alloc(BPF_ATTR_SIZE);
  /** attr for GET_NEXT_KEY with a NULL key. */
  private readonly attrFirst = Buffer.alloc(BPF_ATTR_SIZE);
  private readonly attr = Buffer.alloc(BPF_ATTR_SIZE);
  private cpus = 0;

  constructor(c: Libc, nr: number) {
    this.delete32 = new Uint32Array(this.attrDelete.buffer, this.attrDelete.byteOffset, BPF_ATTR_SIZE / 4);
    this.c = c;
    this.nr = nr;
    this.keyBuf = Buffer.alloc(256);
    this.nextBuf = Buffer.alloc(256);
    this.valueBuf = Buffer.alloc(256);
    this.wirePointers();
  }

  private wirePointers(): void {
    const k = addr(this.c, this.keyBuf), v = addr(this.c, this.valueBuf), n = addr(this.c, this.nextBuf);
    this.attrElem.writeBigUInt64LE(k, 8);
    this.attrElem.writeBigUInt64LE(v, 16);
    this.attrDelete.writeBigUInt64LE(k, 8);
    this.attrNext.writeBigUInt64LE(k, 8);
    this.attrNext.writeBigUInt64LE(n, 16);
    this.attrFirst.writeBigUInt64LE(0n, 8);
    this.attrFirst.writeBigUInt64LE(n, 16);
  }

  private ensure(keySize: number, valueSize: number): void {
    if (keySize <= this.keyBuf.length && valueSize <= this.valueBuf.length) return;
    const grow = (b: Buffer, need: number) => (need <= b.length ? b : Buffer.alloc(Math.max(need, b.length * 2)));
    this.keyBuf = grow(this.keyBuf, keySize);
    this.nextBuf = grow(this.nextBuf, keySize);
    this.valueBuf = grow(this.valueBuf, valueSize);
    this.wirePointers();
  }

  /** Raw call; returns the result or throws SysError with errno read right after the call. */
  call(cmd: number, attr: Buffer, log?: string): number {
    const r = this.c.syscall(this.nr, cmd, attr, BPF_ATTR_SIZE) as number;
    if (r < 0) throw new SysError(bpfCmdName(cmd), this.c.errno(), undefined, log);
    return r;
  }

  /** Geometry of a map fd; UNKNOWN for anything that is not a bpf map (the kernel then says why). */
  private geometry(fd: number): MapGeometry {
    const g = this.maps.get(fd);
    if (g) return g;
    let link = '';
    try { link = readlinkSync(`/proc/self/fd/${fd}`); } catch { /* closed or invalid fd */ }
    if (link !== 'anon_inode:bpf-map') return UNKNOWN;
    const info = this.mapInfo(fd); // EBADF / EINVAL for a non-map fd, as the kernel says
    const valueSize = PERCPU_TYPES.has(info.type) ? Math.ceil(info.valueSize / 8) * 8 * (this.cpus ||= possibleCpus()) : info.valueSize;
    const geo = { keySize: info.keySize, valueSize };
    this.maps.set(fd, geo);
    return geo;
  }

  remember(fd: number): void {
    this.maps.delete(fd);
    try { this.geometry(fd); } catch { /* not a map: nothing to remember */ }
  }

  private loadKey(fd: number, key: Uint8Array, what: string): MapGeometry {
    const g = this.maps.get(fd) ?? this.geometry(fd);
    if (g === UNKNOWN) { this.ensure(key.length, 8); this.keyBuf.set(key); return g; }
    const n = key.length;
    if (n !== g.keySize) throw new RangeError(`${what}: key is ${n} bytes, the map's key_size is ${g.keySize}`);
    if (n > this.keyBuf.length || g.valueSize > this.valueBuf.length) this.ensure(n, g.valueSize);
    copySmall(this.keyBuf, key, n);
    return g;
  }

  mapCreate(a: MapCreateAttr): number {
    const b = this.attr.fill(0);
    b.writeUInt32LE(a.mapType >>> 0, 0);
    b.writeUInt32LE(a.keySize >>> 0, 4);
    b.writeUInt32LE(a.valueSize >>> 0, 8);
    b.writeUInt32LE(a.maxEntries >>> 0, 12);
    b.writeUInt32LE((a.mapFlags ?? 0) >>> 0, 16);
    b.writeUInt32LE((a.innerMapFd ?? 0) >>> 0, 20);
    b.writeUInt32LE((a.numaNode ?? 0) >>> 0, 24);
    if (a.name) Buffer.from(a.name, 'utf8').copy(b, 28, 0, 16);
    const fd = this.call(C.BPF_MAP_CREATE, b);
    const valueSize = PERCPU_TYPES.has(a.mapType) ? Math.ceil(a.valueSize / 8) * 8 * (this.cpus ||= possibleCpus()) : a.valueSize;
    this.maps.set(fd, { keySize: a.keySize, valueSize });
    return fd;
  }

  lookup(fd: number, key: Uint8Array): Uint8Array {
    const g = this.loadKey(fd, key, 'mapLookupElem');
    const a = this.elem32;
    a[0] = fd; a[6] = 0; a[7] = 0;
    if ((this.c.syscall(this.nr, C.BPF_MAP_LOOKUP_ELEM, this.attrElem, BPF_ATTR_SIZE) as number) < 0) throw new SysError('bpf(BPF_MAP_LOOKUP_ELEM)', this.c.errno());
    return this.valueBuf.slice(0, g.valueSize);
  }

  update(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void {
    const g = this.loadKey(fd, key, 'mapUpdateElem');
    if (g === UNKNOWN) this.ensure(0, value.length);
    else if (value.length !== g.valueSize) throw new RangeError(`mapUpdateElem: value is ${value.length} bytes, the map's value_size is ${g.valueSize}`);
    copySmall(this.valueBuf, value, value.length);
    const a = this.elem32;
    a[0] = fd; a[6] = flags >>> 0; a[7] = (flags / 4294967296) >>> 0;
    if ((this.c.syscall(this.nr, C.BPF_MAP_UPDATE_ELEM, this.attrElem, BPF_ATTR_SIZE) as number) < 0) throw new SysError('bpf(BPF_MAP_UPDATE_ELEM)', this.c.errno());
  }

  delete(fd: number, key: Uint8Array): void {
    this.loadKey(fd, key, 'mapDeleteElem');
    this.delete32[0] = fd;
    this.call(C.BPF_MAP_DELETE_ELEM, this.attrDelete);
  }

  nextKey(fd: number, key: Uint8Array | null): Uint8Array {
    let g: MapGeometry;
    let attr: Buffer;
    if (key === null) {
      g = this.geometry(fd);
      this.ensure(g.keySize, g.valueSize);
      attr = this.attrFirst;
    } else {
      g = this.loadKey(fd, key, 'mapGetNextKey');
      attr = this.attrNext;
    }
    attr.writeUInt32LE(fd, 0);
    this.call(C.BPF_MAP_GET_NEXT_KEY, attr);
    return new Uint8Array(this.nextBuf.subarray(0, g.keySize));
  }

  /** BPF_MAP_UPDATE_BATCH: attr.batch = {in_batch, out_batch, keys @16, values @24, count @32, map_fd @36, elem_flags @40, flags @48}. */
  updateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number, elemFlags: number): void {
    const g = this.geometry(fd);
    if (g !== UNKNOWN && (keys.length < count * g.keySize || values.length < count * g.valueSize)) {
      throw new RangeError(`mapUpdateBatch: ${count} elements need ${count * g.keySize} key and ${count * g.valueSize} value bytes`);
    }
    const k = offHeap(keys), v = offHeap(values);
    const b = this.attr.fill(0);
    b.writeBigUInt64LE(addr(this.c, k), 16);
    b.writeBigUInt64LE(addr(this.c, v), 24);
    b.writeUInt32LE(count >>> 0, 32);
    b.writeUInt32LE(fd >>> 0, 36);
    b.writeUInt32LE(elemFlags >>> 0, 40);
    this.call(C.BPF_MAP_UPDATE_BATCH, b);
  }

  /** BPF_MAP_LOOKUP_BATCH; ENOENT means "no more elements" (with the ones read so far). */
  lookupBatch(fd: number, inBatch: Uint8Array | null, count: number): MapBatch {
    const g = this.geometry(fd);
    const ks = Math.max(g.keySize, 0), vs = g.valueSize;
    const tokenSize = Math.max(ks, 4); // htab: u32 bucket; generic (array): key_size bytes
    const inTok = inBatch ? offHeap(inBatch) : null;
    const outTok = Buffer.alloc(Math.max(128, tokenSize));
    const k = Buffer.alloc(Math.max(128, count * ks)), v = Buffer.alloc(Math.max(128, count * vs));
    const b = this.attr.fill(0);
    if (inTok) b.writeBigUInt64LE(addr(this.c, inTok), 0);
    b.writeBigUInt64LE(addr(this.c, outTok), 8);
    b.writeBigUInt64LE(addr(this.c, k), 16);
    b.writeBigUInt64LE(addr(this.c, v), 24);
    b.writeUInt32LE(count >>> 0, 32);
    b.writeUInt32LE(fd >>> 0, 36);
    const r = this.c.syscall(this.nr, C.BPF_MAP_LOOKUP_BATCH, b, BPF_ATTR_SIZE) as number;
    const errno = r < 0 ? this.c.errno() : 0;
    if (r < 0 && errno !== 2 /* ENOENT: end of map */) throw new SysError(bpfCmdName(C.BPF_MAP_LOOKUP_BATCH), errno);
    const got = b.readUInt32LE(32);
    return {
      keys: new Uint8Array(k.subarray(0, got * ks)), values: new Uint8Array(v.subarray(0, got * vs)), count: got,
      nextBatch: r < 0 ? null : new Uint8Array(outTok.subarray(0, tokenSize)),
    };
  }

  progLoad(a: ProgLoadAttr): number {
    const insns = offHeap(a.insns);
    const insnCnt = Math.floor(a.insns.length / 8);
    const license = offHeap(a.license ?? 'GPL', 1);
    const userLevel = a.logLevel ?? 0;
    const load = (level: number, log: Buffer | null): number => {
      const b = this.attr.fill(0);
      b.writeUInt32LE(a.progType >>> 0, 0);
      b.writeUInt32LE(insnCnt, 4);
      b.writeBigUInt64LE(addr(this.c, insns), 8);
      b.writeBigUInt64LE(addr(this.c, license), 16);
      b.writeUInt32LE(level >>> 0, 24);
      if (log) {
        b.writeUInt32LE(log.length, 28);
        b.writeBigUInt64LE(addr(this.c, log), 32);
      }
      b.writeUInt32LE((a.progFlags ?? 0) >>> 0, 44);
      if (a.name) Buffer.from(a.name, 'utf8').copy(b, 48, 0, 16);
      b.writeUInt32LE((a.expectedAttachType ?? 0) >>> 0, 68);
      const r = this.c.syscall(this.nr, C.BPF_PROG_LOAD, b, BPF_ATTR_SIZE) as number;
      return r < 0 ? -this.c.errno() : r;
    };
    const text = (log: Buffer) => { const end = log.indexOf(0); return log.toString('utf8', 0, end < 0 ? log.length : end); };
    const name = bpfCmdName(C.BPF_PROG_LOAD);

    const sized = (n: number) => Buffer.alloc(Math.max(128, n)).subarray(0, n);
    if (userLevel !== 0 && a.logSize !== undefined) {
      // The caller chose level and size: behave exactly as the kernel does (ENOSPC on overflow).
      const log = a.logSize ? sized(a.logSize) : null;
      const r = load(userLevel, log);
      if (r < 0) throw new SysError(name, -r, undefined, log ? text(log) : '');
      return r;
    }
    // Level 0 ("log only on failure"): load without a log (cheap); when refused, load again with
    // a level-1 log to explain why. Without a caller-given size the buffer grows while the
    // kernel says it was too small (ENOSPC), as libbpf does; the error keeps the first errno.
    let errno = 0;
    if (userLevel === 0) {
      const r = load(0, null);
      if (r >= 0) return r;
      errno = -r;
    }
    let size = a.logSize ?? 64 * 1024;
    for (;;) {
      const log = size ? sized(size) : null;
      const r2 = load(userLevel || 1, log);
      if (r2 >= 0) {
        if (userLevel !== 0) return r2;
        this.c.close(r2);
        throw new SysError(name, errno, 'refused without a log, accepted with one', log ? text(log) : '');
      }
      if (-r2 === 28 /* ENOSPC */ && a.logSize === undefined && size < LOG_MAX) { size = Math.min(size * 4, LOG_MAX); continue; }
      throw new SysError(name, errno || -r2, undefined, log ? text(log) : '');
    }
  }

  objPin(fd: number, path: string): void {
    const p = offHeap(path, 1);
    const b = this.attr.fill(0);
    b.writeBigUInt64LE(addr(this.c, p), 0);
    b.writeUInt32LE(fd >>> 0, 8);
    this.call(C.BPF_OBJ_PIN, b);
  }

  objGet(path: string, fileFlags: number): number {
    const p = offHeap(path, 1);
    const b = this.attr.fill(0);
    b.writeBigUInt64LE(addr(this.c, p), 0);
    b.writeUInt32LE(fileFlags >>> 0, 12);
    const fd = this.call(C.BPF_OBJ_GET, b);
    this.remember(fd);
    return fd;
  }

  getFdById(cmd: number, id: number): number {
    const b = this.attr.fill(0);
    b.writeUInt32LE(id >>> 0, 0);
    const fd = this.call(cmd, b);
    if (cmd === C.BPF_MAP_GET_FD_BY_ID) this.remember(fd);
    return fd;
  }

  private info(fd: number, size: number): Buffer {
    const info = Buffer.alloc(size);
    const b = this.attr.fill(0);
    b.writeUInt32LE(fd >>> 0, 0);
    b.writeUInt32LE(size, 4);
    b.writeBigUInt64LE(addr(this.c, info), 8);
    this.call(C.BPF_OBJ_GET_INFO_BY_FD, b);
    return info;
  }

  mapInfo(fd: number): MapInfo {
    const i = this.info(fd, MAP_INFO_SIZE);
    return {
      type: i.readUInt32LE(0), id: i.readUInt32LE(4), keySize: i.readUInt32LE(8), valueSize: i.readUInt32LE(12),
      maxEntries: i.readUInt32LE(16), mapFlags: i.readUInt32LE(20), name: cstr(i, 24, 16),
    };
  }

  progInfo(fd: number): ProgInfo {
    const i = this.info(fd, PROG_INFO_SIZE);
    return { type: i.readUInt32LE(0), id: i.readUInt32LE(4), name: cstr(i, 64, 16), runTimeNs: i.readBigUInt64LE(192), runCnt: i.readBigUInt64LE(200) };
  }

  enableStats(type: number): number {
    const b = this.attr.fill(0);
    b.writeUInt32LE(type >>> 0, 0);
    return this.call(C.BPF_ENABLE_STATS, b);
  }
}

/** Byte copy without TypedArray.set's fixed cost for the 4/8-byte keys and values of hot paths. */
function copySmall(dst: Uint8Array, src: Uint8Array, n: number): void {
  if (n > 16) { dst.set(src); return; }
  for (let i = 0; i < n; i++) dst[i] = src[i]!;
}

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}
