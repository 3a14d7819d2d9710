/**
 * struct bpf_map: what every map type shares. Syscall-side operations throw SysError with the
 * map type's errno; program-side operations return a pointer (a VM address) or a negative errno,
 * as the helpers do. Each map keeps its value storage in one VM region (the kernel preallocates
 * too), so a map_lookup_elem() result is a real, bounds-checked pointer into that storage.
 */
import { fail, type ErrnoCode } from '../kernel/index.js';
import type { Region } from '../vm/index.js';
import type { Sock } from './socket.js';

/** Resolves a socket fd for map updates (sockfd_lookup). */
export interface FdResolver {
  socket(fd: number, syscall: string): Sock;
  map(fd: number, syscall: string): BpfMap;
}

export class MapError extends Error {
  constructor(readonly code: ErrnoCode, detail: string) {
    super(detail);
  }
}

export abstract class BpfMap {
  id = 0;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** map_flags as stored (RDONLY/WRONLY dropped: they only shape the fd). */
  readonly mapFlags: number;
  readonly name: string;
  /** Value storage seen by programs (assigned by the kernel right after creation). */
  region!: Region;
  /** Open fds + pins + outer-map references. */
  refs = 0;
  /** ARRAY_OF_MAPS / HASH_OF_MAPS: the template inner maps must match. */
  innerMeta: BpfMap | null = null;
  freed = false;

  constructor(type: number, keySize: number, valueSize: number, maxEntries: number, mapFlags: number, name: string) {
    this.type = type;
    this.keySize = keySize;
    this.valueSize = valueSize;
    this.maxEntries = maxEntries;
    this.mapFlags = mapFlags;
    this.name = name;
  }

  /** Bytes of value storage the region needs. */
  abstract storageSize(): number;
  /** Called once the region exists. */
  attachStorage(region: Region): void {
    this.region = region;
  }

  /** Value size as the syscall copies it (per-CPU maps: round_up(value_size, 8) * cpus). */
  sysValueSize(_cpus: number): number {
    return this.valueSize;
  }

  abstract lookupSys(key: Uint8Array, cpus: number): Uint8Array;
  abstract updateSys(key: Uint8Array, value: Uint8Array, flags: number, fds: FdResolver, cpus: number): void;
  abstract deleteSys(key: Uint8Array): void;
  abstract getNextKey(key: Uint8Array | null): Uint8Array;

  /** Program view: address of the value (or of the inner map / socket handle), 0 = NULL. */
  progLookup(_key: Uint8Array, _cpu: number): number {
    return 0;
  }
  /** Program view: 0 or -errno. */
  progUpdate(_key: Uint8Array, _value: Uint8Array, _flags: number, _cpu: number): number {
    return -22;
  }
  progDelete(_key: Uint8Array): number {
    return -22;
  }

  /** The socket a helper-side lookup finds (sockarray, sockmap, sockhash). */
  lookupSock(_key: Uint8Array): Sock | null {
    return null;
  }
  /** Same for a u32 key (sockarray, sockmap): no key bytes needed. */
  lookupSockIndex(_index: number): Sock | null {
    return null;
  }
  /** lookupSockIndex() applies (the key is a u32 index). */
  readonly indexedSocks: boolean = false;

  /** Called when the last reference goes (map_free). */
  free(): void {
    this.freed = true;
  }
}

/** Throw the errno of a map operation. */
export function mapFail(syscall: string, code: ErrnoCode, detail: string): never {
  return fail(syscall, code, detail);
}

export const u32 = (key: Uint8Array): number => (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
export const u32bytes = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
export const u64bytes = (v: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
};
export const keyHex = (key: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < key.length; i++) s += (key[i]! < 16 ? '0' : '') + key[i]!.toString(16);
  return s;
};
export const fromHex = (h: string): Uint8Array => {
  const b = new Uint8Array(h.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return b;
};

/** Array-style GET_NEXT_KEY: NULL/out of range -> 0, last -> ENOENT, else +1 (occupancy ignored). */
export function arrayNextKey(syscall: string, key: Uint8Array | null, maxEntries: number): Uint8Array {
  const i = key === null ? 0xffffffff : u32(key);
  if (i >= maxEntries) return u32bytes(0);
  if (i === maxEntries - 1) fail(syscall, 'ENOENT', 'last key');
  return u32bytes(i + 1);
}

/** Decode an fd from a 4- or 8-byte value; fd64 > S32_MAX -> EINVAL. */
export function valueFd(syscall: string, value: Uint8Array, valueSize: number): number {
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (valueSize === 8) {
    const fd64 = dv.getBigUint64(0, true);
    if (fd64 > 0x7fffffffn) fail(syscall, 'EINVAL', `fd ${fd64} out of range`);
    return Number(fd64);
  }
  return dv.getInt32(0, true);
}
