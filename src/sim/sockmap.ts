/**
 * BPF_MAP_TYPE_SOCKMAP and SOCKHASH (net/core/sock_map.c), as far as reuseport selection uses
 * them: any TCP (LISTEN/ESTABLISHED) or UDP socket can be stored, several times, and a socket
 * need not be in a reuseport group (the helper then fails with -EINVAL).
 */
import {
  AF_INET, AF_INET6, BPF_EXIST, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY, BPF_MAP_TYPE_SOCKMAP, BPF_NOEXIST, fail,
  type MapCreateAttr,
} from './uapi.js';
import { BpfMap, arrayNextKey, fromHex, keyHex, u32, u64bytes, valueFd, type FdResolver } from './bpf_map.js';
import type { Sock } from './socket.js';
import { TCP_ESTABLISHED, TCP_LISTEN } from './socket.js';
import { genCookie } from './cookie.js';

export const SOCK_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;

/** sock_map_alloc() / sock_hash_alloc() parameter checks (run after the capability check). */
export function sockMapAllocCheck(sc: string, a: MapCreateAttr): void {
  const flags = a.mapFlags ?? 0;
  const map = a.mapType === BPF_MAP_TYPE_SOCKMAP;
  if (a.maxEntries === 0 || (map ? a.keySize !== 4 : a.keySize === 0) || (a.valueSize !== 4 && a.valueSize !== 8) || flags & ~SOCK_CREATE_FLAG_MASK) {
    fail(sc, 'EINVAL', map ? 'SOCKMAP needs key_size 4, value_size 4 or 8, max_entries > 0, flags NUMA_NODE/RDONLY/WRONLY' : 'SOCKHASH needs key_size > 0, value_size 4 or 8, max_entries > 0, flags NUMA_NODE/RDONLY/WRONLY');
  }
  if (!map && a.keySize > 512) fail(sc, 'E2BIG', `key_size ${a.keySize} > 512`);
}

/** sock_map_sk_is_suitable() + sock_map_sk_state_allowed(). */
function checkSock(sc: string, sk: Sock): void {
  const inet = sk.family === AF_INET || sk.family === AF_INET6;
  if (!inet || !(sk.isTcp || sk.isUdp)) fail(sc, 'EOPNOTSUPP', 'socket type cannot be stored in a sockmap');
  if (sk.isTcp && sk.state !== TCP_ESTABLISHED && sk.state !== TCP_LISTEN) fail(sc, 'EOPNOTSUPP', 'TCP socket must be listening or established');
  if (sk.isUdp && !sk.hashed) fail(sc, 'EOPNOTSUPP', 'UDP socket must be bound (hashed)');
  if (sk.userData !== null) fail(sc, 'EBUSY', 'sk_user_data is in use (reuseport sockarray)');
}

abstract class SockMapBase extends BpfMap {
  storageSize(): number {
    return 0;
  }
  protected abstract entries(): Iterable<Sock>;
  /** The socket left the lookup tables (sock_map_unhash / close): drop its entries. */
  abstract removeSock(sk: Sock): void;
  override free(): void {
    for (const sk of this.entries()) sk.psockRefs--;
    super.free();
  }
}

export class SockMap extends SockMapBase {
  readonly sks = new Map<number, Sock>();
  constructor(a: MapCreateAttr, storedFlags: number) {
    super(a.mapType, 4, a.valueSize, a.maxEntries, storedFlags, a.name ?? '');
  }
  protected entries(): Iterable<Sock> {
    return this.sks.values();
  }
  lookupSys(key: Uint8Array): Uint8Array {
    const sc = 'bpf(BPF_MAP_LOOKUP_ELEM)';
    if (this.valueSize !== 8) fail(sc, 'ENOSPC', 'value_size 4 cannot hold a 64-bit cookie');
    const sk = this.sks.get(u32(key));
    if (!sk) fail(sc, 'ENOENT', 'no socket at this index');
    return u64bytes(genCookie(sk));
  }
  updateSys(key: Uint8Array, value: Uint8Array, flags: number, fds: FdResolver): void {
    const sc = 'bpf(BPF_MAP_UPDATE_ELEM)';
    const sk = fds.socket(valueFd(sc, value, this.valueSize), sc);
    checkSock(sc, sk);
    if (flags > BPF_EXIST) fail(sc, 'EINVAL', `flags ${flags}`);
    const i = u32(key);
    if (i >= this.maxEntries) fail(sc, 'E2BIG', `index ${i} >= max_entries ${this.maxEntries}`);
    const old = this.sks.get(i);
    if (old && flags === BPF_NOEXIST) fail(sc, 'EEXIST', `index ${i} is occupied`);
    if (!old && flags === BPF_EXIST) fail(sc, 'ENOENT', `index ${i} is empty`);
    if (old) old.psockRefs--;
    sk.psockRefs++;
    this.sks.set(i, sk);
  }
  deleteSys(key: Uint8Array): void {
    const i = u32(key);
    const sk = this.sks.get(i);
    if (i >= this.maxEntries || !sk) fail('bpf(BPF_MAP_DELETE_ELEM)', 'EINVAL', i >= this.maxEntries ? 'index out of range' : 'index is empty');
    sk.psockRefs--;
    this.sks.delete(i);
  }
  getNextKey(key: Uint8Array | null): Uint8Array {
    return arrayNextKey('bpf(BPF_MAP_GET_NEXT_KEY)', key, this.maxEntries);
  }
  override lookupSock(key: Uint8Array): Sock | null {
    return this.sks.get(u32(key)) ?? null;
  }
  override readonly indexedSocks = true;
  override lookupSockIndex(i: number): Sock | null {
    return this.sks.get(i) ?? null;
  }
  override progDelete(key: Uint8Array): number {
    const i = u32(key);
    const sk = this.sks.get(i);
    if (!sk) return -22;
    sk.psockRefs--;
    this.sks.delete(i);
    return 0;
  }
  removeSock(sk: Sock): void {
    for (const [i, s] of this.sks) if (s === sk) { this.sks.delete(i); sk.psockRefs--; }
  }
}

