/**
 * Random worlds for the differential test (table 6): a reuseport group, a few foreign sockets,
 * a socket map, a random SK_REUSEPORT program from a small grammar, and a random sequence of
 * map/socket operations and sends. `runWorld` executes one world on one kernel, self-checks it
 * (a successful selection must deliver to the socket the harness put in that slot) and returns
 * the trace of comparable observations: errnos, program path, helper errno, key, receiver index.
 */
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, BPF_ANY, BPF_EXIST, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_MAP_TYPE_SOCKHASH,
  BPF_MAP_TYPE_SOCKMAP, BPF_NOEXIST, BPF_PROG_TYPE_SK_REUSEPORT, MSG_FASTOPEN, SK_DROP, SK_PASS, SOCK_DGRAM,
  SOCK_STREAM, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, SO_DETACH_REUSEPORT_BPF, SO_REUSEPORT, errnoName, type Kernel,
} from '../../src/kernel/index.js';
import { FP, program, R0, R1, R2, R3, R4, R6, R7, R8, R9, type Program, type Reg } from '../../src/ebpf/asm.js';
import { MD } from './scenario_progs.js';
import { readI32, readU32, u32, u64, type ScenarioCtx } from './scenario_runner.js';

// ---- PRNG (mulberry32): the whole world derives from one u32 seed ----
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]!; }
  chance(p: number): boolean { return this.next() < p; }
}

