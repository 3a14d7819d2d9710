/**
 * LinuxKernel: the Kernel interface over real syscalls (libc through koffi, bpf(2) through
 * syscall()). Every failure throws SysError(syscall, errno) with errno read right after the
 * failing call, so results compare errno-for-errno with SimKernel.
 */
import * as C from '../kernel/constants.js';
import { ERRNO, SysError } from '../kernel/errno.js';
import type {
  Datagram, Kernel, MapBatch, MapCreateAttr, MapInfo, PollResult, ProgInfo, ProgLoadAttr, SockAddr,
} from '../kernel/kernel.js';
import { BpfSyscall } from './bpf_syscall.js';
import { libc, SYS_BPF, type Libc } from './libc.js';
import { probeLinux, type ProbeResult } from './probe.js';
import { checkAddress, checkPort, decodeSockaddr, encodeSockaddr, SOCKADDR_STORAGE_SIZE } from './sockaddr.js';
import { sysctl } from './sysctl.js';

/** A synchronous sleep for finishConnect (Atomics.wait on a private cell). */
const SLEEP = new Int32Array(new SharedArrayBuffer(4));

export interface LinuxKernelOptions {
  /** Bound on a TCP handshake in connect() / MSG_FASTOPEN before ETIMEDOUT (default 2000 ms). */
  connectTimeoutMs?: number;
}

const INT32_MAX = 0x7fffffff;
/** asm-generic/socket.h: classic filters take a struct sock_fprog {u16 len; struct sock_filter *filter}. */
const SO_ATTACH_FILTER = 26;
/** asm-generic/mman-common.h, mman.h. */
const PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20;
const MAP_FAILED = 0xffffffffffffffffn;

function checkInt(v: unknown, what: string, min = -0x80000000, max = INT32_MAX): number {
  if (typeof v !== 'number') throw new TypeError(`${what} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} must be an integer ${min}..${max}, got ${v}`);
  return v;
}
const checkFd = (fd: unknown, what = 'fd'): number => checkInt(fd, what);
function checkBytes(b: unknown, what: string): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  return b;
}
const checkU32 = (v: unknown, what: string): number => checkInt(v, what, 0, 0xffffffff);

export class LinuxKernel implements Kernel {
  readonly kind = 'linux' as const;
  private readonly c: Libc;
  private readonly bpf: BpfSyscall;
  private readonly connectTimeoutMs: number;
  private readonly sa = Buffer.alloc(SOCKADDR_STORAGE_SIZE);
  private readonly saLen = Buffer.alloc(4);
  private readonly optLen = Buffer.alloc(4);
  private readonly int4 = Buffer.alloc(4);
  private recvBuf = Buffer.alloc(65536);

  /** Throws when this host cannot run it (see `LinuxKernel.probe()` for a non-throwing check). */
  constructor(options: LinuxKernelOptions = {}) {
    if (process.platform !== 'linux') throw new Error(`LinuxKernel needs Linux, this is ${process.platform}`);
    const nr = SYS_BPF[process.arch];
    if (nr === undefined) throw new Error(`LinuxKernel: no bpf(2) syscall number known for ${process.arch}`);
    this.c = libc();
    this.bpf = new BpfSyscall(this.c, nr);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  }

  /** Can this process use the real kernel path? Never throws. */
  static probe(): ProbeResult {
    return probeLinux();
  }

  private fail(syscall: string, detail?: string): never {
    throw new SysError(syscall, this.c.errno(), detail);
  }

  private domainOf(fd: number): number {
    try { return this.getsockoptInt(fd, C.SOL_SOCKET, C.SO_DOMAIN); } catch { return C.AF_INET; }
  }

  private getsockoptInt(fd: number, level: number, opt: number): number {
    this.optLen.writeUInt32LE(4, 0);
    if (this.c.getsockopt(fd, level, opt, this.int4, this.optLen) < 0) this.fail('getsockopt');
    return this.int4.readInt32LE(0);
  }

  // ---- sockets ----

  socket(domain: number, type: number, protocol = 0): number {
    checkInt(domain, 'domain'); checkInt(type, 'type'); checkInt(protocol, 'protocol');
    // Always non-blocking: accept/recv must answer EAGAIN, connect is driven by poll().
    const fd = this.c.socket(domain, type | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, protocol) as number;
    if (fd < 0) this.fail('socket');
    return fd;
  }