export class SockHash extends SockMapBase {
  readonly sks = new Map<string, Sock>();
  constructor(a: MapCreateAttr, storedFlags: number) {
    super(a.mapType, a.keySize, a.valueSize, a.maxEntries, storedFlags, a.name ?? '');
  }
  protected entries(): Iterable<Sock> {
    return this.sks.values();
  }
  lookupSys(key: Uint8Array): Uint8Array {
    const sc = 'bpf(BPF_MAP_LOOKUP_ELEM)';
    if (this.valueSize !== 8) fail(sc, 'ENOSPC', 'value_size 4 cannot hold a 64-bit cookie');
    const sk = this.sks.get(keyHex(key.subarray(0, this.keySize)));
    if (!sk) fail(sc, 'ENOENT', 'no such key');
    return u64bytes(genCookie(sk));
  }
  updateSys(key: Uint8Array, value: Uint8Array, flags: number, fds: FdResolver): void {
    const sc = 'bpf(BPF_MAP_UPDATE_ELEM)';
    const sk = fds.socket(valueFd(sc, value, this.valueSize), sc);
    checkSock(sc, sk);
    if (flags > BPF_EXIST) fail(sc, 'EINVAL', `flags ${flags}`);
    const k = keyHex(key.subarray(0, this.keySize));
    const old = this.sks.get(k);
    if (old && flags === BPF_NOEXIST) fail(sc, 'EEXIST', 'key exists');
    if (!old && flags === BPF_EXIST) fail(sc, 'ENOENT', 'no such key');
    if (!old && this.sks.size >= this.maxEntries) fail(sc, 'E2BIG', `map is full (max_entries ${this.maxEntries})`);
    if (old) old.psockRefs--;
    sk.psockRefs++;
    this.sks.set(k, sk);
  }
  deleteSys(key: Uint8Array): void {
    if (this.progDelete(key) < 0) fail('bpf(BPF_MAP_DELETE_ELEM)', 'ENOENT', 'no such key');
  }
  getNextKey(key: Uint8Array | null): Uint8Array {
    const keys = [...this.sks.keys()];
    const i = key === null ? -1 : keys.indexOf(keyHex(key.subarray(0, this.keySize)));
    if (i < 0) {
      if (keys.length === 0) fail('bpf(BPF_MAP_GET_NEXT_KEY)', 'ENOENT', 'map is empty');
      return fromHex(keys[0]!);
    }
    if (i + 1 >= keys.length) fail('bpf(BPF_MAP_GET_NEXT_KEY)', 'ENOENT', 'last key');
    return fromHex(keys[i + 1]!);
  }
  override lookupSock(key: Uint8Array): Sock | null {
    return this.sks.get(keyHex(key.subarray(0, this.keySize))) ?? null;
  }
  override progDelete(key: Uint8Array): number {
    const k = keyHex(key.subarray(0, this.keySize));
    const sk = this.sks.get(k);
    if (!sk) return -2;
    sk.psockRefs--;
    this.sks.delete(k);
    return 0;
  }
  removeSock(sk: Sock): void {
    for (const [k, s] of this.sks) if (s === sk) { this.sks.delete(k); sk.psockRefs--; }
  }
}

export { SockMapBase };
