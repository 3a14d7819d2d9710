/**
 * SimKernel: the Kernel interface over a simulated Linux 6.18 network namespace and bpf
 * subsystem. One instance = one netns + one bpffs + one fd table, seeded for reproducibility.
 */
import {
  BPF_F_MMAPABLE, BPF_F_RDONLY, BPF_F_WRONLY, BPF_PROG_TYPE_SK_REUSEPORT, BPF_PROG_TYPE_SOCKET_FILTER, BPF_SK_REUSEPORT_SELECT,
  BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, IPPROTO_TCP, IPPROTO_UDP, POLLNVAL, SOCK_CLOEXEC, SOCK_DGRAM,
  SOCK_NONBLOCK, SOCK_STREAM, BPF_PROG_TYPE_XDP, ERRNO, SysError, fail, type ErrnoCode,
  type Datagram, type Kernel, type MapCreateAttr, type MapInfo, type PollResult, type ProgInfo, type ProgLoadAttr, type SockAddr,
} from '../kernel/index.js';
import { InetStack } from './af_inet.js';
import type { BpfMap, FdResolver } from './bpf_map.js';
import { BpfProg } from './bpf_prog.js';
import { CookieGen } from './cookie.js';
import { ReuseportRuntime } from './filter.js';
import { ArrayMap } from './arraymap.js';
import { MapInMap } from './map_in_map.js';
import { Sock, RMEM_MAX, TCP_LISTEN } from './socket.js';
import { SockMapBase } from './sockmap.js';
import { sockGetsockopt, sockSetsockopt, type SockOptHost } from './sock_opts.js';
import { checkObjName, mapCreate } from './syscall.js';
import { VerifierError, verify } from './verifier.js';
import { Prng } from './rand.js';
import * as op from '../ebpf/opcodes.js';
import type { Insn } from '../ebpf/insn.js';
import type { Packet } from './packet.js';
import { makePacket, selectIndex, testRun, type TestRunOptions, type TestRunPacket, type TestRunResult } from './test_run.js';

export interface SimKernelOptions {
  /** Fixes the 4-tuple hash secret, ISNs, ephemeral ports and the cookie base. */
  seed?: number;
  /** Number of CPUs (per-CPU maps, SO_INCOMING_CPU, bpf_get_smp_processor_id). Default 2. */
  cpus?: number;
  /** Owner uid of sockets created through this kernel (the same-uid group rule). Default 0. */
  uid?: number;
  /** Capabilities of the caller. Default: everything root has. */
  capabilities?: Iterable<string>;
  /**
   * Whether a child migrated at listener close wakes the target listener (inet_csk_listen_stop()
   * calls nsk->sk_data_ready(), upstream 3864c6ba1e04). Default true: this 6.18 kernel.
   * false: 5.14 kernels before the fix; seen through pollEdge(). accept() returns the children either way.
   */
  migrationWakeup?: boolean;
}

export const ROOT_CAPABILITIES = ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_NET_RAW', 'CAP_PERFMON', 'CAP_NET_BIND_SERVICE'];

export type File =
  | { kind: 'socket'; sk: Sock }
  | { kind: 'map'; map: BpfMap; read: boolean; write: boolean }
  | { kind: 'prog'; prog: BpfProg }
  | { kind: 'stats' };

const MAX_FDS = 20000;

export class SimKernel implements Kernel {
  readonly kind = 'sim' as const;
  readonly net: InetStack;
  readonly runtime: ReuseportRuntime;
  uid: number;
  caps: Set<string>;
  readonly cpus: number;
  private readonly files: (File | undefined)[] = [];
  private readonly pins = new Map<string, { kind: 'map'; map: BpfMap } | { kind: 'prog'; prog: BpfProg }>();
  private readonly mapsById = new Map<number, BpfMap>();
  private readonly progsById = new Map<number, BpfProg>();
  private nextMapId = 1;
  private nextProgId = 1;
  private statsFds = 0;
  readonly fdResolver: FdResolver;
  private readonly sockOptHost: SockOptHost;