  setsockopt(fd: number, level: number, optname: number, value: number | Uint8Array): void {
    checkFd(fd); checkInt(level, 'level'); checkInt(optname, 'optname');
    let buf: Uint8Array;
    if (typeof value === 'number') {
      checkInt(value, 'option value');
      this.int4.writeInt32LE(value, 0);
      buf = this.int4;
    } else {
      buf = checkBytes(value, 'option value');
      if (level === C.SOL_SOCKET && (optname === C.SO_ATTACH_REUSEPORT_CBPF || optname === SO_ATTACH_FILTER)) {
        this.setClassicFilter(fd, optname, buf);
        return;
      }
    }
    if (this.c.setsockopt(fd, level, optname, buf, buf.length) < 0) this.fail('setsockopt');
  }

  /**
   * Classic BPF options: the Kernel interface passes the struct sock_filter array itself (8
   * bytes per instruction, as SimKernel takes it); the syscall wants a sock_fprog pointing at it.
   */
  private setClassicFilter(fd: number, optname: number, filter: Uint8Array): void {
    if (filter.length % 8 !== 0 || filter.length / 8 > 0xffff) {
      throw new SysError('setsockopt', ERRNO.EINVAL, 'classic program must be 8-byte struct sock_filter entries (at most 65535)');
    }
    const insns = Buffer.alloc(Math.max(128, filter.length)); // >64 bytes: never on V8's moving heap
    insns.set(filter);
    const fprog = Buffer.alloc(128);
    fprog.writeUInt16LE(filter.length / 8, 0);
    fprog.writeBigUInt64LE(this.c.koffi.address(insns) as bigint, 8);
    if (this.c.setsockopt(fd, C.SOL_SOCKET, optname, fprog, 16) < 0) this.fail('setsockopt');
  }

  getsockopt(fd: number, level: number, optname: number, length = 4): Uint8Array {
    checkFd(fd); checkInt(level, 'level'); checkInt(optname, 'optname'); checkInt(length, 'length', 0, 65536);
    const buf = Buffer.alloc(length);
    this.optLen.writeUInt32LE(length, 0);
    if (this.c.getsockopt(fd, level, optname, buf, this.optLen) < 0) this.fail('getsockopt');
    return new Uint8Array(buf.subarray(0, Math.min(length, this.optLen.readUInt32LE(0))));
  }

  bind(fd: number, address: string, port: number): void {
    checkFd(fd); checkAddress(address); checkPort(port);
    const len = encodeSockaddr(this.c, this.domainOf(fd), address, port, this.sa);
    if (this.c.bind(fd, this.sa, len) < 0) this.fail('bind');
  }

  listen(fd: number, backlog = 128): void {
    checkFd(fd); checkInt(backlog, 'backlog');
    if (this.c.listen(fd, backlog) < 0) this.fail('listen');
  }

  getsockname(fd: number): SockAddr {
    checkFd(fd);
    this.saLen.writeUInt32LE(SOCKADDR_STORAGE_SIZE, 0);
    this.sa.fill(0);
    if (this.c.getsockname(fd, this.sa, this.saLen) < 0) this.fail('getsockname');
    return decodeSockaddr(this.c, this.sa);
  }

  getpeername(fd: number): SockAddr {
    checkFd(fd);
    this.saLen.writeUInt32LE(SOCKADDR_STORAGE_SIZE, 0);
    this.sa.fill(0);
    if (this.c.getpeername(fd, this.sa, this.saLen) < 0) this.fail('getpeername');
    return decodeSockaddr(this.c, this.sa);
  }

