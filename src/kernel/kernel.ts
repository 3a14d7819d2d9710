/**
 * The syscall-shaped interface that both kernels implement: SimKernel (src/sim) models Linux,
 * LinuxKernel (src/linux) calls it. Every method is synchronous and throws SysError with the
 * errno the real syscall would give. Addresses are inet_ntop strings ('127.0.0.1', '::1',
 * '::ffff:127.0.0.1'); keys and values are raw bytes in host (little-endian) order.
 */

export interface SockAddr {
  address: string;
  port: number;
}

export interface Datagram extends SockAddr {
  data: Uint8Array;
}

export interface MapCreateAttr {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags?: number;
  /** Template map for ARRAY_OF_MAPS / HASH_OF_MAPS. */
  innerMapFd?: number;
  /** Only read when BPF_F_NUMA_NODE is set in mapFlags. */
  numaNode?: number;
  /** At most 15 characters of [A-Za-z0-9_.]. */
  name?: string;
}

export interface ProgLoadAttr {
  progType: number;
  /** Bytecode: 8 bytes per instruction, little-endian. Map fds in ld_imm64 (src_reg 1). */
  insns: Uint8Array;
  license?: string;
  /** 0 is rewritten to BPF_SK_REUSEPORT_SELECT for SK_REUSEPORT programs, as the kernel does. */
  expectedAttachType?: number;
  /** 0: log only on failure (the default here), 1/2: verbose. */
  logLevel?: number;
  /** Log buffer size; the kernel truncates the log to it (ENOSPC when verbose log overflows). */
  logSize?: number;
  name?: string;
  progFlags?: number;
}

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  name: string;
}

export interface ProgInfo {
  type: number;
  id: number;
  name: string;
  /** Cumulative run time and run count; only advance while stats are enabled. */
  runTimeNs: bigint;
  runCnt: bigint;
}

/** One BPF_MAP_LOOKUP_BATCH answer: `count` keys and values back to back. */
export interface MapBatch {
  keys: Uint8Array;
  values: Uint8Array;
  count: number;
  /** Position to pass as `inBatch` for the next call; null once the map is exhausted. */
  nextBatch: Uint8Array | null;
}

export interface PollResult {
  fd: number;
  /** POLLIN / POLLOUT / POLLERR / POLLHUP bits. */
  revents: number;
}

export interface Kernel {
  /** Which implementation this is: lets a test report where a difference came from. */
  readonly kind: 'sim' | 'linux';

  // ---- sockets ----
  /** `type` may carry SOCK_NONBLOCK / SOCK_CLOEXEC. Sockets behave as non-blocking for accept/recv. */
  socket(domain: number, type: number, protocol?: number): number;
  setsockopt(fd: number, level: number, optname: number, value: number | Uint8Array): void;
  /** Returns the option bytes (an int option is 4 bytes little-endian; SO_COOKIE 8 bytes). */
  getsockopt(fd: number, level: number, optname: number, length?: number): Uint8Array;
  bind(fd: number, address: string, port: number): void;
  listen(fd: number, backlog?: number): void;
  getsockname(fd: number): SockAddr;
  getpeername(fd: number): SockAddr;
  /** TCP: completes the handshake or throws (ECONNREFUSED; ETIMEDOUT after a bounded wait). UDP: sets the peer. */
  connect(fd: number, address: string, port: number): void;
  /** Non-blocking: EAGAIN when the accept queue is empty. */
  accept(fd: number): number;
  /** `flags` may be MSG_FASTOPEN (TCP: connect + data in the SYN). Returns bytes sent. */
  sendto(fd: number, data: Uint8Array, address?: string, port?: number, flags?: number): number;
  /** Non-blocking: EAGAIN when nothing is queued. TCP: the peer address of the connection. */
  recvfrom(fd: number, maxLength?: number): Datagram;
  shutdown(fd: number, how: number): void;
  close(fd: number): void;
  /** Waits up to timeoutMs (0: just look) for any of fds to be readable; returns the ready ones. */
  poll(fds: readonly number[], timeoutMs?: number): PollResult[];

  // ---- bpf(2) ----
  mapCreate(attr: MapCreateAttr): number;
  mapLookupElem(fd: number, key: Uint8Array): Uint8Array;
  mapUpdateElem(fd: number, key: Uint8Array, value: Uint8Array, flags?: number): void;
  mapDeleteElem(fd: number, key: Uint8Array): void;
  /** null key: the first key. ENOENT after the last. */
  mapGetNextKey(fd: number, key: Uint8Array | null): Uint8Array;
  /** Throws SysError with `log` (the verifier log) when refused. */
  progLoad(attr: ProgLoadAttr): number;
  objPin(fd: number, path: string): void;
  objGet(path: string, fileFlags?: number): number;
  mapGetFdById(id: number): number;
  progGetFdById(id: number): number;
  mapGetInfo(fd: number): MapInfo;
  progGetInfo(fd: number): ProgInfo;
  /** BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): stats are collected while the returned fd is open. */
  enableStats(type?: number): number;
  /**
   * Optional (5.6+; ENOTSUPP for maps without batch ops, e.g. REUSEPORT_SOCKARRAY):
   * BPF_MAP_UPDATE_BATCH of `count` elements, keys and values back to back. Callers fall back
   * to mapUpdateElem when a kernel does not implement it.
   */
  mapUpdateBatch?(fd: number, keys: Uint8Array, values: Uint8Array, count: number, elemFlags?: number): void;
  /** Optional: BPF_MAP_LOOKUP_BATCH of up to `count` elements from `inBatch` (null: the start). */
  mapLookupBatch?(fd: number, inBatch: Uint8Array | null, count: number): MapBatch;
  /**
   * Optional (5.5+): mmap(MAP_SHARED, offset 0) of an ARRAY map created with BPF_F_MMAPABLE.
   * Returns its values, max_entries * round_up(value_size, 8) bytes (element i at i * stride),
   * shared with programs: writes are seen by programs and lookups at once, with no atomicity
   * beyond the CPU's for aligned loads/stores of up to 8 bytes. Errnos as mmap(2) gives them:
   * ENOTSUPP (524) for map types without map_mmap (HASH...), EINVAL for an ARRAY without
   * BPF_F_MMAPABLE, EACCES for a BPF_F_RDONLY fd, ENODEV for a non-map fd, EBADF.
   * The mapping lives as long as `fd` here: close(fd) drops it (raw Linux would keep the map
   * alive while mapped). LinuxKernel then backs a view still held with zero pages (never a fault);
   * SimKernel's view keeps aliasing the freed map's storage. Either way, drop views on close.
   */
  mapMmap?(fd: number): Uint8Array;

  // ---- environment ----
  /** Read (and, with value, write) a sysctl such as 'net.ipv4.tcp_migrate_req'. Returns the value read. */
  sysctl(name: string, value?: string): string;
}
