/**
 * Running the group's program (net/core/filter.c, net/core/sock_reuseport.c):
 * bpf_run_sk_reuseport() with a real sk_reuseport_md, the SK_REUSEPORT helpers,
 * run_bpf_filter() for classic/SOCKET_FILTER programs (an index into socks[] over the L4
 * payload), reuseport_select_sock() and reuseport_migrate_sock().
 */
import {
  BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, ETH_P_IP, ETH_P_IPV6,
  IPPROTO_TCP, SK_PASS,
} from '../kernel/index.js';
import { HELPER_NAMES } from '../ebpf/helpers.js';
import { Memory, loadProgram, type Helper, type HelperCall, type Region } from '../vm/index.js';
import { SELECT_DROP, type InetStack, type SelectResult } from './af_inet.js';
import type { BpfMap } from './bpf_map.js';
import type { BpfProg } from './bpf_prog.js';
import { genCookie } from './cookie.js';
import { ETH_HLEN, TCP_ACK, writeL3, writeL4, type Packet } from './packet.js';
import type { ReuseportGroup } from './reuseport_group.js';
import {
  BPF_SOCK_SIZE, BS_DST_IP4, BS_DST_IP6, BS_DST_PORT, BS_FAMILY, BS_PROTOCOL, BS_RX_QUEUE_MAPPING, BS_SRC_IP4, BS_SRC_IP6,
  BS_SRC_PORT, BS_STATE, BS_TYPE, MD_BIND_INANY, MD_DATA, MD_DATA_END, MD_ETH_PROTOCOL, MD_HASH, MD_IP_PROTOCOL, MD_LEN,
  MD_MIGRATING_SK, MD_SK, SKB_CB, SKB_HASH, SKB_IFINDEX, SKB_LEN, SKB_PROTOCOL, SKB_SIZE, SK_REUSEPORT_MD_SIZE,
} from './sk_reuseport_md.js';
import { helperProto } from './verifier.js';
import { Sock, TCP_LISTEN, type RequestSock } from './socket.js';

const TWO32 = 4294967296;
const LOOPBACK4_IPV6 = Uint8Array.of(127, 0, 0, 6);
const EFAULT = -14, ENOENT = -2, EINVAL = -22, EPROTOTYPE = -91, EAFNOSUPPORT = -97, EBADFD = -77;

export interface HelperTrace {
  id: number;
  name: string;
  args: bigint[];
  ret: bigint;
}

/** The kernel's sk_reuseport_kern for the run in progress (one reused object). */
interface RunState {
  reuse: ReuseportGroup;
  sk: Sock;
  selected: Sock | null;
  migrating: Sock | RequestSock | null;
  pkt: Packet | null;
  /** Frame length in frameBuf (0: no packet, e.g. the empty skb of a migration). */
  frameLen: number;
  /** The Ethernet/IP headers are written lazily (only load_bytes_relative reads them). */
  l3Written: boolean;
  cpu: number;
}

export interface RunResult {
  /** r0 (u32). */
  verdict: number;
  selected: Sock | null;
  insnCount: number;
}

export class ReuseportRuntime {
  readonly mem = new Memory();
  private readonly ctx: Region;
  private readonly skb: Region;
  private readonly skbView: DataView;
  private readonly skRegion: Region;
  private readonly mskRegion: Region;
  private readonly pkt4: Region;
  private readonly pkt6: Region;
  private readonly pktPayload: Region;
  private readonly frameBuf = new Uint8Array(ETH_HLEN + 40 + 60 + 65536);
  private readonly frameView = new DataView(this.frameBuf.buffer);
  private readonly mapsByRegion: (BpfMap | undefined)[] = [];
  readonly helpers = new Map<number, Helper>();
  private st: RunState | null = null;
  private readonly rs: RunState;
  private readonly ctxWords: Uint32Array;
  private skFilled: Sock | RequestSock | null = null;
  private skFilledState = -1;
  /** Result of the last run (kept in fields: the hot path allocates nothing). */
  lastSelected: Sock | null = null;
  lastInsnCount = 0;
  /** bpf_trace_printk output (the simulated /sys/kernel/tracing/trace_pipe). */
  readonly tracePipe: string[] = [];
  /** When non-null, every helper call is recorded here (testRun). */
  trace: HelperTrace[] | null = null;
  private readonly net: InetStack;
  private readonly clock0 = process.hrtime.bigint();

