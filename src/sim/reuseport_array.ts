/**
 * BPF_MAP_TYPE_REUSEPORT_SOCKARRAY (kernel/bpf/reuseport_array.c): u32 index -> socket. Update
 * takes a socket fd, lookup returns its cookie. A socket sits in at most one slot anywhere
 * (sk_user_data, EBUSY) and is removed automatically when it leaves its group.
 */
import {
  AF_INET, AF_INET6, BPF_EXIST, BPF_F_ACCESS, BPF_F_NUMA_NODE, BPF_NOEXIST, IPPROTO_TCP, IPPROTO_UDP,
  SOCK_DGRAM, SOCK_STREAM, fail, type MapCreateAttr,
} from './uapi.js';
import { BpfMap, arrayNextKey, u32, u64bytes, valueFd, type FdResolver } from './bpf_map.js';
import { accessOk, arrayAllocCheck } from './arraymap.js';
import type { Sock, SockUserData } from './socket.js';
import { genCookie } from './cookie.js';

export const SOCKARRAY_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ACCESS;

/** reuseport_array_alloc_check(): value_size first, then array_map_alloc_check(). */
export function reuseportArrayAllocCheck(sc: string, a: MapCreateAttr): void {
  if (a.valueSize !== 4 && a.valueSize !== 8) fail(sc, 'EINVAL', `value_size ${a.valueSize} (must be 4 or 8)`);
  arrayAllocCheck(sc, a);
  if (!accessOk(a.mapFlags ?? 0)) fail(sc, 'EINVAL', 'access flags');
}

export class ReuseportArray extends BpfMap {
  readonly ptrs: (Sock | null)[];
  private readonly tag: SockUserData;
  constructor(a: MapCreateAttr, storedFlags: number) {
    super(a.mapType, 4, a.valueSize, a.maxEntries, storedFlags, a.name ?? '');
    this.ptrs = new Array(Math.min(a.maxEntries, 1 << 20)).fill(null);
    this.tag = { kind: 'sockarray', map: this };
  }
  storageSize(): number {
    return 0;
  }
  private slot(i: number): Sock | null {
    return i < this.ptrs.length ? this.ptrs[i]! : null;
  }
  lookupSys(key: Uint8Array): Uint8Array {
    const sc = 'bpf(BPF_MAP_LOOKUP_ELEM)';
    if (this.valueSize !== 8) fail(sc, 'ENOSPC', 'value_size 4 cannot hold a 64-bit cookie');
    const i = u32(key);
    if (i >= this.maxEntries) fail(sc, 'ENOENT', `index ${i} >= max_entries ${this.maxEntries}`);
    const sk = this.slot(i);
    if (!sk) fail(sc, 'ENOENT', `slot ${i} is empty`);
    return u64bytes(genCookie(sk));
  }
  /** reuseport_array_update_check(). */
  private updateCheck(sc: string, sk: Sock, i: number, flags: number): void {
    const occupied = this.slot(i) !== null;
    if (occupied && flags === BPF_NOEXIST) fail(sc, 'EEXIST', `slot ${i} is occupied`);
    if (!occupied && flags === BPF_EXIST) fail(sc, 'ENOENT', `slot ${i} is empty`);
    if (sk.protocol !== IPPROTO_UDP && sk.protocol !== IPPROTO_TCP) fail(sc, 'ENOTSUPP', `protocol ${sk.protocol} is not TCP or UDP`);
    if (sk.family !== AF_INET && sk.family !== AF_INET6) fail(sc, 'ENOTSUPP', `family ${sk.family} is not AF_INET/AF_INET6`);
    if (sk.type !== SOCK_STREAM && sk.type !== SOCK_DGRAM) fail(sc, 'ENOTSUPP', `type ${sk.type} is not SOCK_STREAM/SOCK_DGRAM`);
    if (!sk.rcuFree || !sk.hashed || sk.reuseCb === null) {
      fail(sc, 'EINVAL', sk.isTcp ? 'socket must be a listening SO_REUSEPORT socket' : 'socket must be a bound SO_REUSEPORT socket');
    }
    if (sk.userData !== null || sk.psockRefs > 0) fail(sc, 'EBUSY', 'socket is already in a reuseport sockarray (sk_user_data in use)');
  }
  updateSys(key: Uint8Array, value: Uint8Array, flags: number, fds: FdResolver): void {
    const sc = 'bpf(BPF_MAP_UPDATE_ELEM)';
    if (flags > BPF_EXIST) fail(sc, 'EINVAL', `flags ${flags}`);
    const i = u32(key);
    if (i >= this.maxEntries) fail(sc, 'E2BIG', `index ${i} >= max_entries ${this.maxEntries}`);
    const fd = valueFd(sc, value, this.valueSize);
    const sk = fds.socket(fd, sc);
    this.updateCheck(sc, sk, i, flags);
    const old = this.slot(i);
    if (old) old.userData = null;
    sk.userData = this.tag;
    this.ptrs[i] = sk;
  }
  deleteSys(key: Uint8Array): void {
    const sc = 'bpf(BPF_MAP_DELETE_ELEM)';
    const i = u32(key);
    if (i >= this.maxEntries) fail(sc, 'E2BIG', `index ${i} >= max_entries ${this.maxEntries}`);
    const sk = this.slot(i);
    if (!sk) fail(sc, 'ENOENT', `slot ${i} is empty`);
    sk.userData = null;
    this.ptrs[i] = null;
  }
  getNextKey(key: Uint8Array | null): Uint8Array {
    return arrayNextKey('bpf(BPF_MAP_GET_NEXT_KEY)', key, this.maxEntries);
  }
  override lookupSock(key: Uint8Array): Sock | null {
    return this.slot(u32(key));
  }
  override readonly indexedSocks = true;
  override lookupSockIndex(i: number): Sock | null {
    return i < this.ptrs.length ? this.ptrs[i] ?? null : null;
  }
  /** bpf_sk_reuseport_detach(): the socket left its group. */
  clearSlotOf(sk: Sock): void {
    const i = this.ptrs.indexOf(sk);
    if (i >= 0) this.ptrs[i] = null;
    if (sk.userData === this.tag) sk.userData = null;
  }
  /** reuseport_array_free(): release every member's sk_user_data. */
  override free(): void {
    for (let i = 0; i < this.ptrs.length; i++) {
      const sk = this.ptrs[i];
      if (sk) {
        if (sk.userData === this.tag) sk.userData = null;
        this.ptrs[i] = null;
      }
    }
    super.free();
  }
}