  constructor(opts: SimKernelOptions = {}) {
    const seed = opts.seed ?? 1;
    if (!Number.isInteger(seed)) throw new TypeError(`SimKernel: seed must be an integer, not ${String(seed)}`);
    this.cpus = opts.cpus ?? 2;
    if (!Number.isInteger(this.cpus) || this.cpus < 1 || this.cpus > 1024) throw new TypeError(`SimKernel: cpus must be 1..1024, not ${String(opts.cpus)}`);
    this.uid = opts.uid ?? 0;
    this.caps = new Set(opts.capabilities ?? ROOT_CAPABILITIES);
    const rng = new Prng(seed ^ 0x5bd1e995);
    const cookies = new CookieGen(BigInt(4096 + (rng.u32() & 0xfff) * 4096));
    this.net = new InetStack(seed, cookies, this.cpus);
    this.runtime = new ReuseportRuntime(this.net);
    if (opts.migrationWakeup !== undefined && typeof opts.migrationWakeup !== 'boolean') {
      throw new TypeError(`SimKernel: migrationWakeup must be a boolean, not ${String(opts.migrationWakeup)}`);
    }
    this.net.migrationWakeup = opts.migrationWakeup ?? true;
    this.net.hooks = {
      select: (reuse, sk, pkt) => this.runtime.select(reuse, sk, pkt),
      migrate: (sk, m, noSkb) => this.runtime.migrate(sk, m, noSkb),
    };
    this.sockOptHost = {
      file: (fd) => (Number.isInteger(fd) && fd >= 0 ? this.files[fd] : undefined),
      optmemMax: () => this.net.sysctl.optmemMax,
      progPut: (p) => this.progPut(p),
    };
    this.fdResolver = {
      socket: (fd, sc) => {
        const f = this.files[fd];
        if (!Number.isInteger(fd) || fd < 0 || !f) fail(sc, 'EBADF', `fd ${fd} is not open`);
        if (f.kind !== 'socket') fail(sc, 'ENOTSOCK', `fd ${fd} is not a socket`);
        return f.sk;
      },
      map: (fd, sc) => this.mapOf(fd, sc),
    };
  }

  // ---- fd table ----
  private install(f: File, sc: string): number {
    let fd = 3;
    while (fd < this.files.length && this.files[fd]) fd++;
    if (fd >= MAX_FDS) fail(sc, 'EMFILE', 'too many open files');
    this.files[fd] = f;
    return fd;
  }

  private file(fd: number, sc: string): File {
    const f = Number.isInteger(fd) && fd >= 0 ? this.files[fd] : undefined;
    if (!f) fail(sc, 'EBADF', `fd ${fd} is not open`);
    return f;
  }

  /** The socket behind fd (EBADF / ENOTSOCK). */
  sock(fd: number, sc: string): Sock {
    return this.fdResolver.socket(fd, sc);
  }

  mapOf(fd: number, sc: string): BpfMap {
    const f = this.file(fd, sc);
    if (f.kind !== 'map') fail(sc, 'EINVAL', `fd ${fd} is not a bpf map`);
    return f.map;
  }

  progOf(fd: number, sc: string): BpfProg {
    const f = this.file(fd, sc);
    if (f.kind !== 'prog') fail(sc, 'EINVAL', `fd ${fd} is not a bpf program`);
    return f.prog;
  }

  private get bpfCapable(): boolean {
    return this.caps.has('CAP_BPF') || this.caps.has('CAP_SYS_ADMIN');
  }

  // ---- sockets ----
  socket(domain: number, type: number, protocol = 0): number {
    const base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    const sk = this.net.create(domain, base, protocol, this.uid, this.caps);
    sk.refs = 1;
    return this.install({ kind: 'socket', sk }, 'socket');
  }

  setsockopt(fd: number, level: number, optname: number, value: number | Uint8Array): void {
    sockSetsockopt(this.sockOptHost, this.sock(fd, 'setsockopt'), level, optname, value);
  }

  getsockopt(fd: number, level: number, optname: number, length?: number): Uint8Array {
    return sockGetsockopt(this.sock(fd, 'getsockopt'), level, optname, length);
  }

  bind(fd: number, address: string, port: number): void {
    this.net.bind(this.sock(fd, 'bind'), address, port, this.caps);
  }

