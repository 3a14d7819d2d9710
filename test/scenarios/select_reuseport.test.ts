/**
 * Table 2 — prog_tests/select_reuseport.c with progs/test_select_reuseport_kern.c
 * (kernel-semantics.md §6.2): every subtest × config × inner map type, on both kernels.
 * Observables per send: the result_map counters, data_check (len, eth_protocol, ip_protocol,
 * bind_inany, addresses, ports, hash != 0) and which socket (by sk_fds index) got the event.
 */
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, BPF_ANY, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
  BPF_MAP_TYPE_SOCKHASH, BPF_MAP_TYPE_SOCKMAP, BPF_NOEXIST, BPF_PROG_TYPE_SK_REUSEPORT, MSG_FASTOPEN, SOCK_DGRAM,
  SOCK_STREAM, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, SO_DETACH_REUSEPORT_BPF, SO_REUSEPORT, type Kernel,
} from '../../src/kernel/index.js';
import {
  DC, DROP_ERR_INNER_MAP, DROP_ERR_SKB_DATA, DROP_ERR_SK_SELECT_REUSEPORT, NR_RESULTS, PASS,
  PASS_ERR_SK_SELECT_REUSEPORT, RESULT_NAMES, selectReuseportProg,
} from '../support/scenario_progs.js';
import { i32, readI32, readU32, scenarioTable, u32, type Scenario, type ScenarioCtx } from '../support/scenario_runner.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';

const TABLE = 'select_reuseport';
const REUSEPORT_ARRAY_SIZE = 32;
const MIN_TCPHDR_LEN = 20, UDPHDR_LEN = 8;
/** How long to wait for an expected event; returns as soon as one is ready (selftest: 5 ms). */
const EVENT_WAIT_MS = 1000;

interface Env {
  c: ScenarioCtx; k: Kernel;
  type: number; family: number; inany: boolean;
  reuseportArray: number; outerMap: number; resultMap: number; tmpIndexOvrMap: number; linumMap: number; dataCheckMap: number;
  prog: number;
  skFds: number[];
  srv: { address: string; port: number };
  expected: number[];
}

const loopback = (family: number): string => (family === AF_INET6 ? '::1' : '127.0.0.1');
const any = (family: number): string => (family === AF_INET6 ? '::' : '0.0.0.0');

/** create_maps() + prepare_bpf_obj(): the inner map, outer_map and the object's own maps. */
function createMapsAndProg(c: ScenarioCtx, innerType: number): Omit<Env, 'type' | 'family' | 'inany' | 'skFds' | 'srv' | 'expected' | 'c' | 'k'> {
  const { k } = c;
  const reuseportArray = c.own(c.ok('create reuseport_array', () => k.mapCreate({ mapType: innerType, keySize: 4, valueSize: 4, maxEntries: REUSEPORT_ARRAY_SIZE, name: 'reuseport_array' })));
  const outerMap = c.own(c.ok('create outer_map', () => k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMapFd: reuseportArray, name: 'outer_map' })));
  const array = (name: string, valueSize: number, maxEntries: number): number =>
    c.own(c.ok(`create ${name}`, () => k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize, maxEntries, name })));
  const resultMap = array('result_map', 4, NR_RESULTS);
  const tmpIndexOvrMap = array('tmp_index_ovr_m', 4, 1) // libbpf truncates names to 15 chars;
  const linumMap = array('linum_map', 4, 1);
  const dataCheckMap = array('data_check_map', DC.size, 1);
  const insns = selectReuseportProg({ outerMap, resultMap, tmpIndexOvrMap, linumMap, dataCheckMap });
  const prog = c.own(c.ok('load _select_by_skb_data', () => {
    try {
      return k.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns, license: 'GPL', name: 'select_by_skb_d' });
    } catch (e) {
      const log = (e as { log?: string }).log;
      if (log) (e as Error).message += `\nverifier log:\n${log}`;
      throw e;
    }
  }));
  return { reuseportArray, outerMap, resultMap, tmpIndexOvrMap, linumMap, dataCheckMap, prog };
}