  constructor(net: InetStack) {
    this.net = net;
    this.ctx = this.mem.map(new Uint8Array(SK_REUSEPORT_MD_SIZE), { writable: false, name: 'sk_reuseport_md' });
    this.ctxWords = new Uint32Array(this.ctx.bytes.buffer, this.ctx.bytes.byteOffset, SK_REUSEPORT_MD_SIZE / 4);
    this.skb = this.mem.map(new Uint8Array(SKB_SIZE), { writable: true, name: '__sk_buff' });
    this.skbView = this.skb.view;
    this.skRegion = this.mem.map(new Uint8Array(BPF_SOCK_SIZE), { writable: false, name: 'bpf_sock(sk)' });
    this.mskRegion = this.mem.map(new Uint8Array(BPF_SOCK_SIZE), { writable: false, name: 'bpf_sock(migrating_sk)' });
    this.pkt4 = this.mem.map(this.frameBuf.subarray(ETH_HLEN + 20), { writable: false, name: 'packet', length: 0 });
    this.pkt6 = this.mem.map(this.frameBuf.subarray(ETH_HLEN + 40), { writable: false, name: 'packet', length: 0 });
    this.pktPayload = this.mem.map(this.frameBuf, { writable: false, name: 'payload', length: 0 });
    this.installHelpers();
    this.rs = { reuse: null!, sk: null!, selected: null, migrating: null, pkt: null, frameLen: 0, l3Written: false, cpu: 0 };
  }

  /** Give a new map its value-storage region. */
  registerMap(m: BpfMap): void {
    const r = this.mem.map(new Uint8Array(m.storageSize()), { name: `map${m.id}` });
    m.attachStorage(r);
    this.mapsByRegion[r.id] = m;
  }
  unregisterMap(m: BpfMap): void {
    if (!m.region) return;
    this.mapsByRegion[m.region.id] = undefined;
  }

  private mapAt(addr: number): BpfMap {
    const m = this.mapsByRegion[Math.floor(addr / TWO32)];
    if (!m) throw new Error(`helper: 0x${addr.toString(16)} is not a map`);
    return m;
  }

  private now(): bigint {
    return process.hrtime.bigint() - this.clock0 + 1_000_000_000n;
  }

  private installHelpers(): void {
    const h = this.helpers;
    const cpu = (): number => this.st?.cpu ?? this.net.defaultCpu;
    h.set(1, (c) => { const m = this.mapAt(c.addr(1)); return m.progLookup(c.mem.read(c.addr(2), m.keySize), cpu()); });
    h.set(2, (c) => { const m = this.mapAt(c.addr(1)); return m.progUpdate(c.mem.read(c.addr(2), m.keySize), c.mem.read(c.addr(3), m.valueSize), c.u32(4), cpu()); });
    h.set(3, (c) => { const m = this.mapAt(c.addr(1)); return m.progDelete(c.mem.read(c.addr(2), m.keySize)); });
    h.set(5, () => this.now());
    h.set(125, () => this.now());
    h.set(160, () => this.now());
    h.set(208, () => this.now());
    h.set(7, () => this.net.rng.u32());
    h.set(8, () => cpu());
    h.set(42, () => 0);
    h.set(14, () => 0);
    h.set(15, () => 0);
    h.set(118, () => this.now() / 4_000_000n);
    h.set(82, (c) => this.skSelectReuseport(c));
    h.set(26, (c) => this.loadBytes(c, false));
    h.set(68, (c) => this.loadBytes(c, true));
    h.set(46, (c) => this.socketCookie(c));
    h.set(47, () => this.st?.sk.uid ?? 0);
    // base helpers without simulated state: softirq context has no current task or cgroup
    for (const id of [17, 35, 80, 109, 117, 123, 158]) h.set(id, () => 0);
    h.set(195, (c) => {
      const m = this.mapAt(c.addr(1));
      const cpuArg = c.u32(3);
      return cpuArg >= this.net.cpus ? 0 : m.progLookup(c.mem.read(c.addr(2), m.keySize), cpuArg);
    });
    h.set(6, (c) => {
      // bpf_trace_printk: the format string goes to the trace pipe unformatted
      const len = c.u32(2);
      const bytes = c.mem.read(c.addr(1), len);
      const end = bytes.indexOf(0);
      const text = new TextDecoder().decode(end >= 0 ? bytes.subarray(0, end) : bytes);
      if (this.tracePipe.length < 10000) this.tracePipe.push(text);
      return text.length;
    });
  }

