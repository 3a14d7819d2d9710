/**
 * Migration worlds for the differential test: a TCP reuseport group with a
 * BPF_SK_REUSEPORT_SELECT_OR_MIGRATE program over a sockarray. A SYN selects the slot named by
 * its first payload byte (helper error → SK_DROP); a migrating child selects the slot the harness
 * wrote into the control map before the shutdown (helper error → SK_DROP: the child is dropped).
 * Random connects, shutdowns (with a migration target), re-listens and slot updates; at the end
 * every listener's accept queue is drained. The harness models where each connection must end up
 * (slots cleared at shutdown, children moved to the target listener or dropped) and checks it;
 * the trace (errnos, program counters, accepted count per listener) is compared across kernels.
 */
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, BPF_ANY, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_PROG_TYPE_SK_REUSEPORT,
  BPF_SK_REUSEPORT_SELECT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, MSG_FASTOPEN, SHUT_RDWR, SK_DROP, SK_PASS, SOCK_STREAM, SOL_SOCKET,
  SO_ATTACH_REUSEPORT_EBPF, SO_REUSEPORT,
} from '../../src/kernel/index.js';
import { FP, program, R0, R1, R2, R3, R4, R6, R7, R8, R9, type Program } from '../../src/ebpf/asm.js';
import { Rng } from './scenario_diff.js';
import { MD } from './scenario_progs.js';
import { readU32, u32, u64, type ScenarioCtx } from './scenario_runner.js';

/** Control/stats record (ARRAY[1], 16 bytes): migration target slot, SYN runs, migrations ok / failed. */
const CTL = { target: 0, syn: 4, migOk: 8, migErr: 12, size: 16 } as const;

function buildMigrateProg(sockArray: number, ctl: number): Uint8Array {
  const KEY = -4, ZERO = -8, BUF = -16;
  const p = program();
  const count = (field: number): Program => p.ldx('w', R1, R8, field).add(R1, 1).stx('w', R8, field, R1);
  p.mov(R6, R1).st('w', FP, ZERO, 0).st('dw', FP, BUF, 0)
    .ldMapFd(R1, 'ctl').mov(R2, FP).add(R2, ZERO).call('map_lookup_elem')
    .jeq(R0, 0, 'drop')
    .mov(R8, R0)
    .ldx('dw', R1, R6, MD.migrating_sk)
    .jne(R1, 0, 'migrating');
  // a SYN: key = first payload byte (behind the TCP header)
  count(CTL.syn);
  p.ldx('dw', R7, R6, MD.data).ldx('dw', R9, R6, MD.data_end)
    .mov(R1, R7).add(R1, 20).jgt(R1, R9, 'drop')
    .ldx('b', R2, R7, 12).rsh(R2, 4).lsh(R2, 2)
    .mov(R1, R6).mov(R3, FP).add(R3, BUF).mov(R4, 1).call('skb_load_bytes')
    .ldx('b', R1, FP, BUF).stx('w', FP, KEY, R1)
    .mov(R1, R6).ldMapFd(R2, 'sock_array').mov(R3, FP).add(R3, KEY).mov(R4, 0)
    .call('sk_select_reuseport')
    .jne(R0, 0, 'drop')
    .mov(R0, SK_PASS).exit()
    .label('migrating')
    .ldx('w', R1, R8, CTL.target).stx('w', FP, KEY, R1)
    .mov(R1, R6).ldMapFd(R2, 'sock_array').mov(R3, FP).add(R3, KEY).mov(R4, 0)
    .call('sk_select_reuseport')
    .jne(R0, 0, 'mig_err');
  count(CTL.migOk);
  p.mov(R0, SK_PASS).exit().label('mig_err');
  count(CTL.migErr);
  p.label('drop').mov(R0, SK_DROP).exit();
  return p.link({ maps: { ctl, sock_array: sockArray } });
}

export type MigOp =
  | { op: 'connect'; target: number }
  | { op: 'shutdown'; sock: number; target: number }
  | { op: 'relisten'; sock: number }
  | { op: 'update'; slot: number; sock: number };

export interface MigrateWorld {
  seed: number; family: number; n: number; ops: MigOp[];
  /** 'prog': SELECT_OR_MIGRATE program steers migration; 'sysctl': a SELECT program and
   *  net.ipv4.tcp_migrate_req = 1 (the kernel hash-picks the new listener) */
  mode?: 'prog' | 'sysctl';
}

