/**
 * Table 4 — tools/testing/selftests/net/reuseport_bpf.c (kernel-semantics.md §6.5): the index a
 * SOCKET_FILTER eBPF or classic BPF program returns picks the k-th socket in bind/listen order;
 * re-attaching (mod/2) through fd[0] replaces the group's program; attach edge cases.
 * Same parameters (ports) as the selftest's main(); every scenario runs in its own netns.
 */
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, BPF_PROG_TYPE_SOCKET_FILTER, MSG_FASTOPEN, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SOL_TCP,
  SO_ATTACH_REUSEPORT_CBPF, SO_ATTACH_REUSEPORT_EBPF, SO_REUSEADDR, SO_REUSEPORT, TCP_FASTOPEN,
} from '../../src/kernel/index.js';
import { reuseportBpfCbpf, reuseportBpfCbpfRetA, reuseportBpfEbpf, reuseportBpfEbpfConst } from '../support/scenario_progs.js';
import { scenarioTable, type Scenario, type ScenarioCtx } from '../support/scenario_runner.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';

const TABLE = 'reuseport_bpf';
const WAIT_MS = 2000; // selftest: epoll_wait(-1)

interface Params { recvFamily: number; sendFamily: number; protocol: number; recvSocks: number; recvPort: number; sendPortMin: number }

const any = (f: number): string => (f === AF_INET6 ? '::' : '0.0.0.0');
const loopback = (f: number): string => (f === AF_INET6 ? '::1' : '127.0.0.1');

function attachEbpf(c: ScenarioCtx, fd: number, mod: number): void {
  const prog = c.ok(`load SOCKET_FILTER mod ${mod}`, () => c.k.progLoad({ progType: BPF_PROG_TYPE_SOCKET_FILTER, insns: reuseportBpfEbpf(mod), license: 'GPL', logLevel: 1, logSize: 65536 }));
  c.ok(`SO_ATTACH_REUSEPORT_EBPF mod ${mod}`, () => c.k.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog));
  c.k.close(prog); // the group holds the program
}

function attachCbpf(c: ScenarioCtx, fd: number, mod: number): void {
  c.ok(`SO_ATTACH_REUSEPORT_CBPF mod ${mod}`, () => c.k.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, reuseportBpfCbpf(mod)));
}

type Attach = (c: ScenarioCtx, fd: number, mod: number) => void;

function buildRecvGroup(c: ScenarioCtx, p: Params, mod: number, attach: Attach): number[] {
  const { k } = c;
  const fds: number[] = [];
  for (let i = 0; i < p.recvSocks; i++) {
    const fd = c.own(k.socket(p.recvFamily, p.protocol, 0));
    k.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (i === 0) attach(c, fd, mod);
    c.ok(i === 0 ? 'bind recv socket 0' : `bind recv socket ${i}`, () => k.bind(fd, any(p.recvFamily), p.recvPort));
    if (p.protocol === SOCK_STREAM) {
      k.setsockopt(fd, SOL_TCP, TCP_FASTOPEN, 4);
      k.listen(fd, p.recvSocks * 10);
    }
    fds.push(fd);
  }
  return fds;
}

function sendFrom(c: ScenarioCtx, p: Params, sport: number, buf: Uint8Array): void {
  const { k } = c;
  const fd = c.own(k.socket(p.sendFamily, p.protocol, 0));
  k.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  k.bind(fd, any(p.sendFamily), sport);
  const r = c.attempt(() => k.sendto(fd, buf, loopback(p.sendFamily), p.recvPort, MSG_FASTOPEN));
  assert.equal(r, 'ok', `failed to send message from port ${sport}: ${r}`);
  c.close(fd);
}

function testRecvOrder(c: ScenarioCtx, p: Params, fds: number[], mod: number): void {
  const { k } = c;
  for (let data = 0; data < p.recvSocks * 2; data++) {
    const sport = p.sendPortMin + data;
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setUint32(0, data, false); // htonl(data)
    sendFrom(c, p, sport, buf);
    const ready = k.poll(fds, WAIT_MS);
    assert.ok(ready.length > 0, `data ${data}: no socket became readable`);
    const evFd = ready[0]!.fd;
    let got: Uint8Array;
    if (p.protocol === SOCK_STREAM) {
      const conn = c.own(c.ok(`data ${data} accept`, () => k.accept(evFd)));
      k.poll([conn], WAIT_MS); // the payload may follow the handshake (no TFO cookie yet)
      got = c.ok(`data ${data} recv`, () => k.recvfrom(conn, 8)).data;
      c.close(conn);
    } else {
      got = c.ok(`data ${data} recv`, () => k.recvfrom(evFd, 8)).data;
    }
    assert.equal(got.length, 4, `expected size 4 got ${got.length}`);
    const i = fds.indexOf(evFd);
    const expected = sport % mod;
    c.note(`data ${data} (sport ${sport}) → socket ${i}`);
    assert.equal(i, expected, `data ${data}: expected socket ${expected}, got socket ${i}`);
    assert.equal(new DataView(got.buffer, got.byteOffset).getUint32(0, false), data);
  }
}