/** Per-iteration seed from the run seed (splitmix-style mix). */
export function iterationSeed(seed: number, i: number): number {
  let z = (seed + Math.imul(i + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

// ---- the program grammar ----
export type Expr =
  | { k: 'const'; v: number }
  | { k: 'byte'; j: number }
  | { k: 'add'; e: Expr; c: number }
  | { k: 'mod'; e: Expr; m: number }
  | { k: 'hashnz'; a: Expr; b: Expr };

export interface ProgSpec {
  /** if payload[j] == v: return the action without selecting (drop, or pass → hash fallback) */
  pre?: { j: number; v: number; action: 'drop' | 'pass' };
  key: Expr;
  /** what to return when the helper fails: SK_PASS (hash fallback), SK_DROP, or 2 (acts as drop) */
  onErr: 'pass' | 'drop' | 'ret2';
}

export const showExpr = (e: Expr): string =>
  e.k === 'const' ? `${e.v}` : e.k === 'byte' ? `p[${e.j}]` : e.k === 'add' ? `(${showExpr(e.e)}+${e.c})`
    : e.k === 'mod' ? `(${showExpr(e.e)}%${e.m})` : `(hash!=0?${showExpr(e.a)}:${showExpr(e.b)})`;

function genExpr(rng: Rng, depth: number, slots: number): Expr {
  const leaf = (): Expr => (rng.chance(0.5) ? { k: 'const', v: rng.int(0, slots + 1) } : { k: 'byte', j: rng.int(0, 3) });
  if (depth <= 0) return leaf();
  switch (rng.int(0, 4)) {
    case 0: return leaf();
    case 1: return { k: 'add', e: genExpr(rng, depth - 1, slots), c: rng.int(0, 3) };
    case 2: return { k: 'mod', e: genExpr(rng, depth - 1, slots), m: rng.int(1, slots + 1) };
    case 3: return { k: 'hashnz', a: genExpr(rng, depth - 1, slots), b: genExpr(rng, depth - 1, slots) };
    default: return { k: 'byte', j: rng.int(0, 3) };
  }
}

/** Stats record the program keeps in ARRAY[1] of 32 bytes. */
export const ST = { runs: 0, ok: 4, err: 8, xdrop: 12, xpass: 16, key: 20, lastErr: 24, size: 32 } as const;

/** Emit `dst = expr` (u32 semantics via ALU64 on small values; temps r1..r4 are free here). */
function emitExpr(p: Program, e: Expr, dst: Reg, labels: { n: number }): void {
  switch (e.k) {
    case 'const': p.mov(dst, e.v); return;
    case 'byte': p.ldx('b', dst, FP, -16 + e.j); return;
    case 'add': emitExpr(p, e.e, dst, labels); p.add(dst, e.c); return;
    case 'mod': emitExpr(p, e.e, dst, labels); p.mod(dst, e.m); return;
    case 'hashnz': {
      const id = labels.n++;
      p.ldx('w', R1, R6, MD.hash).jeq(R1, 0, `hz_else_${id}`);
      emitExpr(p, e.a, dst, labels);
      p.ja(`hz_end_${id}`).label(`hz_else_${id}`);
      emitExpr(p, e.b, dst, labels);
      p.label(`hz_end_${id}`);
    }
  }
}

export function buildProg(spec: ProgSpec, tcp: boolean, sockMap: number, stats: number): Uint8Array {
  const KEY = -4, ZERO = -8, BUF = -16;
  const p = program();
  const labels = { n: 0 };
  p.mov(R6, R1).st('w', FP, ZERO, 0).st('dw', FP, BUF, 0)
    .ldMapFd(R1, 'stats').mov(R2, FP).add(R2, ZERO).call('map_lookup_elem')
    .jeq(R0, 0, 'ret_drop')
    .mov(R8, R0)
    .ldx('w', R1, R8, ST.runs).add(R1, 1).stx('w', R8, ST.runs, R1);
  // first 4 payload bytes (zeros when the payload is shorter: the helper zeroes on failure)
  if (tcp) {
    p.ldx('dw', R7, R6, MD.data).ldx('dw', R9, R6, MD.data_end)
      .mov(R1, R7).add(R1, 20).jgt(R1, R9, 'ret_drop')
      .ldx('b', R2, R7, 12).rsh(R2, 4).lsh(R2, 2);
  } else {
    p.mov(R2, 8);
  }
  p.mov(R1, R6).mov(R3, FP).add(R3, BUF).mov(R4, 4).call('skb_load_bytes');
  if (spec.pre) {
    p.ldx('b', R1, FP, BUF + spec.pre.j).jne(R1, spec.pre.v, 'no_pre');
    if (spec.pre.action === 'drop') p.ldx('w', R1, R8, ST.xdrop).add(R1, 1).stx('w', R8, ST.xdrop, R1).mov(R0, SK_DROP).exit();
    else p.ldx('w', R1, R8, ST.xpass).add(R1, 1).stx('w', R8, ST.xpass, R1).mov(R0, SK_PASS).exit();
    p.label('no_pre');
  }
  emitExpr(p, spec.key, R9, labels);
  p.stx('w', FP, KEY, R9).stx('w', R8, ST.key, R9)
    .mov(R1, R6).ldMapFd(R2, 'sock_map').mov(R3, FP).add(R3, KEY).mov(R4, 0)
    .call('sk_select_reuseport')
    .stx('w', R8, ST.lastErr, R0)
    .jne(R0, 0, 'err')
    .ldx('w', R1, R8, ST.ok).add(R1, 1).stx('w', R8, ST.ok, R1)
    .mov(R0, SK_PASS).exit()
    .label('err')
    .ldx('w', R1, R8, ST.err).add(R1, 1).stx('w', R8, ST.err, R1)
    .mov(R0, spec.onErr === 'pass' ? SK_PASS : spec.onErr === 'drop' ? SK_DROP : 2).exit()
    .label('ret_drop').mov(R0, SK_DROP).exit();
  return p.link({ maps: { stats, sock_map: sockMap } });
}

// ---- worlds ----
type SockRole = 'group' | 'otherPort' | 'otherProto' | 'otherFamily' | 'noGroup';
export interface SockSpec { role: SockRole }
export type Op =
  | { op: 'update'; slot: number; sock: number; flags: number }
  | { op: 'delete'; slot: number }
  | { op: 'lookup'; slot: number }
  | { op: 'send'; payload: number[] }
  | { op: 'close'; sock: number }
  /** SO_DETACH_REUSEPORT_BPF / SO_ATTACH_REUSEPORT_EBPF through a group member (group-wide). */
  | { op: 'detach'; sock: number }
  | { op: 'attach'; sock: number }
  /** UDP only: connect() a group member to a silent peer (ESTABLISHED: the hash skips it, has_conns). */
  | { op: 'connect'; sock: number };

export interface World {
  seed: number;
  family: number; sotype: number; mapType: number; maxEntries: number;
  socks: SockSpec[]; prog: ProgSpec; ops: Op[];
}

const MAP_NAMES: Record<number, string> = { [BPF_MAP_TYPE_REUSEPORT_SOCKARRAY]: 'sockarray', [BPF_MAP_TYPE_SOCKMAP]: 'sockmap', [BPF_MAP_TYPE_SOCKHASH]: 'sockhash' };

export function describeWorld(w: World): string {
  return `seed ${w.seed}: ${w.family === AF_INET6 ? 'IPv6' : 'IPv4'}/${w.sotype === SOCK_STREAM ? 'TCP' : 'UDP'} ${MAP_NAMES[w.mapType]}[${w.maxEntries}] ` +
    `socks [${w.socks.map((s) => s.role).join(',')}] prog {${w.prog.pre ? `if p[${w.prog.pre.j}]==${w.prog.pre.v} ${w.prog.pre.action}; ` : ''}key=${showExpr(w.prog.key)}; onErr ${w.prog.onErr}} ` +
    `${w.ops.length} ops`;
}

export function genWorld(seed: number): World {
  const rng = new Rng(seed);
  const family = rng.pick([AF_INET, AF_INET6]);
  const sotype = rng.chance(0.6) ? SOCK_DGRAM : SOCK_STREAM;
  const mapType = rng.pick([BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_MAP_TYPE_SOCKMAP, BPF_MAP_TYPE_SOCKHASH]);
  const maxEntries = rng.int(2, 6);
  const socks: SockSpec[] = [];
  const nGroup = rng.int(2, 5);
  for (let i = 0; i < nGroup; i++) socks.push({ role: 'group' });
  for (const role of ['otherPort', 'otherProto', 'otherFamily', 'noGroup'] as const) if (rng.chance(0.35)) socks.push({ role });
  const prog: ProgSpec = {
    pre: rng.chance(0.3) ? { j: rng.int(0, 3), v: rng.int(0, 3), action: rng.pick(['drop', 'pass'] as const) } : undefined,
    key: genExpr(rng, 2, maxEntries),
    onErr: rng.pick(['pass', 'drop', 'ret2'] as const),
  };
  const ops: Op[] = [];
  // start with a few updates so sends have something to select
  for (let i = 0; i < Math.min(nGroup, maxEntries); i++) if (rng.chance(0.7)) ops.push({ op: 'update', slot: i, sock: i, flags: BPF_ANY });
  const n = rng.int(6, 14);
  const closed = new Set<number>();
  for (let i = 0; i < n; i++) {
    const live = socks.map((_, j) => j).filter((j) => !closed.has(j));
    const x = rng.next();
    if (x < 0.3) ops.push({ op: 'update', slot: rng.int(0, maxEntries), sock: rng.pick(live), flags: rng.pick([BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST]) });
    else if (x < 0.4) ops.push({ op: 'delete', slot: rng.int(0, maxEntries) });
    else if (x < 0.47) ops.push({ op: 'lookup', slot: rng.int(0, maxEntries) });
    else if (x < 0.52 && live.filter((j) => socks[j]!.role === 'group').length > 2) {
      const g = rng.pick(live.filter((j) => socks[j]!.role === 'group' && j !== 0)); // socks[0] carries the program
      closed.add(g);
      ops.push({ op: 'close', sock: g });
    } else if (x < 0.56) ops.push({ op: rng.pick(['detach', 'attach'] as const), sock: rng.pick(live.filter((j) => socks[j]!.role === 'group')) });
    else if (x < 0.6 && sotype === SOCK_DGRAM) {
      const g = live.filter((j) => socks[j]!.role === 'group' && j !== 0);
      if (g.length) ops.push({ op: 'connect', sock: rng.pick(g) });
    } else ops.push({ op: 'send', payload: [rng.int(0, maxEntries + 1), rng.int(0, 3), rng.int(0, 255), rng.int(0, 3)] });
  }
  if (!ops.some((o) => o.op === 'send')) ops.push({ op: 'send', payload: [0, 0, 0, 0] });
  return { seed, family, sotype, mapType, maxEntries, socks, prog, ops };
}

const loopbackOf = (f: number): string => (f === AF_INET6 ? '::1' : '127.0.0.1');
const WAIT_MS = 1000;

/** Run one world on one kernel; returns the trace (also left in c.trace). */
export function runWorld(c: ScenarioCtx, w: World): void {
  const { k } = c;
  const tcp = w.sotype === SOCK_STREAM;
  if (tcp) {
    // the payload must ride in the SYN: TFO without cookie (select_reuseport does the same)
    const fo = Number(k.sysctl('net.ipv4.tcp_fastopen'));
    k.sysctl('net.ipv4.tcp_fastopen', String(fo | 7));
  }
  const stats = c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: ST.size, maxEntries: 1 }));
  const sockMap = c.own(c.ok('create map', () => k.mapCreate({ mapType: w.mapType, keySize: 4, valueSize: 8, maxEntries: w.maxEntries })));
  const prog = c.own(c.ok('load prog', () => k.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: buildProg(w.prog, tcp, sockMap, stats), license: 'GPL' })));

  // sockets: group members first (index = group join order), then the foreign ones
  const fds: number[] = [];
  let port = 0;
  const open = (family: number, sotype: number, reuse: boolean, addrPort: number): number => {
    const fd = c.own(k.socket(family, sotype, 0));
    if (reuse) k.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    k.bind(fd, loopbackOf(family), addrPort);
    if (sotype === SOCK_STREAM) k.listen(fd, 64);
    return fd;
  };
  for (const [i, s] of w.socks.entries()) {
    const label = `sock ${i} (${s.role})`;
    const fd = c.ok(label, () => {
      switch (s.role) {
        case 'group': return open(w.family, w.sotype, true, port);
        case 'otherPort': return open(w.family, w.sotype, true, 0);
        case 'otherProto': return open(w.family, tcp ? SOCK_DGRAM : SOCK_STREAM, true, port);
        case 'otherFamily': return open(w.family === AF_INET ? AF_INET6 : AF_INET, w.sotype, true, port);
        case 'noGroup': return open(w.family, w.sotype, false, 0);
      }
    });
    fds.push(fd);
    if (i === 0) {
      port = k.getsockname(fd).port;
      c.ok('attach prog to group sock 0', () => k.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog));
    }
  }
  const groupFds = fds.filter((_, i) => w.socks[i]!.role === 'group');
  const closed = new Set<number>();
  const model = new Map<number, number>(); // slot → sock index, from successful operations
  let prev = readStats(k, stats);
  let peer: number | undefined;
  const connected = new Set<number>(); // UDP group members connected to the peer

  w.ops.forEach((o, n) => {
    const tag = `#${n}`;
    switch (o.op) {
      case 'update': {
        const got = c.attempt(() => k.mapUpdateElem(sockMap, u32(o.slot), u64(fds[o.sock]!), o.flags));
        c.note(`${tag} update(${o.slot}, sock ${o.sock}, ${o.flags}): ${got}`);
        if (got === 'ok') model.set(o.slot, o.sock);
        break;
      }
      case 'delete': {
        const got = c.attempt(() => k.mapDeleteElem(sockMap, u32(o.slot)));
        c.note(`${tag} delete(${o.slot}): ${got}`);
        if (got === 'ok') model.delete(o.slot);
        break;
      }
      case 'lookup': {
        const got = c.attempt(() => k.mapLookupElem(sockMap, u32(o.slot)));
        c.note(`${tag} lookup(${o.slot}): ${got}`);
        if (got === 'ok') assert.ok(model.has(o.slot), `${tag}: lookup(${o.slot}) found an entry the harness never put there`);
        break;
      }
      case 'detach': {
        const got = c.attempt(() => k.setsockopt(fds[o.sock]!, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0));
        c.note(`${tag} detach via sock ${o.sock}: ${got}`);
        break;
      }
      case 'attach': {
        const got = c.attempt(() => k.setsockopt(fds[o.sock]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog));
        c.note(`${tag} attach via sock ${o.sock}: ${got}`);
        break;
      }
      case 'connect': {
        peer ??= (() => { const fd = c.own(k.socket(w.family, SOCK_DGRAM, 0)); k.bind(fd, loopbackOf(w.family), 0); return fd; })();
        const pa = k.getsockname(peer);
        const got = c.attempt(() => k.connect(fds[o.sock]!, pa.address, pa.port));
        c.note(`${tag} connect sock ${o.sock} to a silent peer: ${got}`);
        if (got === 'ok') connected.add(o.sock);
        break;
      }
      case 'close': {
        c.close(fds[o.sock]!);
        closed.add(fds[o.sock]!);
        for (const [slot, s] of [...model]) if (s === o.sock) model.delete(slot);
        c.note(`${tag} close(sock ${o.sock})`);
        break;
      }
      case 'send': {
        const cl = c.own(k.socket(w.family, w.sotype, 0));
        k.bind(cl, loopbackOf(w.family), 0);
        const sent = c.attempt(() => k.sendto(cl, new Uint8Array(o.payload), loopbackOf(w.family), port, tcp ? MSG_FASTOPEN : 0));
        const now = readStats(k, stats);
        const d = (f: keyof typeof ST): number => now[f] - prev[f];
        const path = d('runs') === 0 ? 'norun' : d('xdrop') ? 'xdrop' : d('xpass') ? 'xpass' : d('ok') ? 'ok' : d('err') ? `err(${errnoName(-now.lastErr)})` : 'misc';
        // norun: no program attached (detached) → hash selection
        const passes = path === 'ok' || path === 'xpass' || path === 'norun' || (path.startsWith('err') && w.prog.onErr === 'pass');
        const live = groupFds.filter((fd) => !closed.has(fd));
        const ready = k.poll(live, passes ? WAIT_MS : 0);
        let recv = 'none';
        if (ready.length) {
          const fd = ready[0]!.fd;
          const idx = fds.indexOf(fd);
          recv = path === 'ok' ? `sock ${idx}` : 'delivered';
          // a selected connected UDP socket is re-scored by udp4_lib_lookup2 (has_conns): no self-check
          if (path === 'ok' && !connected.has(model.get(now.key) ?? -1)) {
            const want = model.get(now.key);
            assert.equal(idx, want, `${tag}: selection of key ${now.key} delivered to sock ${idx}, the harness put sock ${want} there`);
          }
          drain(c, fd, tcp);
        }
        c.note(`${tag} send([${o.payload}]) sendto ${sent === 'ok' ? 'ok' : tcp ? '-' : sent}: path ${path}${path === 'ok' || path.startsWith('err') ? ` key ${now.key}` : ''} → ${recv} (runs ${d('runs')})`);
        if (passes) assert.notEqual(recv, 'none', `${tag}: program passed (${path}) but no socket received`);
        else assert.equal(recv, 'none', `${tag}: program dropped (${path}) but a socket received`);
        prev = now;
        c.close(cl);
        prev = readStats(k, stats); // closing a TCP client may run the program on its FIN: not an observation
        break;
      }
    }
  });
}

function drain(c: ScenarioCtx, fd: number, tcp: boolean): void {
  const { k } = c;
  if (tcp) {
    const child = c.ok('accept', () => k.accept(fd));
    c.close(c.own(child));
  } else {
    c.ok('recv', () => k.recvfrom(fd, 64));
  }
}

function readStats(k: Kernel, stats: number): Record<keyof typeof ST, number> {
  const v = k.mapLookupElem(stats, u32(0));
  return { runs: readU32(v, ST.runs), ok: readU32(v, ST.ok), err: readU32(v, ST.err), xdrop: readU32(v, ST.xdrop), xpass: readU32(v, ST.xpass), key: readU32(v, ST.key), lastErr: readI32(v, ST.lastErr), size: 0 };
}