  listen(fd: number, backlog = 4096): void {
    this.net.listen(this.sock(fd, 'listen'), backlog);
  }

  getsockname(fd: number): SockAddr {
    return this.net.sockName(this.sock(fd, 'getsockname'));
  }

  getpeername(fd: number): SockAddr {
    return this.net.peerName(this.sock(fd, 'getpeername'));
  }

  connect(fd: number, address: string, port: number): void {
    const sk = this.sock(fd, 'connect');
    this.net.connect(sk, address, port);
  }

  accept(fd: number): number {
    const child = this.net.accept(this.sock(fd, 'accept'));
    child.refs = 1;
    return this.install({ kind: 'socket', sk: child }, 'accept');
  }

  sendto(fd: number, data: Uint8Array, address?: string, port?: number, flags = 0): number {
    return this.net.sendto(this.sock(fd, 'sendto'), data, address, port, flags);
  }

  recvfrom(fd: number, maxLength?: number): Datagram {
    return this.net.recvfrom(this.sock(fd, 'recvfrom'), maxLength);
  }

  shutdown(fd: number, how: number): void {
    this.net.shutdown(this.sock(fd, 'shutdown'), how);
  }

  close(fd: number): void {
    const f = this.file(fd, 'close');
    this.files[fd] = undefined;
    switch (f.kind) {
      case 'socket':
        if (--f.sk.refs <= 0) this.net.release(f.sk);
        break;
      case 'map': this.mapPut(f.map); break;
      case 'prog': this.progPut(f.prog); break;
      case 'stats': if (--this.statsFds === 0) this.net.sysctl.bpfStatsEnabled = 0; break;
    }
  }

  poll(fds: readonly number[], _timeoutMs = 0): PollResult[] {
    return this.pollSockets(fds, false);
  }

  /**
   * What an epoll waiter that sleeps until woken sees (EPOLLET, or libuv's accept loop: it drains
   * to EAGAIN, then sleeps in epoll_wait): a listener is reported only if sk_data_ready() ran on it
   * since the last pollEdge() that listed it, and it is readable now. Consumes those wakeups.
   * Other sockets report their poll() state (edges are tracked for listeners only).
   */
  pollEdge(fds: readonly number[]): PollResult[] {
    return this.pollSockets(fds, true);
  }

  private pollSockets(fds: readonly number[], edge: boolean): PollResult[] {
    const out: PollResult[] = [];
    for (const fd of fds) {
      const f = Number.isInteger(fd) && fd >= 0 ? this.files[fd] : undefined;
      if (!f) { out.push({ fd, revents: POLLNVAL }); continue; }
      if (f.kind !== 'socket') continue;
      const ev = this.net.poll(f.sk);
      if (edge && f.sk.state === TCP_LISTEN) {
        const woken = f.sk.wakeupPending;
        f.sk.wakeupPending = false;
        if (!woken) continue;
      }
      if (ev) out.push({ fd, revents: ev });
    }
    return out;
  }

  /** epoll_ctl(EPOLL_CTL_MOD) on `fd`: ep_modify() polls it once, so the next pollEdge() reports it if readable. */
  pollRearm(fd: number): void {
    this.sock(fd, 'epoll_ctl').wakeupPending = true;
  }

  // ---- bpf(2): maps ----
  private registerMap(m: BpfMap): void {
    m.id = this.nextMapId++;
    this.mapsById.set(m.id, m);
    this.runtime.registerMap(m);
    if (m instanceof SockMapBase) this.net.sockmaps.add(m);
  }

  private mapPut(m: BpfMap): void {
    if (--m.refs > 0 || m.freed) return;
    const inners = m instanceof MapInMap ? [...m.innerMaps()] : [];
    m.free();
    this.mapsById.delete(m.id);
    this.runtime.unregisterMap(m);
    if (m instanceof SockMapBase) this.net.sockmaps.delete(m);
    for (const inner of inners) {
      if (inner.refs <= 0 && !inner.freed) {
        inner.refs = 1;
        this.mapPut(inner);
      }
    }
    if (m.innerMeta) this.mapPut(m.innerMeta);
  }