/** prepare_sk_fds(): sk_fds[31..0], prog attached to sk_fds[31] before bind, each put in slot i. */
function prepareSkFds(e: Env): void {
  const { c, k, type, family } = e;
  const first = REUSEPORT_ARRAY_SIZE - 1;
  e.srv = { address: e.inany ? any(family) : loopback(family), port: 0 };
  for (let i = first; i >= 0; i--) {
    const fd = c.own(k.socket(family, type, 0));
    e.skFds[i] = fd;
    k.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (i === first) c.ok('SO_ATTACH_REUSEPORT_EBPF on sk_fds[31] before bind', () => k.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, e.prog));
    k.bind(fd, e.srv.address, e.srv.port);
    if (type === SOCK_STREAM) k.listen(fd, 10);
    const r = c.attempt(() => k.mapUpdateElem(e.reuseportArray, u32(i), u32(fd), BPF_NOEXIST));
    if (r !== 'ok') { c.note(`update_elem(reuseport_array, ${i}): ${r}`); assert.fail(`update_elem(reuseport_array, ${i}, sk_fds[${i}], NOEXIST): ${r}`); }
    if (i === first) e.srv.port = k.getsockname(fd).port;
  }
}

function setupPerTest(e: Env, noInnerMap: boolean): void {
  const { c, k } = e;
  // netns_new() + enable_fastopen() (|= 7) + disable_syncookie()
  const fo = Number(k.sysctl('net.ipv4.tcp_fastopen'));
  c.ok('sysctl tcp_fastopen |= 7', () => k.sysctl('net.ipv4.tcp_fastopen', String(fo | 7)));
  c.ok('sysctl tcp_syncookies = 0', () => k.sysctl('net.ipv4.tcp_syncookies', '0'));
  prepareSkFds(e);
  c.ok('tmp_index_ovr_map[0] = -1', () => k.mapUpdateElem(e.tmpIndexOvrMap, u32(0), i32(-1), BPF_ANY));
  if (noInnerMap) return;
  c.ok('outer_map[0] = reuseport_array', () => k.mapUpdateElem(e.outerMap, u32(0), u32(e.reuseportArray), BPF_ANY));
}

interface Cmd { reuseport_index: number; pass_on_failure: number }
const cmdBytes = (cmd: Cmd): Uint8Array => { const b = new Uint8Array(8); const v = new DataView(b.buffer); v.setUint32(0, cmd.reuseport_index, true); v.setUint32(4, cmd.pass_on_failure, true); return b; };

/** send_data(): client bound to loopback:0, sendto(cmd, MSG_FASTOPEN, srv). */
function sendData(e: Env, data: Uint8Array, expected: number): number {
  const { c, k, family, type } = e;
  const fd = c.own(k.socket(family, type, 0));
  k.bind(fd, loopback(family), 0);
  const dst = e.inany ? loopback(family) : e.srv.address;
  const r = c.attempt(() => k.sendto(fd, data, dst, e.srv.port, MSG_FASTOPEN));
  if (expected >= PASS) {
    c.note(`sendto: ${r}`);
    assert.equal(r, 'ok', `sendto(${data.length} bytes, MSG_FASTOPEN): ${r}`);
  }
  return fd;
}

/** check_results(): result_map must equal the running expected counters. */
function checkResults(e: Env, label: string): void {
  const results: number[] = [];
  for (let i = 0; i < NR_RESULTS; i++) results.push(readU32(e.k.mapLookupElem(e.resultMap, u32(i))));
  e.c.note(`${label} results [${results.join(', ')}]`);
  const broken = results.findIndex((v, i) => v !== e.expected[i]);
  assert.deepEqual(results, e.expected, `${label}: unexpected result_map (mismatch on ${RESULT_NAMES[broken] ?? '?'}; bpf_prog_linum ${readU32(e.k.mapLookupElem(e.linumMap, u32(0)))})`);
}

function addrBytes(address: string): number[] {
  if (address.includes(':')) {
    // only the two addresses this test uses
    if (address === '::1') return [...new Array(15).fill(0), 1];
    throw new Error(`unexpected IPv6 client address ${address}`);
  }
  return address.split('.').map(Number);
}

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