  /** BPF_CALL_4(sk_select_reuseport, ...). */
  private skSelectReuseport(c: HelperCall): number {
    const st = this.st!;
    const map = this.mapAt(c.addr(2));
    const selected = map.indexedSocks ? map.lookupSockIndex(c.mem.load32(c.addr(3))) : map.lookupSock(c.mem.read(c.addr(3), map.keySize));
    if (!selected) return ENOENT;
    const reuse = selected.reuseCb;
    if (!reuse) return map.type === BPF_MAP_TYPE_REUSEPORT_SOCKARRAY ? ENOENT : EINVAL;
    if (reuse.reuseportId !== st.reuse.reuseportId) {
      if (st.sk.protocol !== selected.protocol) return EPROTOTYPE;
      if (st.sk.family !== selected.family) return EAFNOSUPPORT;
      return EBADFD;
    }
    st.selected = selected;
    return 0;
  }

  /** sk_reuseport_load_bytes(_relative): offsets from the L4 header, or from the MAC/network header. */
  private loadBytes(c: HelperCall, relative: boolean): number {
    const st = this.st!;
    const off = c.u32(2);
    const to = c.addr(3);
    const len = c.u32(4);
    const pkt = st.pkt;
    let start = -1;
    if (pkt) {
      if (!relative) start = ETH_HLEN + (pkt.v6 ? 40 : 20);
      else {
        if (!st.l3Written) {
          writeL3(pkt, this.frameBuf, this.frameView);
          st.l3Written = true;
        }
        const hdr = c.u32(5);
        start = hdr === 0 ? 0 : hdr === 1 ? ETH_HLEN : -1;
      }
    }
    const end = st.frameLen;
    if (start < 0 || off > 0xffff && relative || start + off + len > end || off > 0x7fffffff) {
      c.mem.check(to, len, true);
      c.mem.read(to, len).fill(0);
      return EFAULT;
    }
    c.mem.write(to, this.frameBuf.subarray(start + off, start + off + len));
    return 0;
  }

  private socketCookie(c: HelperCall): bigint | number {
    const addr = c.addr(1);
    const st = this.st!;
    if (addr === 0) return 0; // NULL socket (e.g. migrating_sk outside a migration)
    if (addr === this.skb.base) return 0; // SOCKET_FILTER: skb->sk is NULL during the lookup
    if (addr === this.mskRegion.base && st.migrating) {
      if (st.migrating instanceof Sock) return genCookie(st.migrating);
      const req = st.migrating;
      if (req.cookie === 0n) req.cookie = this.net.cookies.gen();
      return req.cookie;
    }
    return genCookie(st.sk);
  }

  /** Compile on first use with this kernel's helpers (and the tracing wrapper when asked). */
  compile(prog: BpfProg): void {
    if (prog.vm) return;
    const helpers = new Map<number, Helper>();
    for (const [id, fn] of this.helpers) {
      const nargs = helperProto(prog.type, id)?.args.length ?? 5;
      helpers.set(id, (c) => {
        const r = fn(c);
        const t = this.trace;
        if (t) {
          const args: bigint[] = [];
          for (let i = 1; i <= nargs; i++) args.push(c.u64(i));
          const ret = typeof r === 'bigint' ? BigInt.asIntN(64, r) : BigInt(r as number);
          t.push({ id, name: `bpf_${HELPER_NAMES[id]}`, args, ret });
        }
        return r;
      });
    }
    prog.vm = loadProgram(prog.insns, {
      helpers,
      // verified programs terminate; the budget only guards against a verifier gap
      budget: 16_000_000,
      resolveLddw: (insn, pc) => {
        const m = prog.mapAt.get(pc);
        if (!m) return insn.imm64 ?? 0n;
        return insn.src === 1 ? m.region.base : m.region.base + Number((insn.imm64 ?? 0n) >> 32n);
      },
    });
  }

  private fillSock(r: Region, s: Sock | RequestSock, state: number): void {
    const dv = r.view;
    r.bytes.fill(0);
    const sk = s instanceof Sock ? s : null;
    const req = sk ? null : (s as RequestSock);
    const family = sk ? sk.family : req!.listener.family;
    const local = sk ? sk.rcvSaddr : req!.client.daddr;
    const remote = sk ? sk.daddr : req!.client.rcvSaddr;
    const lport = sk ? sk.num : req!.listener.num;
    const rport = sk ? sk.dport : req!.client.num;
    dv.setUint32(BS_FAMILY, family, true);
    dv.setUint32(BS_TYPE, sk ? sk.type : 1, true);
    dv.setUint32(BS_PROTOCOL, sk ? sk.protocol : IPPROTO_TCP, true);
    // an IPv6 socket on a non-mapped address carries LOOPBACK4_IPV6 (127.0.0.6) as its IPv4 address
    if (local) {
      if (local.v4) r.bytes.set(local.bytes.subarray(12), BS_SRC_IP4);
      else if (!local.any) r.bytes.set(LOOPBACK4_IPV6, BS_SRC_IP4);
      if (family === 10) r.bytes.set(local.bytes, BS_SRC_IP6);
    }
    if (remote) {
      if (remote.v4) r.bytes.set(remote.bytes.subarray(12), BS_DST_IP4);
      else if (!remote.any) r.bytes.set(LOOPBACK4_IPV6, BS_DST_IP4);
      if (family === 10) r.bytes.set(remote.bytes, BS_DST_IP6);
    }
    dv.setUint32(BS_SRC_PORT, lport, true);
    dv.setUint16(BS_DST_PORT, rport, false);
    dv.setUint32(BS_STATE, state, true);
    dv.setInt32(BS_RX_QUEUE_MAPPING, -1, true);
  }