function testReuseport(c: ScenarioCtx, p0: Params, attach: Attach): void {
  if (p0.protocol === SOCK_STREAM) enableFastopen(c);
  const p = { ...p0 };
  const fds = buildRecvGroup(c, p, p.recvSocks, attach);
  testRecvOrder(c, p, fds, p.recvSocks);
  p.sendPortMin += p.recvSocks * 2;
  attach(c, fds[0]!, p.recvSocks / 2); // reprogram through fd[0]: replaces the group's program
  testRecvOrder(c, p, fds, p.recvSocks / 2);
}

/** enable_fastopen(): tcp_fastopen |= 3 (client and server); only inside the scenario's netns. */
function enableFastopen(c: ScenarioCtx): void {
  const v = Number(c.k.sysctl('net.ipv4.tcp_fastopen'));
  if ((v & 3) !== 3) c.ok('sysctl tcp_fastopen |= 3', () => c.k.sysctl('net.ipv4.tcp_fastopen', String(v | 3)));
}

function testExtraFilter(c: ScenarioCtx, p: Params): void {
  const { k } = c;
  const fd1 = c.own(k.socket(p.recvFamily, p.protocol, 0));
  const fd2 = c.own(k.socket(p.recvFamily, p.protocol, 0));
  k.setsockopt(fd1, SOL_SOCKET, SO_REUSEPORT, 1);
  k.setsockopt(fd2, SOL_SOCKET, SO_REUSEPORT, 1);
  attachEbpf(c, fd1, 10);
  attachEbpf(c, fd2, 10);
  c.ok('bind socket 1', () => k.bind(fd1, any(p.recvFamily), p.recvPort));
  c.fails('bind socket 2 (own group from its pre-bind attach)', 'EADDRINUSE', () => k.bind(fd2, any(p.recvFamily), p.recvPort));
}

function testFilterNoReuseport(c: ScenarioCtx, p: Params): void {
  const { k } = c;
  const bpfFd = c.own(c.ok('load SOCKET_FILTER r0 = 10', () => k.progLoad({ progType: BPF_PROG_TYPE_SOCKET_FILTER, insns: reuseportBpfEbpfConst(), license: 'GPL' })));
  const fd = c.own(k.socket(p.recvFamily, p.protocol, 0));
  c.ok('bind without SO_REUSEPORT', () => k.bind(fd, any(p.recvFamily), p.recvPort));
  c.fails('SO_ATTACH_REUSEPORT_EBPF', 'EINVAL', () => k.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, bpfFd));
  c.fails('SO_ATTACH_REUSEPORT_CBPF', 'EINVAL', () => k.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, reuseportBpfCbpfRetA()));
}

function testFilterWithoutBind(c: ScenarioCtx): void {
  const { k } = c;
  const fd1 = c.own(k.socket(AF_INET, SOCK_DGRAM, 0));
  const fd2 = c.own(k.socket(AF_INET, SOCK_DGRAM, 0));
  k.setsockopt(fd1, SOL_SOCKET, SO_REUSEPORT, 1);
  k.setsockopt(fd2, SOL_SOCKET, SO_REUSEPORT, 1);
  attachEbpf(c, fd1, 10);
  attachCbpf(c, fd2, 10);
  c.close(fd1);
  c.close(fd2);
}

const scenarios: Scenario[] = [];
const fam = (f: number): string => (f === AF_INET6 ? 'IPv6' : 'IPv4');
const recvOrder = (label: string, kind: 'ebpf' | 'cbpf', p: Params): void => {
  scenarios.push({
    name: `${label} ${kind === 'ebpf' ? 'EBPF' : 'CBPF'} mod ${p.recvSocks} then ${p.recvSocks / 2} (recv_port ${p.recvPort})`,
    run: (c) => testReuseport(c, p, kind === 'ebpf' ? attachEbpf : attachCbpf),
  });
};
const P = (recvFamily: number, sendFamily: number, protocol: number, recvSocks: number, recvPort: number, sendPortMin: number): Params =>
  ({ recvFamily, sendFamily, protocol, recvSocks, recvPort, sendPortMin });