/** check_data(): data_check up to equal_check_end, hash != 0, len. */
function checkData(e: Env, cmd: Cmd | null, cliFd: number, label: string): void {
  const { k, c, type, family } = e;
  const cli = k.getsockname(cliFd);
  const result = k.mapLookupElem(e.dataCheckMap, u32(0));
  const expected = new Uint8Array(DC.equal_check_end);
  const v = new DataView(expected.buffer);
  v.setUint32(DC.ip_protocol, type === SOCK_STREAM ? 6 : 17, true);
  if (family === AF_INET6) {
    v.setUint16(DC.eth_protocol, 0x86dd, false); // htons(ETH_P_IPV6) as stored
    expected[DC.bind_inany] = e.inany ? 1 : 0;
    expected.set(addrBytes(cli.address), DC.skb_addrs);
    expected.set(addrBytes('::1'), DC.skb_addrs + 16);
  } else {
    v.setUint16(DC.eth_protocol, 0x0800, false);
    expected[DC.bind_inany] = e.inany ? 1 : 0;
    expected.set(addrBytes(cli.address), DC.skb_addrs);
    expected.set([127, 0, 0, 1], DC.skb_addrs + 4);
  }
  v.setUint16(DC.skb_ports, cli.port, false); // network order
  v.setUint16(DC.skb_ports + 2, e.srv.port, false);
  const got = result.subarray(0, DC.equal_check_end);
  const same = got.every((b, i) => b === expected[i]);
  c.note(`${label} data_check equal: ${same}`);
  if (!same) {
    const fields = (b: Uint8Array): string => {
      const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return `ip_protocol ${d.getUint32(DC.ip_protocol, true)} addrs ${hex(b.subarray(DC.skb_addrs, DC.skb_ports))} ` +
        `ports ${d.getUint16(DC.skb_ports, false)},${d.getUint16(DC.skb_ports + 2, false)} eth_protocol 0x${hex(b.subarray(DC.eth_protocol, DC.eth_protocol + 2))} bind_inany ${b[DC.bind_inany]}`;
    };
    assert.fail(`${label}: data_check result != expected (bpf_prog_linum ${readU32(k.mapLookupElem(e.linumMap, u32(0)))})\n  result:   ${fields(got)}\n  expected: ${fields(expected)}`);
  }
  const hash = readU32(result, DC.hash);
  c.note(`${label} hash != 0: ${hash !== 0}`);
  assert.notEqual(hash, 0, `${label}: data_check result.hash empty`);
  const len = readU32(result, DC.len);
  const want = (type === SOCK_STREAM ? MIN_TCPHDR_LEN : UDPHDR_LEN) + (cmd ? 8 : 0);
  if (type === SOCK_STREAM) {
    c.note(`${label} len >= ${want}: ${len >= want}`);
    assert.ok(want <= len, `${label}: expected.len ${want} > result.len ${len}`);
  } else {
    c.note(`${label} len: ${len}`);
    assert.equal(len, want, `${label}: expected.len != result.len`);
  }
}

/** The ready sk_fds indexes. */
function readyIndexes(e: Env, timeoutMs: number): number[] {
  return e.k.poll(e.skFds, timeoutMs).map((r) => e.skFds.indexOf(r.fd)).sort((a, b) => a - b);
}

