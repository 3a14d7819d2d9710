/**
 * ReuseportSockArray: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY with socket-shaped methods (aya's
 * ReusePortSockArray). UPDATE takes a socket fd, LOOKUP answers the socket cookie.
 */
import * as C from '../kernel/constants.js';
import { ERRNO, SysError } from '../kernel/errno.js';
import type { Kernel, MapInfo } from '../kernel/kernel.js';
import { u32 as u32Key } from './codec.js';
import { BpfMap } from './map.js';
import { fdOf, type SocketLike } from '../kernel/socket_fd.js';

export interface SockArraySpec {
  maxEntries: number;
  /** 8 (default: lookups return cookies) or 4 (lookups give ENOSPC). */
  valueSize?: 4 | 8;
  /** BPF_F_NUMA_NODE / access flags only (anything else: EINVAL from the kernel). */
  flags?: number;
  name?: string;
}

const readInt = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(0, true);

export class ReuseportSockArray {
  /** The underlying map (raw u32 keys/values); use it for pin/info or raw access. */
  readonly map: BpfMap<number, Uint8Array>;
  private readonly value: Uint8Array;
  private readonly view: DataView;

  constructor(map: BpfMap<number, Uint8Array>) {
    if (map.type !== C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY) throw new TypeError(`map type ${map.type} is not REUSEPORT_SOCKARRAY (20)`);
    this.map = map;
    this.value = new Uint8Array(map.valueSize);
    this.view = new DataView(this.value.buffer);
  }

  static create(kernel: Kernel, spec: SockArraySpec): ReuseportSockArray {
    if (typeof spec !== 'object' || spec === null) throw new TypeError('SockArraySpec must be an object with maxEntries');
    const valueSize = spec.valueSize ?? 8;
    return new ReuseportSockArray(BpfMap.create(kernel, {
      type: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize, maxEntries: spec.maxEntries, flags: spec.flags, name: spec.name,
    }, { key: u32Key }));
  }

  static fromPin(kernel: Kernel, path: string): ReuseportSockArray {
    return ReuseportSockArray.wrap(BpfMap.fromPin(kernel, path, { key: u32Key }));
  }

  static fromId(kernel: Kernel, id: number): ReuseportSockArray {
    return ReuseportSockArray.wrap(BpfMap.fromId(kernel, id, { key: u32Key }));
  }

  private static wrap(map: BpfMap<number, Uint8Array>): ReuseportSockArray {
    try { return new ReuseportSockArray(map); } catch (e) { map.close(); throw e; }
  }

  get kernel(): Kernel { return this.map.kernel; }
  get fd(): number { return this.map.fd; }
  get maxEntries(): number { return this.map.maxEntries; }

  /**
   * Put a socket (fd, listening net.Server or bound dgram.Socket) in slot `index`.
   * flags: BPF_ANY (default), BPF_NOEXIST, BPF_EXIST. Kernel errnos are kept; an EINVAL
   * says which precondition the socket misses.
   */
  set(index: number, socket: SocketLike, flags: number = C.BPF_ANY): void {
    const fd = fdOf(socket);
    if (this.value.length === 8) this.view.setBigUint64(0, BigInt(fd), true);
    else this.view.setInt32(0, fd, true);
    try {
      this.map.update(index, this.value, flags);
    } catch (e) {
      if (e instanceof SysError && e.errno === ERRNO.EINVAL) throw new SysError(e.syscall, e.errno, this.whyInvalid(fd, flags));
      throw e;
    }
  }

  /** Name the reuseport precondition a socket misses (kernel-semantics §2.2 step 6f). */
  private whyInvalid(fd: number, flags: number): string {
    if (flags > C.BPF_EXIST) return `update flags ${flags} are not BPF_ANY/BPF_NOEXIST/BPF_EXIST`;
    const k = this.kernel;
    try {
      if (!readInt(k.getsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT))) return `fd ${fd} does not have SO_REUSEPORT set (set it before bind)`;
      if (k.getsockname(fd).port === 0) return `fd ${fd} is not bound`;
      if (readInt(k.getsockopt(fd, C.SOL_SOCKET, C.SO_TYPE)) === C.SOCK_STREAM && !readInt(k.getsockopt(fd, C.SOL_SOCKET, C.SO_ACCEPTCONN))) return `TCP fd ${fd} is not listening`;
    } catch { /* not a socket we can inspect: keep the kernel's word */ }
    return `fd ${fd} is not a bound/listening SO_REUSEPORT socket`;
  }

  /** Empty slot `index`; false when it was already empty. */
  clear(index: number): boolean {
    return this.map.delete(index);
  }

  /** SO_COOKIE of the socket in slot `index`, undefined when empty (needs 8-byte values). */
  cookie(index: number): bigint | undefined {
    const v = this.map.lookup(index);
    return v === undefined ? undefined : new DataView(v.buffer, v.byteOffset, v.byteLength).getBigUint64(0, true);
  }

  /** Occupied slots in index order (one lookup per index: needs 8-byte values). */
  indices(): number[] {
    const out: number[] = [];
    for (const [i] of this.entries()) out.push(i);
    return out;
  }

  /** index -> cookie for every occupied slot. */
  entries(): Map<number, bigint> {
    const out = new Map<number, bigint>();
    for (const [i, v] of this.map.iterate()) out.set(i, new DataView(v.buffer, v.byteOffset, v.byteLength).getBigUint64(0, true));
    return out;
  }

  pin(path: string): void { this.map.pin(path); }
  info(): MapInfo { return this.map.info(); }
  close(): void { this.map.close(); }
}