  /**
   * bpf_run_sk_reuseport(): fill sk_reuseport_md, run, and read the verdict.
   * `pkt` null: the empty skb reuseport_migrate_sock() allocates (len 0, eth_protocol 0).
   */
  runSkReuseport(prog: BpfProg, reuse: ReuseportGroup, sk: Sock, pkt: Packet | null, migrating: Sock | RequestSock | null, hash: number): RunResult {
    const verdict = this.runSkReuseportFast(prog, reuse, sk, pkt, migrating, hash);
    return { verdict, selected: this.lastSelected, insnCount: this.lastInsnCount };
  }

  /** The allocation-free core: returns r0; the selection is in lastSelected. */
  runSkReuseportFast(prog: BpfProg, reuse: ReuseportGroup, sk: Sock, pkt: Packet | null, migrating: Sock | RequestSock | null, hash: number): number {
    if (!prog.vm) this.compile(prog);
    const w = this.ctxWords;
    let region = this.pkt4;
    let frameLen = 0;
    let l4len = 0;
    if (pkt) {
      frameLen = writeL4(pkt, this.frameBuf, this.frameView);
      if (pkt.v6) region = this.pkt6;
      l4len = frameLen - (ETH_HLEN + (pkt.v6 ? 40 : 20));
    }
    region.length = l4len; // within bytes.length by construction (frameBuf holds 64 KiB + headers)
    // sk_reuseport_md, as u32 words (little-endian): pointers are region id << 32 | offset
    w[MD_DATA >> 2] = 0; w[(MD_DATA >> 2) + 1] = region.id;
    w[MD_DATA_END >> 2] = l4len; w[(MD_DATA_END >> 2) + 1] = region.id;
    w[MD_LEN >> 2] = l4len;
    w[MD_ETH_PROTOCOL >> 2] = pkt ? (pkt.v6 ? 0xdd86 : 0x0008) : 0; // htons(ETH_P_*) read as a LE u32
    w[MD_IP_PROTOCOL >> 2] = sk.protocol; // the group socket's protocol, not the packet's
    w[MD_BIND_INANY >> 2] = reuse.bindInany ? 1 : 0;
    w[MD_HASH >> 2] = hash >>> 0;
    if (this.skFilled !== sk || this.skFilledState !== sk.state) {
      this.fillSock(this.skRegion, sk, sk.state);
      this.skFilled = sk;
      this.skFilledState = sk.state;
    }
    w[MD_SK >> 2] = 0; w[(MD_SK >> 2) + 1] = this.skRegion.id;
    if (migrating) {
      this.fillSock(this.mskRegion, migrating, migrating.state);
      w[MD_MIGRATING_SK >> 2] = 0; w[(MD_MIGRATING_SK >> 2) + 1] = this.mskRegion.id;
    } else {
      w[MD_MIGRATING_SK >> 2] = 0; w[(MD_MIGRATING_SK >> 2) + 1] = 0;
    }
    const st = this.rs;
    st.reuse = reuse; st.sk = sk; st.selected = null; st.migrating = migrating; st.pkt = pkt;
    st.frameLen = frameLen; st.l3Written = false; st.cpu = pkt ? pkt.cpu : this.net.defaultCpu;
    this.st = st;
    const stats = this.net.sysctl.bpfStatsEnabled > 0;
    const t0 = stats ? process.hrtime.bigint() : 0n;
    let verdict: number;
    const vm = prog.vm!;
    try {
      verdict = vm.run(this.mem, this.ctx.base);
    } finally {
      this.st = null;
      st.pkt = null;
      st.migrating = null;
      this.lastInsnCount = vm.insnCount;
      if (stats) {
        prog.runCnt++;
        prog.runTimeNs += process.hrtime.bigint() - t0;
      }
    }
    this.lastSelected = verdict === SK_PASS ? st.selected : null;
    return verdict;
  }