/** do_test() */
function doTest(e: Env, cmd: Cmd | null, expected: number, label: string): void {
  const { c, k, type } = e;
  const cliFd = sendData(e, cmd ? cmdBytes(cmd) : new Uint8Array(0), expected);
  const ready = readyIndexes(e, expected >= PASS ? EVENT_WAIT_MS : 0);
  if (expected >= PASS) {
    assert.ok(ready.length > 0, `${label}: no event, expected ${RESULT_NAMES[expected]}`);
    assert.equal(ready.length, 1, `${label}: events on several sockets ${ready.join(',')}`);
  } else {
    c.note(`${label} events: ${ready.length}`);
    assert.equal(ready.length, 0, `${label}: event on sk_fds[${ready.join(',')}] but expected drop (${RESULT_NAMES[expected]})`);
  }
  checkResults(e, label);
  checkData(e, cmd, cliFd, label);
  if (expected < PASS) return;
  const idx = ready[0]!;
  if (expected !== PASS_ERR_SK_SELECT_REUSEPORT) {
    c.note(`${label} event on sk_fds[${idx}]`);
    assert.equal(idx, cmd!.reuseport_index, `${label}: check cmd->reuseport_index`);
  } else {
    c.note(`${label} delivered by hash fallback`);
  }
  const srvFd = e.skFds[idx]!;
  let got: Uint8Array;
  if (type === SOCK_STREAM) {
    const newFd = c.own(c.ok(`${label} accept(sk_fds[i])`, () => k.accept(srvFd)));
    got = c.ok(`${label} recv(new_fd)`, () => k.recvfrom(newFd, 8)).data;
    c.close(newFd);
  } else {
    got = c.ok(`${label} recv(sk_fds[i])`, () => k.recvfrom(srvFd, 8)).data;
  }
  assert.equal(got.length, 8, `${label}: nread != sizeof(rcv_cmd)`);
  c.close(cliFd);
}

type TestFn = (e: Env) => void;
const tests: Array<{ name: string; fn: TestFn; noInnerMap?: boolean; needSotype?: number }> = [
  {
    name: 'test_err_inner_map', noInnerMap: true,
    fn: (e) => { e.expected[DROP_ERR_INNER_MAP]!++; doTest(e, { reuseport_index: 0, pass_on_failure: 0 }, DROP_ERR_INNER_MAP, 'cmd{0,0}'); },
  },
  {
    name: 'test_err_skb_data',
    fn: (e) => { e.expected[DROP_ERR_SKB_DATA]!++; doTest(e, null, DROP_ERR_SKB_DATA, 'no cmd'); },
  },
  {
    name: 'test_err_sk_select_port',
    fn: (e) => { e.expected[DROP_ERR_SK_SELECT_REUSEPORT]!++; doTest(e, { reuseport_index: REUSEPORT_ARRAY_SIZE, pass_on_failure: 0 }, DROP_ERR_SK_SELECT_REUSEPORT, 'cmd{32,0}'); },
  },
  {
    name: 'test_pass',
    fn: (e) => {
      for (let i = 0; i < REUSEPORT_ARRAY_SIZE; i++) {
        e.expected[PASS]!++;
        doTest(e, { reuseport_index: i, pass_on_failure: 0 }, PASS, `cmd{${i},0}`);
      }
    },
  },
  {
    name: 'test_syncookie', needSotype: SOCK_STREAM,
    fn: (e) => {
      const { c, k } = e;
      // +1 for the TCP-SYN, +1 for the TCP-ACK (ack of the syncookie)
      e.expected[PASS]! += 2;
      c.ok('sysctl tcp_syncookies = 2', () => k.sysctl('net.ipv4.tcp_syncookies', '2'));
      // SYN selects sk_fds[1] (tmp_index_ovr_map), the cookie ACK selects sk_fds[0] (cmd)
      c.ok('tmp_index_ovr_map[0] = 1', () => k.mapUpdateElem(e.tmpIndexOvrMap, u32(0), i32(1), BPF_ANY));
      doTest(e, { reuseport_index: 0, pass_on_failure: 0 }, PASS, 'cmd{0,0} syncookie');
      const ovr = readI32(c.ok('lookup tmp_index_ovr_map', () => k.mapLookupElem(e.tmpIndexOvrMap, u32(0))));
      c.note(`tmp_index_ovr < 0: ${ovr < 0}`);
      assert.ok(ovr < 0, `tmp_index_ovr_map[0] = ${ovr}, expected < 0`);
      c.ok('sysctl tcp_syncookies = 0', () => k.sysctl('net.ipv4.tcp_syncookies', '0'));
    },
  },
  {
    name: 'test_pass_on_err',
    fn: (e) => { e.expected[PASS_ERR_SK_SELECT_REUSEPORT]! += 1; doTest(e, { reuseport_index: REUSEPORT_ARRAY_SIZE, pass_on_failure: 1 }, PASS_ERR_SK_SELECT_REUSEPORT, 'cmd{32,1}'); },
  },
  {
    name: 'test_detach_bpf',
    fn: (e) => {
      const { c, k } = e;
      c.ok('SO_DETACH_REUSEPORT_BPF sk_fds[0]', () => k.setsockopt(e.skFds[0]!, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0));
      c.fails('SO_DETACH_REUSEPORT_BPF sk_fds[1]', 'ENOENT', () => k.setsockopt(e.skFds[1]!, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0));
      const sum = (): number => { let s = 0; for (let i = 0; i < NR_RESULTS; i++) s += readU32(k.mapLookupElem(e.resultMap, u32(i))); return s; };
      const before = sum();
      const cliFd = sendData(e, cmdBytes({ reuseport_index: 0, pass_on_failure: 0 }), PASS);
      const ready = readyIndexes(e, EVENT_WAIT_MS);
      c.note(`events after detach: ${ready.length > 0 ? 'delivered' : 'none'}`);
      assert.ok(ready.length > 0, 'nev <= 0: no socket received after detaching the program');
      // the event must be real: the ready socket holds the 8 bytes (TCP: on the accepted child)
      const srvFd = e.skFds[ready[0]!]!;
      let got: Uint8Array;
      if (e.type === SOCK_STREAM) {
        const child = c.own(c.ok('accept(ready sk)', () => k.accept(srvFd)));
        got = c.ok('recv(new_fd)', () => k.recvfrom(child, 8)).data;
        c.close(child);
      } else {
        got = c.ok('recv(ready sk)', () => k.recvfrom(srvFd, 8)).data;
      }
      assert.equal(got.length, 8, 'nread != sizeof(cmd)');
      const after = sum();
      c.note(`nr_run unchanged: ${before === after}`);
      assert.equal(after, before, 'nr_run_before != nr_run_after');
      c.close(cliFd);
    },
  },
];

