/**
 * Table 3 — prog_tests/sockmap_listen.c reuseport subtests with progs/test_sockmap_listen.c
 * prog_reuseport (kernel-semantics.md §6.4): select_listening, select_connected → ECONNREFUSED,
 * mixed_groups → ECONNREFUSED, × {sockmap, sockhash} × {IPv4, IPv6} × {TCP, UDP}.
 */
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, BPF_EXIST, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_SOCKHASH, BPF_MAP_TYPE_SOCKMAP, BPF_NOEXIST,
  BPF_PROG_TYPE_SK_REUSEPORT, SK_DROP, SK_PASS, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET,
  SO_ATTACH_REUSEPORT_EBPF, SO_REUSEPORT,
} from '../../src/kernel/index.js';
import { sockmapListenReuseportProg } from '../support/scenario_progs.js';
import { readU32, scenarioTable, u32, u64, type Scenario, type ScenarioCtx } from '../support/scenario_runner.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';

const TABLE = 'sockmap_listen reuseport';
/** recv_timeout(IO_TIMEOUT_SEC): bounded wait for the ICMP error / datagram. */
const IO_WAIT_MS = 1000;

interface Env { c: ScenarioCtx; family: number; sotype: number; sockMap: number; verdMap: number; prog: number }

const loopback = (family: number): string => (family === AF_INET6 ? '::1' : '127.0.0.1');

function setup(c: ScenarioCtx, mapType: number, family: number, sotype: number): Env {
  const { k } = c;
  const sockMap = c.own(c.ok('create sock map', () => k.mapCreate({ mapType, keySize: 4, valueSize: 8, maxEntries: 2 })));
  const verdMap = c.own(c.ok('create verdict_map', () => k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2, name: 'verdict_map' })));
  const prog = c.own(c.ok('load prog_reuseport', () => k.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: sockmapListenReuseportProg(sockMap, verdMap), license: 'GPL', name: 'prog_reuseport' })));
  return { c, family, sotype, sockMap, verdMap, prog };
}

/** socket_loopback_reuseport(): SO_REUSEPORT + prog attached before bind, loopback:0, listen. */
function socketLoopbackReuseport(e: Env): number {
  const { c } = e;
  const s = c.own(c.k.socket(e.family, e.sotype, 0));
  c.k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1);
  c.ok('SO_ATTACH_REUSEPORT_EBPF', () => c.k.setsockopt(s, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, e.prog));
  c.k.bind(s, loopback(e.family), 0);
  if (e.sotype === SOCK_STREAM) c.k.listen(s, 4096);
  return s;
}

const verdict = (e: Env, v: number): number => readU32(e.c.k.mapLookupElem(e.verdMap, u32(v)));

/** UDP recv with a bounded wait: the datagram, or the ICMP error as an errno. */
function recvTimeout(e: Env, fd: number): string {
  const { k } = e.c;
  // a pending socket error (ICMP port unreachable) makes the fd ready too (POLLERR)
  if (k.poll([fd], IO_WAIT_MS).length === 0) return 'timeout';
  return e.c.attempt(() => k.recvfrom(fd, 1));
}

function selectListening(e: Env): void {
  const { c } = e;
  const { k } = c;
  const s = socketLoopbackReuseport(e);
  const addr = k.getsockname(s);
  c.ok('map[0] = s (NOEXIST)', () => k.mapUpdateElem(e.sockMap, u32(0), u64(s), BPF_NOEXIST));
  const cl = c.own(k.socket(e.family, e.sotype, 0));
  c.ok('connect(c, s)', () => k.connect(cl, addr.address, addr.port));
  if (e.sotype === SOCK_STREAM) {
    const p = c.own(c.ok('accept(s)', () => k.accept(s)));
    c.close(p);
  } else {
    c.ok('send(c, 1 byte)', () => k.sendto(cl, new Uint8Array([0x61])));
    c.ok('recv(s) nonblock', () => k.recvfrom(s, 1));
  }
  const pass = verdict(e, SK_PASS);
  c.note(`verdict_map[SK_PASS] = ${pass}`);
  assert.equal(pass, 1, `want pass count 1, have ${pass}`);
}