  private progPut(p: BpfProg): void {
    if (--p.refs > 0 || p.freed) return;
    p.freed = true;
    this.progsById.delete(p.id);
    for (const m of p.usedMaps) this.mapPut(m);
  }

  /**
   * bpf_map_mmap() + array_map_mmap(): the ARRAY map's own value storage (elements at
   * round_up(value_size, 8) strides, as programs see it), so views, programs and syscalls share bytes.
   */
  mapMmap(fd: number): Uint8Array {
    const sc = 'mmap';
    const f = this.file(fd, sc);
    if (f.kind !== 'map') fail(sc, 'ENODEV', `fd ${fd} is not mmapable`);
    // do_mmap() checks the file mode before the map's mmap op runs.
    if (!f.write) fail(sc, 'EACCES', 'PROT_WRITE on a read-only map fd');
    const m = f.map;
    if (!(m instanceof ArrayMap) || m.percpu) fail(sc, 'ENOTSUPP', 'map type has no map_mmap');
    if (!(m.mapFlags & BPF_F_MMAPABLE)) fail(sc, 'EINVAL', 'ARRAY map was not created with BPF_F_MMAPABLE');
    return m.region.bytes.subarray(0, m.storageSize());
  }

  mapCreate(attr: MapCreateAttr): number {
    const m = mapCreate(attr, {
      caps: this.caps,
      unprivilegedBpfDisabled: this.net.sysctl.unprivilegedBpfDisabled,
      cpus: this.cpus,
      innerMap: (fd) => {
        const f = this.files[fd];
        if (!f) fail('bpf(BPF_MAP_CREATE)', 'EBADF', `inner_map_fd ${fd} is not open`);
        if (f.kind !== 'map') fail('bpf(BPF_MAP_CREATE)', 'EINVAL', `inner_map_fd ${fd} is not a map`);
        return f.map;
      },
    });
    this.registerMap(m);
    if (m.innerMeta) m.innerMeta.refs++;
    m.refs = 1;
    const flags = attr.mapFlags ?? 0;
    return this.install({ kind: 'map', map: m, read: !(flags & BPF_F_WRONLY), write: !(flags & BPF_F_RDONLY) }, 'bpf(BPF_MAP_CREATE)');
  }

  private mapFile(fd: number, sc: string): { map: BpfMap; read: boolean; write: boolean } {
    const f = this.file(fd, sc);
    if (f.kind !== 'map') fail(sc, 'EINVAL', `fd ${fd} is not a bpf map`);
    return f;
  }

  private keyOf(sc: string, m: BpfMap, key: Uint8Array | null, what = 'key', size = m.keySize): Uint8Array {
    if (!(key instanceof Uint8Array)) fail(sc, 'EFAULT', `${what} must be a Uint8Array`);
    if (key.length < size) fail(sc, 'EFAULT', `${what} is ${key.length} bytes, the map needs ${size}`);
    return key.length === size ? key : key.subarray(0, size);
  }

  mapLookupElem(fd: number, key: Uint8Array): Uint8Array {
    const sc = 'bpf(BPF_MAP_LOOKUP_ELEM)';
    const f = this.mapFile(fd, sc);
    if (!f.read) fail(sc, 'EPERM', 'map fd was opened write-only');
    return f.map.lookupSys(this.keyOf(sc, f.map, key), this.cpus);
  }

  mapUpdateElem(fd: number, key: Uint8Array, value: Uint8Array, flags = 0): void {
    const sc = 'bpf(BPF_MAP_UPDATE_ELEM)';
    const f = this.mapFile(fd, sc);
    if (!f.write) fail(sc, 'EPERM', 'map fd was opened read-only');
    if (!Number.isInteger(flags) || flags < 0) fail(sc, 'EINVAL', `flags ${flags}`);
    if (flags & 4) fail(sc, 'EINVAL', 'BPF_F_LOCK: the map value has no bpf_spin_lock');
    const k = this.keyOf(sc, f.map, key);
    const v = this.keyOf(sc, f.map, value, 'value', f.map.sysValueSize(this.cpus));
    f.map.updateSys(k, v, flags, this.fdResolver, this.cpus);
  }