const MAP_TYPES: Array<[number, string]> = [
  [BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, 'reuseport_sockarray'], [BPF_MAP_TYPE_SOCKMAP, 'sockmap'], [BPF_MAP_TYPE_SOCKHASH, 'sockhash'],
];
const CONFIGS: Array<{ sotype: number; family: number; inany: boolean }> = [
  { sotype: SOCK_STREAM, family: AF_INET, inany: false },
  { sotype: SOCK_STREAM, family: AF_INET, inany: true },
  { sotype: SOCK_STREAM, family: AF_INET6, inany: false },
  { sotype: SOCK_STREAM, family: AF_INET6, inany: true },
  { sotype: SOCK_DGRAM, family: AF_INET, inany: false },
  { sotype: SOCK_DGRAM, family: AF_INET6, inany: false },
];

const scenarios: Scenario[] = [];
for (const [mapType, mapName] of MAP_TYPES) {
  for (const cfg of CONFIGS) {
    for (const t of tests) {
      if (t.needSotype && t.needSotype !== cfg.sotype) continue;
      const name = `${mapName} ${cfg.family === AF_INET6 ? 'IPv6' : 'IPv4'}/${cfg.sotype === SOCK_STREAM ? 'TCP' : 'UDP'} ${cfg.inany ? 'INANY' : 'LOOPBACK'} ${t.name}`;
      scenarios.push({
        name,
        run(c) {
          const e: Env = {
            c, k: c.k, type: cfg.sotype, family: cfg.family, inany: cfg.inany,
            ...createMapsAndProg(c, mapType),
            skFds: [], srv: { address: '', port: 0 }, expected: new Array(NR_RESULTS).fill(0),
          };
          setupPerTest(e, t.noInnerMap ?? false);
          t.fn(e);
          // cleanup_per_test(): outer_map entry removed (maps/sockets closed by the runner)
          if (!t.noInnerMap) c.ok('delete_elem(outer_map, 0)', () => c.k.mapDeleteElem(e.outerMap, u32(0)));
        },
      });
    }
  }
}

await scenarioTable(TABLE, scenarios, { known: KNOWN_DIFFERENCES });