/**
 * Does the world re-listen a socket while no listener is left? Then Linux puts it in a NEW
 * reuseport group without the program (reuseport_resurrect(sk, old, NULL): "we cannot carry over
 * the eBPF prog for the shutdown()ed socket"): named in the description so known differences can
 * match it.
 */
export function relistensIntoNewGroup(w: MigrateWorld): boolean {
  const listening = new Array<boolean>(w.n).fill(true);
  for (const o of w.ops) {
    if (o.op === 'shutdown') listening[o.sock] = false;
    else if (o.op === 'relisten' && !listening[o.sock]) {
      if (!listening.some(Boolean)) return true;
      listening[o.sock] = true;
    }
  }
  return false;
}

export const describeMigrateWorld = (w: MigrateWorld): string =>
  `seed ${w.seed}: ${w.family === AF_INET6 ? 'IPv6' : 'IPv4'}/TCP migrate: ${w.n} listeners, ${w.ops.length} ops` +
  `${w.mode === 'sysctl' ? ' (tcp_migrate_req=1, SELECT program)' : ''}${relistensIntoNewGroup(w) ? ', re-listen after all listeners shut down' : ''}`;

export function genMigrateWorld(seed: number): MigrateWorld {
  const rng = new Rng(seed);
  const n = rng.int(2, 4);
  const ops: MigOp[] = [];
  const steps = rng.int(8, 18);
  for (let i = 0; i < steps; i++) {
    const x = rng.next();
    if (x < 0.55) ops.push({ op: 'connect', target: rng.int(0, n) });
    else if (x < 0.75) ops.push({ op: 'shutdown', sock: rng.int(0, n - 1), target: rng.int(0, n) });
    // socks[0] was bound to port 0: listen() again would move it to a new port (see §5): not re-listened
    else if (x < 0.87) ops.push({ op: 'relisten', sock: rng.int(1, n - 1) });
    else ops.push({ op: 'update', slot: rng.int(0, n - 1), sock: rng.int(0, n - 1) });
  }
  return { seed, family: rng.pick([AF_INET, AF_INET6]), n, ops, mode: rng.chance(0.3) ? 'sysctl' : 'prog' };
}