  mapDeleteElem(fd: number, key: Uint8Array): void {
    const sc = 'bpf(BPF_MAP_DELETE_ELEM)';
    const f = this.mapFile(fd, sc);
    if (!f.write) fail(sc, 'EPERM', 'map fd was opened read-only');
    f.map.deleteSys(this.keyOf(sc, f.map, key));
  }

  mapGetNextKey(fd: number, key: Uint8Array | null): Uint8Array {
    const sc = 'bpf(BPF_MAP_GET_NEXT_KEY)';
    const f = this.mapFile(fd, sc);
    if (!f.read) fail(sc, 'EPERM', 'map fd was opened write-only');
    return f.map.getNextKey(key === null || key === undefined ? null : this.keyOf(sc, f.map, key));
  }

  // ---- bpf(2): programs ----
  progLoad(attr: ProgLoadAttr): number {
    const sc = 'bpf(BPF_PROG_LOAD)';
    if (typeof attr !== 'object' || attr === null) fail(sc, 'EFAULT', 'attr must be an object');
    if (!(attr.insns instanceof Uint8Array)) fail(sc, 'EFAULT', 'insns must be a Uint8Array');
    if ((attr.progFlags ?? 0) !== 0) fail(sc, 'EINVAL', `prog_flags 0x${(attr.progFlags ?? 0).toString(16)} are not simulated`);
    const bpfCap = this.bpfCapable;
    if (this.net.sysctl.unprivilegedBpfDisabled && !bpfCap) fail(sc, 'EPERM', 'kernel.unprivileged_bpf_disabled is set and CAP_BPF is missing');
    const cnt = attr.insns.length / 8;
    if (cnt === 0 || cnt > (bpfCap ? 1_000_000 : 4096)) fail(sc, 'E2BIG', `insn_cnt ${cnt}`);
    const type = attr.progType;
    if (type !== BPF_PROG_TYPE_SOCKET_FILTER && !bpfCap) fail(sc, 'EPERM', 'program type needs CAP_BPF');
    let eat = attr.expectedAttachType ?? 0;
    if (type === BPF_PROG_TYPE_SK_REUSEPORT) {
      if (eat === 0) eat = BPF_SK_REUSEPORT_SELECT;
      if (eat !== BPF_SK_REUSEPORT_SELECT && eat !== BPF_SK_REUSEPORT_SELECT_OR_MIGRATE) fail(sc, 'EINVAL', `expected_attach_type ${eat} (SK_REUSEPORT takes 39 or 40)`);
    } else if (type === BPF_PROG_TYPE_XDP) {
      // loads (so that SO_ATTACH_REUSEPORT_EBPF can refuse it, as Linux does) but never runs here
      if (!(this.caps.has('CAP_NET_ADMIN') || this.caps.has('CAP_SYS_ADMIN'))) fail(sc, 'EPERM', 'XDP programs need CAP_NET_ADMIN');
    } else if (type !== BPF_PROG_TYPE_SOCKET_FILTER) {
      fail(sc, 'EINVAL', `program type ${type} is not simulated (SOCKET_FILTER 1, XDP 6 and SK_REUSEPORT 21 are)`);
    }
    const name = checkObjName(sc, attr.name);
    // resolve_pseudo_ldimm64(): map fds in ld_imm64
    const mapAt = new Map<number, BpfMap>();
    const dv = new DataView(attr.insns.buffer, attr.insns.byteOffset, attr.insns.byteLength);
    for (let i = 0; i < cnt; i++) {
      const code = dv.getUint8(i * 8);
      if (code !== (op.BPF_LD | op.BPF_IMM | op.BPF_DW)) continue;
      const src = dv.getUint8(i * 8 + 1) >> 4;
      if (i + 1 >= cnt) break; // the verifier reports the truncated lddw
      if (src === op.BPF_PSEUDO_MAP_FD || src === op.BPF_PSEUDO_MAP_VALUE) {
        const fd = dv.getInt32(i * 8 + 4, true);
        const f = this.files[fd];
        if (!f || f.kind !== 'map') {
          const log = `fd ${fd} is not pointing to valid bpf_map\n`;
          throw new SysError(sc, f ? 22 : 9, log.trim(), log);
        }
        if (src === op.BPF_PSEUDO_MAP_VALUE) {
          // map_direct_value_addr(): ARRAY only, with max_entries 1 (ENOTSUPP) and off < value_size (EINVAL)
          const off = dv.getUint32(i * 8 + 12, true);
          let why: [number, string] | null = null;
          if (f.map.type !== 2) why = [ERRNO.EINVAL, 'no direct value access support for this map type'];
          else if (f.map.maxEntries !== 1) why = [ERRNO.ENOTSUPP, `invalid access to map value pointer, value_size=${f.map.valueSize} off=${off}`];
          else if (off >= f.map.valueSize) why = [ERRNO.EINVAL, `invalid access to map value pointer, value_size=${f.map.valueSize} off=${off}`];
          if (why) throw new SysError(sc, why[0], why[1], `${why[1]}\n`);
        }
        mapAt.set(i, f.map);
        i++;
      } else if (src !== 0) {
        const log = `unrecognized bpf_ld_imm64 insn\n`;
        throw new SysError(sc, 22, log.trim(), log);
      }
    }
    const out: { insns: Insn[] } = { insns: [] };
    let res;
    try {
      res = verify(attr.insns, { progType: type, expectedAttachType: eat, caps: this.caps, mapAt, gplCompatible: gplCompatible(attr.license) }, out);
    } catch (e) {
      if (e instanceof VerifierError) {
        const size = attr.logSize;
        const log = size !== undefined && size > 0 && e.log.length >= size ? e.log.slice(0, size - 1) : e.log;
        throw new SysError(sc, errnoOf(e.code), e.message, log);
      }
      throw e;
    }
    const prog = new BpfProg(type, eat, name, out.insns, mapAt);
    prog.stackDepth = res.stackDepth;
    prog.insnProcessed = res.insnProcessed;
    for (const m of prog.usedMaps) m.refs++;
    prog.id = this.nextProgId++;
    this.progsById.set(prog.id, prog);
    prog.refs = 1;
    return this.install({ kind: 'prog', prog }, sc);
  }