  /** Wait (bounded) for a non-blocking connect to finish; throws its SO_ERROR or ETIMEDOUT. */
  private finishConnect(fd: number, syscall: string, saLen: number): void {
    const deadline = Date.now() + this.connectTimeoutMs;
    const timedOut = (): never => {
      throw new SysError(syscall, ERRNO.ETIMEDOUT, `no answer to the SYN within ${this.connectTimeoutMs} ms`);
    };
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || this.pollEvents([fd], C.POLLOUT, left).length === 0) timedOut();
      if (saLen === 0) break;
      // Connect once more rather than reading SO_ERROR: on a refused handshake the kernel then
      // takes the blocking path's sock_error exit (returns the error, disconnects, resets the
      // local address, SS_UNCONNECTED), so the socket behaves as after a blocking connect().
      if (this.c.connect(fd, this.sa, saLen) === 0) return;
      const errno = this.c.errno();
      if (errno === ERRNO.EISCONN) return;
      if (errno !== ERRNO.EALREADY && errno !== ERRNO.EINPROGRESS) throw new SysError(syscall, errno);
      // Still SYN_SENT although poll woke (POLLHUP after shutdown(SHUT_RDWR)): a blocking
      // connect keeps waiting for an answer, so wait too instead of spinning on POLLHUP.
      Atomics.wait(SLEEP, 0, 0, Math.min(10, Math.max(1, deadline - Date.now())));
    }
    const err = this.getsockoptInt(fd, C.SOL_SOCKET, C.SO_ERROR);
    if (err !== 0) throw new SysError(syscall, err);
  }

  connect(fd: number, address: string, port: number): void {
    checkFd(fd); checkAddress(address); checkPort(port);
    const len = encodeSockaddr(this.c, this.domainOf(fd), address, port, this.sa);
    if (this.c.connect(fd, this.sa, len) === 0) return;
    const errno = this.c.errno();
    if (errno !== ERRNO.EINPROGRESS) throw new SysError('connect', errno);
    this.finishConnect(fd, 'connect', len);
  }

  accept(fd: number): number {
    checkFd(fd);
    const r = this.c.accept4(fd, null, null, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC) as number;
    if (r < 0) this.fail('accept');
    return r;
  }

  sendto(fd: number, data: Uint8Array, address?: string, port?: number, flags = 0): number {
    checkFd(fd); checkBytes(data, 'data'); checkInt(flags, 'flags');
    let len = 0;
    if (address !== undefined) {
      checkAddress(address); checkPort(port);
      len = encodeSockaddr(this.c, this.domainOf(fd), address, port!, this.sa);
    } else if (port !== undefined) {
      throw new TypeError('sendto: port given without an address');
    }
    const r = this.c.sendto(fd, data, data.length, flags | C.MSG_NOSIGNAL | C.MSG_DONTWAIT, len ? this.sa : null, len) as number;
    if (r >= 0) {
      // The data rode in the SYN: finish the connect as a blocking socket would (RST -> ECONNREFUSED).
      if ((flags & C.MSG_FASTOPEN) && this.getsockoptInt(fd, C.SOL_SOCKET, C.SO_TYPE) === C.SOCK_STREAM) this.finishConnect(fd, 'sendto', len);
      return r;
    }
    const errno = this.c.errno();
    if (errno === ERRNO.EINPROGRESS && (flags & C.MSG_FASTOPEN)) {
      // No data fitted in the SYN (no TFO cookie yet): finish the handshake, then send normally.
      this.finishConnect(fd, 'sendto', len);
      const r2 = this.c.sendto(fd, data, data.length, C.MSG_NOSIGNAL | C.MSG_DONTWAIT, null, 0) as number;
      if (r2 < 0) this.fail('sendto');
      return r2;
    }
    throw new SysError('sendto', errno);
  }

  recvfrom(fd: number, maxLength = 65536): Datagram {
    checkFd(fd); checkInt(maxLength, 'maxLength', 0, 1 << 30);
    if (this.recvBuf.length < maxLength) this.recvBuf = Buffer.alloc(maxLength);
    this.saLen.writeUInt32LE(SOCKADDR_STORAGE_SIZE, 0);
    this.sa.fill(0, 0, 28);
    const r = this.c.recvfrom(fd, this.recvBuf, maxLength, C.MSG_DONTWAIT, this.sa, this.saLen) as number;
    if (r < 0) this.fail('recvfrom');
    const data = new Uint8Array(this.recvBuf.subarray(0, r));
    // TCP recvfrom leaves the address empty: report the connection's peer.
    const from = this.saLen.readUInt32LE(0) === 0 || this.sa.readUInt16LE(0) === 0 ? this.peerOrEmpty(fd) : decodeSockaddr(this.c, this.sa);
    return { ...from, data };
  }

  private peerOrEmpty(fd: number): SockAddr {
    try { return this.getpeername(fd); } catch { return { address: '', port: 0 }; }
  }

  shutdown(fd: number, how: number): void {
    checkFd(fd); checkInt(how, 'how');
    if (this.c.shutdown(fd, how) < 0) this.fail('shutdown');
  }

  close(fd: number): void {
    checkFd(fd);
    this.bpf.maps.delete(fd);
    this.unmapAll(fd);
    if (this.c.close(fd) < 0) this.fail('close');
  }

  /** mapMmap() mappings by fd, dropped by close(fd). */
  private readonly mmaps = new Map<number, Array<{ addr: unknown; len: number }>>();

  /**
   * mmap(NULL, PAGE_ALIGN(max_entries * round_up(value_size, 8)), PROT_READ|PROT_WRITE, MAP_SHARED,
   * fd, 0) — array_map_mmap()'s layout: element i at i * round_up(value_size, 8). The view is an
   * ArrayBuffer over the mapping itself (koffi.view), so stores are plain memory writes.
   */
  mapMmap(fd: number): Uint8Array {
    checkFd(fd);
    const page = this.c.getpagesize() as number;
    let data = page;
    try {
      const info = this.mapGetInfo(fd);
      data = Math.max(1, info.maxEntries * ((info.valueSize + 7) & ~7));
    } catch { /* not a map: let mmap(2) itself give the errno (EBADF, ENODEV) */ }
    const len = Math.ceil(data / page) * page;
    const addr = this.c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (this.c.koffi.address(addr) === MAP_FAILED) this.fail('mmap');
    let list = this.mmaps.get(fd);
    if (!list) this.mmaps.set(fd, (list = []));
    list.push({ addr, len });
    return new Uint8Array(this.c.koffi.view(addr, len) as ArrayBuffer, 0, data);
  }

  /**
   * Drop fd's mappings. A plain munmap would leave any view still held by JS pointing at unmapped
   * memory (SIGSEGV on the next access; an external ArrayBuffer cannot be detached), so the range is
   * replaced in place by anonymous zero pages: the kernel's map reference goes, the address stays valid.
   */
  private unmapAll(fd: number): void {
    const list = this.mmaps.get(fd);
    if (!list) return;
    this.mmaps.delete(fd);
    for (const { addr, len } of list) {
      this.c.mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
      // If that fails (ENOMEM) the shared mapping simply stays: a leak is better than a crash.
    }
  }

  private readonly pollBuf = Buffer.alloc(8 * 64);
  private pollEvents(fds: readonly number[], events: number, timeoutMs: number): PollResult[] {
    const buf = fds.length <= 64 ? this.pollBuf : Buffer.alloc(8 * fds.length);
    fds.forEach((fd, i) => { buf.writeInt32LE(fd, i * 8); buf.writeInt16LE(events, i * 8 + 4); buf.writeInt16LE(0, i * 8 + 6); });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = this.c.poll(buf, fds.length, Math.max(0, timeoutMs)) as number;
      if (n >= 0) break;
      const errno = this.c.errno();
      if (errno !== ERRNO.EINTR) throw new SysError('poll', errno);
      timeoutMs = Math.max(0, deadline - Date.now());
    }
    const out: PollResult[] = [];
    fds.forEach((fd, i) => { const revents = buf.readInt16LE(i * 8 + 6); if (revents) out.push({ fd, revents }); });
    return out;
  }

  poll(fds: readonly number[], timeoutMs = 0): PollResult[] {
    if (!Array.isArray(fds)) throw new TypeError('poll: fds must be an array of numbers');
    fds.forEach((fd) => checkFd(fd));
    checkInt(timeoutMs, 'timeoutMs', 0);
    return this.pollEvents(fds, C.POLLIN, timeoutMs);
  }

  // ---- bpf(2) ----

  mapCreate(attr: MapCreateAttr): number {
    if (typeof attr !== 'object' || attr === null) throw new TypeError('mapCreate: attr must be an object');
    checkU32(attr.mapType, 'mapType'); checkU32(attr.keySize, 'keySize'); checkU32(attr.valueSize, 'valueSize');
    checkU32(attr.maxEntries, 'maxEntries');
    if (attr.mapFlags !== undefined) checkU32(attr.mapFlags, 'mapFlags');
    if (attr.innerMapFd !== undefined) checkFd(attr.innerMapFd, 'innerMapFd');
    if (attr.numaNode !== undefined) checkU32(attr.numaNode, 'numaNode');
    if (attr.name !== undefined && typeof attr.name !== 'string') throw new TypeError('mapCreate: name must be a string');
    return this.bpf.mapCreate(attr);
  }

  mapLookupElem(fd: number, key: Uint8Array): Uint8Array {
    checkFd(fd); checkBytes(key, 'key');
    return this.bpf.lookup(fd, key);
  }

  mapUpdateElem(fd: number, key: Uint8Array, value: Uint8Array, flags = 0): void {
    checkFd(fd); checkBytes(key, 'key'); checkBytes(value, 'value');
    if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || flags > Number.MAX_SAFE_INTEGER) throw new RangeError(`flags must be a non-negative integer, got ${flags}`);
    this.bpf.update(fd, key, value, flags);
  }

  mapDeleteElem(fd: number, key: Uint8Array): void {
    checkFd(fd); checkBytes(key, 'key');
    this.bpf.delete(fd, key);
  }

  mapGetNextKey(fd: number, key: Uint8Array | null): Uint8Array {
    checkFd(fd);
    if (key !== null) checkBytes(key, 'key');
    return this.bpf.nextKey(fd, key);
  }

  mapUpdateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number, elemFlags = 0): void {
    checkFd(fd); checkBytes(keys, 'keys'); checkBytes(values, 'values'); checkU32(count, 'count'); checkU32(elemFlags, 'elemFlags');
    this.bpf.updateBatch(fd, keys, values, count, elemFlags);
  }

  mapLookupBatch(fd: number, inBatch: Uint8Array | null, count: number): MapBatch {
    checkFd(fd);
    if (inBatch !== null) checkBytes(inBatch, 'inBatch');
    checkInt(count, 'count', 1, 1 << 20);
    return this.bpf.lookupBatch(fd, inBatch, count);
  }

  progLoad(attr: ProgLoadAttr): number {
    if (typeof attr !== 'object' || attr === null) throw new TypeError('progLoad: attr must be an object');
    checkU32(attr.progType, 'progType');
    checkBytes(attr.insns, 'insns');
    if (attr.insns.length % 8 !== 0) throw new RangeError(`progLoad: insns is ${attr.insns.length} bytes, not a multiple of 8`);
    if (attr.license !== undefined && typeof attr.license !== 'string') throw new TypeError('progLoad: license must be a string');
    if (attr.name !== undefined && typeof attr.name !== 'string') throw new TypeError('progLoad: name must be a string');
    if (attr.expectedAttachType !== undefined) checkU32(attr.expectedAttachType, 'expectedAttachType');
    if (attr.logLevel !== undefined) checkU32(attr.logLevel, 'logLevel');
    if (attr.logSize !== undefined) checkInt(attr.logSize, 'logSize', 0);
    if (attr.progFlags !== undefined) checkU32(attr.progFlags, 'progFlags');
    return this.bpf.progLoad(attr);
  }

  objPin(fd: number, path: string): void {
    checkFd(fd);
    if (typeof path !== 'string') throw new TypeError('objPin: path must be a string');
    this.bpf.objPin(fd, path);
  }

  objGet(path: string, fileFlags = 0): number {
    if (typeof path !== 'string') throw new TypeError('objGet: path must be a string');
    checkU32(fileFlags, 'fileFlags');
    return this.bpf.objGet(path, fileFlags);
  }

  mapGetFdById(id: number): number {
    return this.bpf.getFdById(C.BPF_MAP_GET_FD_BY_ID, checkU32(id, 'id'));
  }

  progGetFdById(id: number): number {
    return this.bpf.getFdById(C.BPF_PROG_GET_FD_BY_ID, checkU32(id, 'id'));
  }

  mapGetInfo(fd: number): MapInfo {
    return this.bpf.mapInfo(checkFd(fd));
  }

  progGetInfo(fd: number): ProgInfo {
    return this.bpf.progInfo(checkFd(fd));
  }

  enableStats(type = C.BPF_STATS_RUN_TIME): number {
    return this.bpf.enableStats(checkU32(type, 'type'));
  }

  // ---- environment ----

  sysctl(name: string, value?: string): string {
    return sysctl(name, value);
  }

  /** Bare libc getpid() through koffi: the FFI baseline benchmarks compare against. */
  getpid(): number {
    return this.c.getpid() as number;
  }
}