export function runMigrateWorld(c: ScenarioCtx, w: MigrateWorld): void {
  const { k } = c;
  const loopback = w.family === AF_INET6 ? '::1' : '127.0.0.1';
  const fo = Number(k.sysctl('net.ipv4.tcp_fastopen'));
  k.sysctl('net.ipv4.tcp_fastopen', String(fo | 7)); // the slot byte rides in the SYN
  const sockArray = c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: w.n }));
  const ctl = c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: CTL.size, maxEntries: 1 }));
  const sysctlMode = w.mode === 'sysctl';
  if (sysctlMode) c.ok('sysctl tcp_migrate_req = 1', () => k.sysctl('net.ipv4.tcp_migrate_req', '1'));
  const prog = c.own(c.ok('load migrate prog', () => k.progLoad({
    progType: BPF_PROG_TYPE_SK_REUSEPORT, expectedAttachType: sysctlMode ? BPF_SK_REUSEPORT_SELECT : BPF_SK_REUSEPORT_SELECT_OR_MIGRATE,
    insns: buildMigrateProg(sockArray, ctl), license: 'GPL',
  })));
  const socks: number[] = [];
  let port = 0;
  for (let i = 0; i < w.n; i++) {
    const s = c.own(k.socket(w.family, SOCK_STREAM, 0));
    k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1);
    k.bind(s, loopback, port);
    if (i === 0) { port = k.getsockname(s).port; c.ok('attach', () => k.setsockopt(s, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog)); }
    k.listen(s, 64);
    c.ok(`slot ${i} = sock ${i}`, () => k.mapUpdateElem(sockArray, u32(i), u64(s), BPF_ANY));
    socks.push(s);
  }
  // the harness's model: all listening sockets are in one group at any time; it has the program
  // until every listener was shut down and one listens again (then a new group without it)
  const listening = socks.map(() => true);
  const slots = new Map<number, number>(socks.map((_, i) => [i, i]));
  const queue = socks.map(() => 0);
  const slotOf = (sock: number): number | undefined => [...slots].find(([, x]) => x === sock)?.[0];
  let groupHasProg = true;
  /** A hash pick among several listeners happened: per-listener counts are no longer predicted. */
  let hashPicked = false;
  let synRuns = 0;

  w.ops.forEach((o, n) => {
    const tag = `#${n}`;
    switch (o.op) {
      case 'connect': {
        const cl = c.own(k.socket(w.family, SOCK_STREAM, 0));
        k.bind(cl, loopback, 0);
        c.attempt(() => k.sendto(cl, new Uint8Array([o.target, 0, 0, 0]), loopback, port, MSG_FASTOPEN)); // refused or not: see the queues
        const live = socks.map((_, i) => i).filter((i) => listening[i]);
        if (live.length && groupHasProg) {
          synRuns++;
          const to = slots.get(o.target);
          if (to !== undefined) queue[to]!++;
        } else if (live.length === 1) queue[live[0]!]!++;
        else if (live.length > 1) hashPicked = true;
        c.note(`${tag} connect → slot ${o.target}`);
        break;
      }
      case 'shutdown': {
        c.ok(`${tag} target ${o.target}`, () => k.mapUpdateElem(ctl, u32(0), ctlValue(k, ctl, o.target), BPF_ANY));
        const got = c.attempt(() => k.shutdown(socks[o.sock]!, SHUT_RDWR));
        c.note(`${tag} shutdown sock ${o.sock} (children → slot ${o.target}): ${got}`);
        if (got === 'ok' && listening[o.sock]) {
          listening[o.sock] = false;
          const s = slotOf(o.sock);
          if (s !== undefined) slots.delete(s); // cleared before the children are migrated
          // children migrate only with the SELECT_OR_MIGRATE program and a listener left (num_socks > 0)
          const left = socks.map((_, i) => i).filter((i) => listening[i]);
          if (sysctlMode) {
            // tcp_migrate_req: the kernel hash-picks a listener for each child (any group)
            if (left.length === 1) queue[left[0]!]! += queue[o.sock]!;
            else if (left.length > 1 && queue[o.sock]! > 0) hashPicked = true;
          } else {
            const to = slots.get(o.target);
            if (groupHasProg && left.length && to !== undefined) queue[to]! += queue[o.sock]!;
          }
          queue[o.sock] = 0;
        }
        break;
      }
      case 'relisten': {
        const got = c.attempt(() => k.listen(socks[o.sock]!, 64));
        c.note(`${tag} listen sock ${o.sock} again: ${got}`);
        if (got === 'ok' && !listening[o.sock]) {
          if (!listening.some(Boolean)) groupHasProg = false; // reuseport_resurrect(sk, old, NULL)
          listening[o.sock] = true;
        }
        break;
      }
      case 'update': {
        const got = c.attempt(() => k.mapUpdateElem(sockArray, u32(o.slot), u64(socks[o.sock]!), BPF_ANY));
        c.note(`${tag} slot ${o.slot} = sock ${o.sock}: ${got}`);
        if (got === 'ok') slots.set(o.slot, o.sock);
        break;
      }
    }
  });

  const v = k.mapLookupElem(ctl, u32(0));
  c.note(`program: SYN runs ${readU32(v, CTL.syn)}, migrations ok ${readU32(v, CTL.migOk)}, failed ${readU32(v, CTL.migErr)}`);
  assert.equal(readU32(v, CTL.syn), synRuns, 'program runs on SYNs');
  let total = 0;
  socks.forEach((s, i) => {
    let got = 0;
    for (;;) {
      let child = -1;
      const r = c.attempt(() => { child = k.accept(s); });
      if (r !== 'ok') break;
      c.close(c.own(child));
      got++;
    }
    total += got;
    if (hashPicked) return; // where a hash pick lands may differ between kernels
    c.note(`sock ${i} (${listening[i] ? 'listening' : 'shut down'}) accepted ${got}`);
    assert.equal(got, queue[i], `sock ${i}: accepted ${got}, the harness expected ${queue[i]}`);
  });
  if (hashPicked) c.note(`a connection was hash-picked among several listeners: ${total} accepted in all`);
}

/** The control record with only the target changed. */
function ctlValue(k: ScenarioCtx['k'], ctl: number, target: number): Uint8Array {
  const v = new Uint8Array(k.mapLookupElem(ctl, u32(0)));
  new DataView(v.buffer).setUint32(CTL.target, target, true);
  return v;
}