  // ---- bpf(2): objects ----
  objPin(fd: number, path: string): void {
    const sc = 'bpf(BPF_OBJ_PIN)';
    const f = this.file(fd, sc);
    if (f.kind !== 'map' && f.kind !== 'prog') fail(sc, 'EINVAL', `fd ${fd} is not a bpf map or program`);
    checkBpffsPath(sc, path);
    if (this.pins.has(path)) fail(sc, 'EEXIST', `${path} exists`);
    if (f.kind === 'map') { f.map.refs++; this.pins.set(path, { kind: 'map', map: f.map }); } else { f.prog.refs++; this.pins.set(path, { kind: 'prog', prog: f.prog }); }
  }

  objGet(path: string, fileFlags = 0): number {
    const sc = 'bpf(BPF_OBJ_GET)';
    if (fileFlags & ~(BPF_F_RDONLY | BPF_F_WRONLY) || (fileFlags & BPF_F_RDONLY && fileFlags & BPF_F_WRONLY)) fail(sc, 'EINVAL', `file_flags 0x${fileFlags.toString(16)}`);
    checkBpffsPath(sc, path);
    const p = this.pins.get(path);
    if (!p) fail(sc, 'ENOENT', `${path} does not exist`);
    if (p.kind === 'map') {
      p.map.refs++;
      return this.install({ kind: 'map', map: p.map, read: !(fileFlags & BPF_F_WRONLY), write: !(fileFlags & BPF_F_RDONLY) }, sc);
    }
    p.prog.refs++;
    return this.install({ kind: 'prog', prog: p.prog }, sc);
  }

  /** unlink(2) of a bpffs pin. */
  unlinkPin(path: string): void {
    const p = this.pins.get(path);
    if (!p) fail('unlink', 'ENOENT', `${path} does not exist`);
    this.pins.delete(path);
    if (p.kind === 'map') this.mapPut(p.map); else this.progPut(p.prog);
  }