  /** run_bpf_filter(): a SOCKET_FILTER program over the L4 payload returns an index. */
  runSocketFilter(prog: BpfProg, reuse: ReuseportGroup, sk: Sock, pkt: Packet): RunResult {
    this.compile(prog);
    const payload = pkt.payload;
    this.frameBuf.set(payload, 0);
    this.pktPayload.setLength(payload.length);
    this.mem.packet = this.pktPayload;
    const dv = this.skbView;
    this.skb.bytes.fill(0);
    dv.setUint32(SKB_LEN, payload.length, true);
    dv.setUint32(SKB_PROTOCOL, pkt.v6 ? 0xdd86 : 0x0008, true);
    dv.setUint32(SKB_IFINDEX, 1, true);
    dv.setUint32(SKB_HASH, pkt.hash >>> 0, true);
    void SKB_CB;
    const st = this.rs;
    st.reuse = reuse; st.sk = sk; st.selected = null; st.migrating = null; st.pkt = pkt; st.frameLen = 0; st.l3Written = true; st.cpu = pkt.cpu;
    this.st = st;
    const stats = this.net.sysctl.bpfStatsEnabled > 0;
    const t0 = stats ? process.hrtime.bigint() : 0n;
    let verdict: number;
    try {
      verdict = prog.vm!.run(this.mem, this.skb.base);
    } finally {
      this.st = null;
      this.mem.packet = null;
      if (stats) {
        prog.runCnt++;
        prog.runTimeNs += process.hrtime.bigint() - t0;
      }
    }
    return { verdict, selected: null, insnCount: prog.vm!.insnCount };
  }

  /** reuseport_select_sock(): program, then hash fallback. */
  select(reuse: ReuseportGroup, sk: Sock, pkt: Packet): SelectResult {
    const socks = reuse.socks.length;
    if (socks === 0) return null;
    const p = reuse.prog;
    let sk2: Sock | null = null;
    if (p) {
      if (p.kind === 'ebpf' && p.prog.type === BPF_PROG_TYPE_SK_REUSEPORT) {
        if (this.runSkReuseportFast(p.prog, reuse, sk, pkt, null, pkt.hash) !== SK_PASS) return SELECT_DROP;
        sk2 = this.lastSelected;
      } else {
        const index = p.kind === 'ebpf'
          ? this.runSocketFilter(p.prog, reuse, sk, pkt).verdict
          : p.prog.run(pkt.payload, { protocol: pkt.v6 ? ETH_P_IPV6 : ETH_P_IP, hash: pkt.hash, cpu: pkt.cpu, random: () => this.net.rng.u32() });
        if (index < reuse.socks.length) sk2 = reuse.socks[index]!;
      }
    }
    return sk2 ?? reuse.selectByHash(pkt.hash, pkt.cpu);
  }

  /** reuseport_migrate_sock(): where a child/request of a closing listener goes (null: failure). */
  migrate(sk: Sock, migrating: Sock | RequestSock, withoutSkb: boolean): Sock | null {
    const reuse = sk.reuseCb;
    const fail = (): null => {
      this.net.stats.migrateReqFailure++;
      return null;
    };
    if (!reuse) return null;
    if (reuse.socks.length === 0) return fail();
    const hash = migrating instanceof Sock ? migrating.skHash : migrating.hash;
    const p = reuse.prog;
    let nsk: Sock | null = null;
    if (!p || p.kind !== 'ebpf' || p.prog.expectedAttachType !== BPF_SK_REUSEPORT_SELECT_OR_MIGRATE) {
      if (!this.net.sysctl.tcpMigrateReq) return fail();
    } else {
      let pkt: Packet | null = null;
      if (!withoutSkb && !(migrating instanceof Sock)) {
        // the final ACK of the handshake (tcp_v4_rcv NEW_SYN_RECV path)
        const req = migrating;
        pkt = {
          v6: !req.client.rcvSaddr!.v4, protocol: IPPROTO_TCP, saddr: req.client.rcvSaddr!, sport: req.client.num,
          daddr: req.client.daddr!, dport: req.listener.num, payload: new Uint8Array(0), hash, cpu: this.net.defaultCpu,
          tcpFlags: TCP_ACK, seq: 0, synOptions: false, tsval: 0,
        };
      }
      const r = this.runSkReuseport(p.prog, reuse, sk, pkt, migrating, hash);
      if (r.verdict !== SK_PASS) return fail();
      nsk = r.selected;
    }
    if (!nsk) nsk = reuse.selectByHash(hash, this.net.defaultCpu);
    if (!nsk || nsk.dead) return fail();
    if (nsk.state !== TCP_LISTEN) return fail();
    return nsk;
  }
}