// ---- IPv4 UDP (UDP lookups take another path above 10 sockets: run both) ----
recvOrder('IPv4 UDP', 'ebpf', P(AF_INET, AF_INET, SOCK_DGRAM, 10, 8000, 9000));
recvOrder('IPv4 UDP', 'ebpf', P(AF_INET, AF_INET, SOCK_DGRAM, 20, 8000, 9000));
recvOrder('IPv4 UDP', 'cbpf', P(AF_INET, AF_INET, SOCK_DGRAM, 10, 8001, 9020));
recvOrder('IPv4 UDP', 'cbpf', P(AF_INET, AF_INET, SOCK_DGRAM, 20, 8001, 9020));
// ---- IPv6 UDP ----
recvOrder('IPv6 UDP', 'ebpf', P(AF_INET6, AF_INET6, SOCK_DGRAM, 10, 8003, 9040));
recvOrder('IPv6 UDP', 'ebpf', P(AF_INET6, AF_INET6, SOCK_DGRAM, 20, 8003, 9040));
recvOrder('IPv6 UDP', 'cbpf', P(AF_INET6, AF_INET6, SOCK_DGRAM, 10, 8004, 9060));
recvOrder('IPv6 UDP', 'cbpf', P(AF_INET6, AF_INET6, SOCK_DGRAM, 20, 8004, 9060));
// ---- IPv6 UDP w/ mapped IPv4 ----
recvOrder('IPv6 UDP w/ mapped IPv4', 'ebpf', P(AF_INET6, AF_INET, SOCK_DGRAM, 20, 8006, 9080));
recvOrder('IPv6 UDP w/ mapped IPv4', 'ebpf', P(AF_INET6, AF_INET, SOCK_DGRAM, 10, 8006, 9080));
recvOrder('IPv6 UDP w/ mapped IPv4', 'cbpf', P(AF_INET6, AF_INET, SOCK_DGRAM, 10, 8007, 9100));
recvOrder('IPv6 UDP w/ mapped IPv4', 'cbpf', P(AF_INET6, AF_INET, SOCK_DGRAM, 20, 8007, 9100));
// ---- TCP (TFO, sysctl tcp_fastopen |= 3 in the scenario's netns) ----
recvOrder('IPv4 TCP', 'ebpf', P(AF_INET, AF_INET, SOCK_STREAM, 10, 8008, 9120));
recvOrder('IPv4 TCP', 'cbpf', P(AF_INET, AF_INET, SOCK_STREAM, 10, 8009, 9160));
recvOrder('IPv6 TCP', 'ebpf', P(AF_INET6, AF_INET6, SOCK_STREAM, 10, 8012, 9200));
recvOrder('IPv6 TCP', 'cbpf', P(AF_INET6, AF_INET6, SOCK_STREAM, 10, 8013, 9240));
recvOrder('IPv6 TCP w/ mapped IPv4', 'ebpf', P(AF_INET6, AF_INET, SOCK_STREAM, 10, 8016, 9320));
recvOrder('IPv6 TCP w/ mapped IPv4', 'cbpf', P(AF_INET6, AF_INET, SOCK_STREAM, 10, 8017, 9360));

for (const [family, protocol, extraPort, noReusePort] of [
  [AF_INET, SOCK_DGRAM, 8002, 8008], [AF_INET6, SOCK_DGRAM, 8005, 8009],
  [AF_INET, SOCK_STREAM, 8010, 8011], [AF_INET6, SOCK_STREAM, 8014, 8015],
] as const) {
  const label = `${fam(family)} ${protocol === SOCK_STREAM ? 'TCP' : 'UDP'}`;
  const p = P(family, family, protocol, 0, 0, 0);
  scenarios.push({ name: `${label} test_extra_filter → EADDRINUSE`, run: (c) => testExtraFilter(c, { ...p, recvPort: extraPort }) });
  scenarios.push({ name: `${label} test_filter_no_reuseport → EINVAL`, run: (c) => testFilterNoReuseport(c, { ...p, recvPort: noReusePort }) });
}
scenarios.push({ name: 'test_filter_without_bind', run: testFilterWithoutBind });

await scenarioTable(TABLE, scenarios, { known: KNOWN_DIFFERENCES });