  mapGetFdById(id: number): number {
    const sc = 'bpf(BPF_MAP_GET_FD_BY_ID)';
    if (!this.caps.has('CAP_SYS_ADMIN')) fail(sc, 'EPERM', 'needs CAP_SYS_ADMIN');
    const m = this.mapsById.get(id);
    if (!m) fail(sc, 'ENOENT', `no map with id ${id}`);
    m.refs++;
    return this.install({ kind: 'map', map: m, read: true, write: true }, sc);
  }

  progGetFdById(id: number): number {
    const sc = 'bpf(BPF_PROG_GET_FD_BY_ID)';
    if (!this.caps.has('CAP_SYS_ADMIN')) fail(sc, 'EPERM', 'needs CAP_SYS_ADMIN');
    const p = this.progsById.get(id);
    if (!p) fail(sc, 'ENOENT', `no program with id ${id}`);
    p.refs++;
    return this.install({ kind: 'prog', prog: p }, sc);
  }

  mapGetInfo(fd: number): MapInfo {
    const sc = 'bpf(BPF_OBJ_GET_INFO_BY_FD)';
    const f = Number.isInteger(fd) && fd >= 0 ? this.files[fd] : undefined;
    if (!f) fail(sc, 'EBADFD', `fd ${fd} is not open`);
    if (f.kind !== 'map') fail(sc, 'EINVAL', `fd ${fd} is not a bpf map`);
    const m = f.map;
    return { type: m.type, id: m.id, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, mapFlags: m.mapFlags, name: m.name };
  }

  progGetInfo(fd: number): ProgInfo {
    const sc = 'bpf(BPF_OBJ_GET_INFO_BY_FD)';
    const f = Number.isInteger(fd) && fd >= 0 ? this.files[fd] : undefined;
    if (!f) fail(sc, 'EBADFD', `fd ${fd} is not open`);
    if (f.kind !== 'prog') fail(sc, 'EINVAL', `fd ${fd} is not a bpf program`);
    const p = f.prog;
    return { type: p.type, id: p.id, name: p.name, runTimeNs: p.runTimeNs, runCnt: p.runCnt };
  }

  enableStats(type = 0): number {
    const sc = 'bpf(BPF_ENABLE_STATS)';
    if (!this.caps.has('CAP_SYS_ADMIN')) fail(sc, 'EPERM', 'needs CAP_SYS_ADMIN');
    if (type !== 0) fail(sc, 'EINVAL', `stats type ${type}`);
    this.statsFds++;
    this.net.sysctl.bpfStatsEnabled = 1;
    return this.install({ kind: 'stats' }, sc);
  }

  // ---- environment ----
  sysctl(name: string, value?: string): string {
    const sc = `sysctl(${name})`;
    const s = this.net.sysctl;
    const table: Record<string, { get(): string; set?(v: number): void; min?: number; max?: number }> = {
      'net.ipv4.tcp_migrate_req': { get: () => String(s.tcpMigrateReq), set: (v) => { s.tcpMigrateReq = v; }, min: 0, max: 1 },
      'net.ipv4.tcp_syncookies': { get: () => String(s.tcpSyncookies), set: (v) => { s.tcpSyncookies = v; }, min: 0, max: 2 },
      'net.ipv4.tcp_fastopen': { get: () => String(s.tcpFastopen), set: (v) => { s.tcpFastopen = v; }, min: 0, max: 0x7fffffff },
      'net.core.somaxconn': { get: () => String(s.somaxconn), set: (v) => { s.somaxconn = v; }, min: 0, max: 0x7fffffff },
      'net.core.optmem_max': { get: () => String(s.optmemMax), set: (v) => { s.optmemMax = v; }, min: 0, max: 0x7fffffff },
      'kernel.unprivileged_bpf_disabled': {
        get: () => String(s.unprivilegedBpfDisabled),
        set: (v) => { if (s.unprivilegedBpfDisabled === 1 && v !== 1) fail(sc, 'EPERM', 'unprivileged_bpf_disabled=1 is sticky'); s.unprivilegedBpfDisabled = v; },
        min: 0, max: 2,
      },
      'kernel.bpf_stats_enabled': { get: () => String(s.bpfStatsEnabled > 0 ? 1 : 0), set: (v) => { s.bpfStatsEnabled = v || this.statsFds; }, min: 0, max: 1 },
      'net.ipv4.ip_local_port_range': { get: () => '32768\t60999' },
      'net.core.rmem_default': { get: () => '212992' },
      'net.core.rmem_max': { get: () => String(RMEM_MAX) },
    };
    const e = table[name];
    if (!e) fail(sc, 'ENOENT', 'no such sysctl in the simulated kernel');
    if (value !== undefined) {
      if (!e.set) fail(sc, 'EPERM', 'read-only in the simulated kernel');
      if (!this.caps.has('CAP_SYS_ADMIN') && !(name.startsWith('net.') && this.caps.has('CAP_NET_ADMIN'))) fail(sc, 'EPERM', 'needs CAP_SYS_ADMIN/CAP_NET_ADMIN');
      const v = Number(String(value).trim());
      if (!Number.isInteger(v) || v < (e.min ?? 0) || v > (e.max ?? 0x7fffffff)) fail(sc, 'EINVAL', `value ${JSON.stringify(value)}`);
      e.set(v);
    }
    return e.get();
  }

