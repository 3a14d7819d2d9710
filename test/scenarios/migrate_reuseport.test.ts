/**
 * Table 5 — prog_tests/migrate_reuseport.c with progs/test_migrate_reuseport.c
 * (kernel-semantics.md §6.3). 25 connections tied to servers[0..3] are migrated to servers[4] by a
 * BPF_SK_REUSEPORT_SELECT_OR_MIGRATE program when those listeners shut down; the program counts
 * migrations by the child's state. The SYN_RECV / NEW_SYN_RECV cases need the selftest's XDP
 * drop_ack on lo (the final ACK must not arrive): on the simulator its holdAcks()/releaseAcks()
 * and expireSynAckTimers() controls stand for the XDP program and the 1 s sleep.
 */
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_NOEXIST,
  BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, BPF_TCP_ESTABLISHED, BPF_TCP_NEW_SYN_RECV,
  BPF_TCP_SYN_RECV, IPPROTO_TCP, SHUT_RDWR, SOCK_STREAM, SOL_SOCKET, SOL_TCP, SO_ATTACH_REUSEPORT_EBPF,
  SO_REUSEPORT, TCP_FASTOPEN, TCP_FASTOPEN_CONNECT,
} from '../../src/kernel/index.js';
import { MIGRATED, migrateReuseportProg } from '../support/scenario_progs.js';
import { readU32, scenarioTable, u32, u64, type Scenario, type ScenarioCtx } from '../support/scenario_runner.js';
import { runMigrateWorld } from '../support/scenario_diff_migrate.js';
import { dropFinalAcks, expireSynAckTimers, type XdpLink } from '../support/scenario_xdp.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';

const TABLE = 'migrate_reuseport';
const NR_SERVERS = 5, NR_CLIENTS = NR_SERVERS * 5, MIGRATED_TO = NR_SERVERS - 1, QLEN = NR_CLIENTS * 5;
const MSG = new TextEncoder().encode('Hello World\0');
const ACCEPT_WAIT_MS = 4000; // settimeo(servers[MIGRATED_TO], 4000)

interface Case { name: string; family: number; state: number; dropAck: boolean; expireSynackTimer: boolean; fastopen: boolean }

const CASES: Case[] = [];
for (const family of [AF_INET, AF_INET6]) {
  const f = family === AF_INET ? 'IPv4' : 'IPv6';
  CASES.push(
    { name: `${f} TCP_ESTABLISHED  inet_csk_listen_stop`, family, state: BPF_TCP_ESTABLISHED, dropAck: false, expireSynackTimer: false, fastopen: false },
    { name: `${f} TCP_SYN_RECV     inet_csk_listen_stop`, family, state: BPF_TCP_SYN_RECV, dropAck: true, expireSynackTimer: false, fastopen: true },
    { name: `${f} TCP_NEW_SYN_RECV reqsk_timer_handler`, family, state: BPF_TCP_NEW_SYN_RECV, dropAck: true, expireSynackTimer: true, fastopen: false },
    { name: `${f} TCP_NEW_SYN_RECV inet_csk_complete_hashdance`, family, state: BPF_TCP_NEW_SYN_RECV, dropAck: true, expireSynackTimer: false, fastopen: false },
  );
}

async function runCase(c: ScenarioCtx, t: Case): Promise<void> {
  const { k } = c;
  // test_migrate_reuseport__open_and_load(): maps, .bss, SEC("sk_reuseport/migrate")
  const reuseportMap = c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 256, name: 'reuseport_map' }));
  const migrateMap = c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 8, valueSize: 4, maxEntries: 256, name: 'migrate_map' }));
  const bss = c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: MIGRATED.size, maxEntries: 1, name: '.bss' }));
  const prog = c.own(c.ok('load migrate_reuseport (SELECT_OR_MIGRATE)', () => k.progLoad({
    progType: BPF_PROG_TYPE_SK_REUSEPORT, expectedAttachType: BPF_SK_REUSEPORT_SELECT_OR_MIGRATE,
    insns: migrateReuseportProg({ reuseportMap, migrateMap, bss }), license: 'GPL', name: 'migrate_reusepo',
  })));

  if (t.fastopen) c.ok('sysctl tcp_fastopen = 519', () => k.sysctl('net.ipv4.tcp_fastopen', '519'));

  // start_servers()
  const loopback = t.family === AF_INET ? '127.0.0.1' : '::1';
  const servers: number[] = [];
  let port = 0;
  for (let i = 0; i < NR_SERVERS; i++) {
    const s = c.own(k.socket(t.family, SOCK_STREAM, IPPROTO_TCP));
    servers.push(s);
    k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1);
    c.ok(`bind servers[${i}]`, () => k.bind(s, loopback, port));
    if (i === 0) {
      c.ok('SO_ATTACH_REUSEPORT_EBPF servers[0] after bind', () => k.setsockopt(s, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog));
      port = k.getsockname(s).port;
    }
    if (t.fastopen) k.setsockopt(s, SOL_TCP, TCP_FASTOPEN, QLEN);
    // all requests will be tied to the first four listeners
    if (i !== MIGRATED_TO) c.ok(`listen servers[${i}]`, () => k.listen(s, QLEN));
  }

  let link: XdpLink | undefined;
  try {
    // drop the final ACK of the 3WHS: requests stay in SYN_RECV / NEW_SYN_RECV
    if (t.dropAck) link = c.ok('drop final ACKs (XDP drop_ack on lo / sim holdAcks)', () => dropFinalAcks(k, port));

    // start_clients()
    for (let i = 0; i < NR_CLIENTS; i++) {
      const cl = c.own(k.socket(t.family, SOCK_STREAM, IPPROTO_TCP));
      if (t.fastopen) k.setsockopt(cl, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1);
      const r1 = c.attempt(() => k.connect(cl, loopback, port));
      assert.equal(r1, 'ok', `connect client ${i}: ${r1}`);
      const r2 = c.attempt(() => k.sendto(cl, MSG));
      assert.equal(r2, 'ok', `write client ${i}: ${r2}`);
    }
    c.note(`${NR_CLIENTS} clients connected and wrote`);

    c.ok('listen servers[4]', () => k.listen(servers[MIGRATED_TO]!, QLEN));

    // update_maps(): reuseport_map[i] = servers[i]; migrate_map[cookie(servers[i])] = 4
    for (let i = 0; i < NR_SERVERS; i++) {
      c.ok(`reuseport_map[${i}] = servers[${i}]`, () => k.mapUpdateElem(reuseportMap, u32(i), u64(servers[i]!), BPF_NOEXIST));
      const cookie = c.ok(`lookup reuseport_map[${i}]`, () => k.mapLookupElem(reuseportMap, u32(i)));
      c.ok(`migrate_map[cookie ${i}] = 4`, () => k.mapUpdateElem(migrateMap, cookie, u32(MIGRATED_TO), BPF_NOEXIST));
    }

    // migrate_dance()
    for (let i = 0; i < MIGRATED_TO; i++) c.ok(`shutdown servers[${i}]`, () => k.shutdown(servers[i]!, SHUT_RDWR));
    if (t.state !== BPF_TCP_NEW_SYN_RECV) {
      // servers[1] was bound to a specific port: re-listen resurrects it in the group
      c.ok('listen servers[1] (resurrect)', () => k.listen(servers[1]!, QLEN));
      // slot 4 was cleared at shutdown: helper -ENOENT → SK_PASS → kernel random pick = servers[1]
      c.ok('shutdown servers[4]', () => k.shutdown(servers[MIGRATED_TO]!, SHUT_RDWR));
      c.ok('listen servers[4]', () => k.listen(servers[MIGRATED_TO]!, QLEN));
      c.ok('shutdown servers[1]', () => k.shutdown(servers[1]!, SHUT_RDWR));
    }

    // wait for SYN+ACK timers so reqsk_timer_handler() migrates NEW_SYN_RECV requests
    if (t.expireSynackTimer) await expireSynAckTimers(k);
    if (link) { link.close(); link = undefined; c.note('final ACKs let through'); }

    // count_requests()
    let cnt = 0;
    for (; cnt < NR_CLIENTS; cnt++) {
      const srv = servers[MIGRATED_TO]!;
      if (k.poll([srv], ACCEPT_WAIT_MS).length === 0) break;
      let child = -1;
      const r = c.attempt(() => { child = c.own(k.accept(srv)); });
      if (r !== 'ok') { c.note(`accept: ${r}`); break; }
      k.poll([child], ACCEPT_WAIT_MS);
      const got = c.ok('read', () => k.recvfrom(child, MSG.length)).data;
      c.close(child);
      assert.deepEqual([...got], [...MSG], `read: got ${JSON.stringify(new TextDecoder().decode(got))}`);
    }
    c.note(`accepted on servers[4]: ${cnt}`);
    assert.equal(cnt, NR_CLIENTS, 'count in userspace');

    const bssVal = k.mapLookupElem(bss, u32(0));
    const counter = t.state === BPF_TCP_ESTABLISHED ? MIGRATED.at_close
      : t.state === BPF_TCP_SYN_RECV ? MIGRATED.at_close_fastopen
      : t.expireSynackTimer ? MIGRATED.at_send_synack : MIGRATED.at_recv_ack;
    const n = readU32(bssVal, counter);
    c.note(`BPF counter: ${n}`);
    assert.equal(n, NR_CLIENTS, 'count in BPF prog');
  } finally {
    link?.close();
  }
}

const scenarios: Scenario[] = CASES.map((t) => ({ name: t.name, run: (c) => runCase(c, t) }));

// Not in the selftest; found by the differential test (DIFFERENCES.md S6): once every listener of
// the group is shut down, listen() again puts the socket in a NEW group without the program
// (reuseport_resurrect(sk, old_reuse, NULL)), so SYNs are hash-picked and the program never runs.
for (const family of [AF_INET, AF_INET6]) {
  scenarios.push({
    name: `extra ${family === AF_INET ? 'IPv4' : 'IPv6'} re-listen after all listeners shut down: new group without the program`,
    run: (c) => runMigrateWorld(c, {
      seed: 0, family, n: 3,
      ops: [
        { op: 'connect', target: 0 }, { op: 'connect', target: 1 },
        { op: 'shutdown', sock: 1, target: 0 }, { op: 'shutdown', sock: 2, target: 0 }, { op: 'shutdown', sock: 0, target: 0 },
        { op: 'relisten', sock: 1 }, { op: 'relisten', sock: 2 }, { op: 'update', slot: 1, sock: 1 },
        { op: 'connect', target: 1 }, { op: 'connect', target: 1 }, { op: 'connect', target: 1 },
      ],
    }),
  });
}

await scenarioTable(TABLE, scenarios, { known: KNOWN_DIFFERENCES, timeout: 30_000 });