function selectConnected(e: Env): void {
  const { c } = e;
  const { k } = c;
  const s = socketLoopbackReuseport(e);
  c.ok('map[0] = s (NOEXIST)', () => k.mapUpdateElem(e.sockMap, u32(0), u64(s), BPF_NOEXIST));
  const addr = k.getsockname(s);
  const c0 = c.own(k.socket(e.family, e.sotype, 0));
  c.ok('connect(c0, s)', () => k.connect(c0, addr.address, addr.port));
  let p0: number;
  if (e.sotype === SOCK_STREAM) {
    p0 = c.own(c.ok('accept(s) → p0', () => k.accept(s)));
  } else {
    p0 = c.own(k.socket(e.family, e.sotype, 0));
    const a0 = k.getsockname(c0);
    c.ok('connect(p0, c0)', () => k.connect(p0, a0.address, a0.port));
  }
  // sock_map[0] now redirects to a connected socket that is in no reuseport group
  c.ok('map[0] = p0 (EXIST)', () => k.mapUpdateElem(e.sockMap, u32(0), u64(p0), BPF_EXIST));
  const c1 = c.own(k.socket(e.family, e.sotype, 0));
  if (e.sotype === SOCK_STREAM) {
    c.fails('connect(c1, s)', 'ECONNREFUSED', () => k.connect(c1, addr.address, addr.port));
  } else {
    c.ok('connect(c1, s)', () => k.connect(c1, addr.address, addr.port));
    c.ok('send(c1, 1 byte)', () => k.sendto(c1, new Uint8Array([0x61])));
    const r = recvTimeout(e, c1);
    c.note(`recv(c1): ${r}`);
    assert.equal(r, 'ECONNREFUSED', `recv(c1): want ECONNREFUSED, got ${r}`);
  }
  const drop = verdict(e, SK_DROP);
  c.note(`verdict_map[SK_DROP] = ${drop}`);
  assert.equal(drop, 1, `want drop count 1, have ${drop}`);
}

function mixedGroups(e: Env): void {
  const { c } = e;
  const { k } = c;
  // two listeners, each in its own reuseport group (different ephemeral ports)
  const s1 = socketLoopbackReuseport(e);
  const s2 = socketLoopbackReuseport(e);
  c.ok('map[0] = s1 (NOEXIST)', () => k.mapUpdateElem(e.sockMap, u32(0), u64(s1), BPF_NOEXIST));
  c.ok('map[1] = s2 (NOEXIST)', () => k.mapUpdateElem(e.sockMap, u32(1), u64(s2), BPF_NOEXIST));
  const addr = k.getsockname(s2);
  const cl = c.own(k.socket(e.family, e.sotype, 0));
  if (e.sotype === SOCK_STREAM) {
    c.fails('connect(c, s2)', 'ECONNREFUSED', () => k.connect(cl, addr.address, addr.port));
  } else {
    c.ok('connect(c, s2)', () => k.connect(cl, addr.address, addr.port));
    c.ok('send(c, 1 byte)', () => k.sendto(cl, new Uint8Array([0x61])));
    const r = recvTimeout(e, cl);
    c.note(`recv(c): ${r}`);
    assert.equal(r, 'ECONNREFUSED', `recv(c): want ECONNREFUSED, got ${r}`);
  }
  const drop = verdict(e, SK_DROP);
  c.note(`verdict_map[SK_DROP] = ${drop}`);
  assert.equal(drop, 1, `want drop count 1, have ${drop}`);
}

const scenarios: Scenario[] = [];
for (const [mapType, mapName] of [[BPF_MAP_TYPE_SOCKMAP, 'sockmap'], [BPF_MAP_TYPE_SOCKHASH, 'sockhash']] as const) {
  for (const family of [AF_INET, AF_INET6]) {
    for (const sotype of [SOCK_STREAM, SOCK_DGRAM]) {
      const suffix = `${mapName} ${family === AF_INET6 ? 'IPv6' : 'IPv4'} ${sotype === SOCK_STREAM ? 'TCP' : 'UDP'}`;
      for (const [name, fn] of [
        ['test_reuseport_select_listening', selectListening],
        ['test_reuseport_select_connected', selectConnected],
        ['test_reuseport_mixed_groups', mixedGroups],
      ] as const) {
        // test_reuseport(): "%s %s %s %s" map_name, family_name, sotype_name, t->name
        scenarios.push({ name: `${suffix} ${name}`, run: (c) => fn(setup(c, mapType, family, sotype)) });
      }
    }
  }
}

await scenarioTable(TABLE, scenarios, { known: KNOWN_DIFFERENCES });