  // ---- simulator-only controls ----
  /** CPU that subsequent packets are processed on (bpf_get_smp_processor_id, SO_INCOMING_CPU). */
  setCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) throw new RangeError(`cpu ${cpu} is not 0..${this.cpus - 1}`);
    this.net.defaultCpu = cpu;
  }

  /** Hold back the final ACK of new handshakes (request sockets stay NEW_SYN_RECV / TFO children SYN_RECV). */
  holdAcks(on: boolean): void {
    this.net.holdAcks = on;
  }
  /** Deliver held ACKs (migrating requests of closed listeners as inet_csk_complete_hashdance does). */
  releaseAcks(): void {
    this.net.releaseAcks();
  }
  /** Fire SYN+ACK retransmit timers (reqsk_timer_handler migrates requests of closed listeners). */
  expireSynAckTimers(): void {
    this.net.expireSynAckTimers();
  }
  /** /proc/net/netstat-like counters. */
  get netstat(): Readonly<InetStack['stats']> {
    return this.net.stats;
  }
  /** The socket an fd refers to (for white-box tests and testRun). */
  socketOf(fd: number): Sock {
    return this.sock(fd, 'socketOf');
  }
  /** The program an fd refers to. */
  programOf(fd: number): BpfProg {
    return this.progOf(fd, 'programOf');
  }
  /** The lowest fd open on a socket (null if none). */
  fdOfSocket(sk: Sock): number | null {
    for (let fd = 0; fd < this.files.length; fd++) {
      const f = this.files[fd];
      if (f && f.kind === 'socket' && f.sk === sk) return fd;
    }
    return null;
  }

  /** Run `progFd` against the group of `opts.fd` with a synthetic packet (see docs/sim.md). */
  testRun(progFd: number, opts: TestRunOptions): TestRunResult {
    return testRun(this, progFd, opts);
  }
  /** A reusable packet for select(). */
  makePacket(groupFd: number, p?: TestRunPacket): Packet {
    return makePacket(this, groupFd, p);
  }
  /** The kernel's choice for `pkt` at the group of `groupFd`: socks[] index, or -1 for a drop. */
  select(groupFd: number, pkt: Packet): number {
    return selectIndex(this, groupFd, pkt);
  }
}


/** license_is_gpl_compatible() (include/linux/license.h). */
function gplCompatible(license: string | undefined): boolean {
  return ['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL'].includes(license ?? '');
}

function checkBpffsPath(sc: string, path: string): void {
  if (typeof path !== 'string' || !path.startsWith('/sys/fs/bpf/') || path.length <= '/sys/fs/bpf/'.length) {
    fail(sc, 'EPERM', `${String(path)} is not on a bpf filesystem (the simulated bpffs is /sys/fs/bpf)`);
  }
}

function errnoOf(code: ErrnoCode): number {
  return ERRNO[code];
}

export { IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM };
