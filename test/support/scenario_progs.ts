/**
 * The kernel selftests' BPF programs, translated instruction by instruction into builder code
 * (kernel-semantics.md §6). Each builder takes the map fds the C object would have relocated.
 * C globals (.bss) become one-element ARRAY maps: we have no BTF/global-data loader, and a map
 * lookup is what the C `&global` compiles to after libbpf's relocation anyway.
 */
import { FP, program, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, type Program } from '../../src/ebpf/asm.js';
import {
  BPF_HDR_START_NET, BPF_TCP_ESTABLISHED, BPF_TCP_NEW_SYN_RECV, BPF_TCP_SYN_RECV, IPPROTO_TCP, IPPROTO_UDP,
  SK_DROP, SK_PASS,
} from '../../src/kernel/index.js';
import { CBPF, sockFilterBytes } from './scenario_cbpf.js';

// ---------------------------------------------------------------------------------------------
// progs/test_select_reuseport_kern.c  SEC("sk_reuseport") _select_by_skb_data
// ---------------------------------------------------------------------------------------------

/** enum result (test_select_reuseport_common.h) */
export const DROP_ERR_INNER_MAP = 0, DROP_ERR_SKB_DATA = 1, DROP_ERR_SK_SELECT_REUSEPORT = 2;
export const DROP_MISC = 3, PASS = 4, PASS_ERR_SK_SELECT_REUSEPORT = 5, NR_RESULTS = 6;
export const RESULT_NAMES = [
  'DROP_ERR_INNER_MAP', 'DROP_ERR_SKB_DATA', 'DROP_ERR_SK_SELECT_REUSEPORT', 'DROP_MISC', 'PASS',
  'PASS_ERR_SK_SELECT_REUSEPORT',
] as const;

/**
 * struct data_check { u32 ip_protocol; u32 skb_addrs[8]; u16 skb_ports[2]; u16 eth_protocol;
 * u8 bind_inany; u8 equal_check_end[0]; u32 len; u32 hash; } — offsets as laid out by clang.
 */
export const DC = {
  ip_protocol: 0, skb_addrs: 4, skb_ports: 36, eth_protocol: 40, bind_inany: 42, equal_check_end: 43,
  len: 44, hash: 48, size: 52,
} as const;

/** struct sk_reuseport_md offsets (uapi). */
export const MD = {
  data: 0, data_end: 8, len: 16, eth_protocol: 20, ip_protocol: 24, bind_inany: 28, hash: 32, sk: 40,
  migrating_sk: 48,
} as const;
/** struct bpf_sock offsets used here. */
const BPF_SOCK_STATE = 72;

export interface SelectReuseportMaps {
  outerMap: number; resultMap: number; tmpIndexOvrMap: number; linumMap: number; dataCheckMap: number;
}

/**
 * Line numbers of the GOTO_DONE sites in the C source (only stored in linum_map for diagnostics).
 */
const LINE = {
  dropMiscLoadAddrs: 92, dropMiscTh: 109, dropSkbDataTcp: 120, dropMiscTcpLoad: 123, dropMiscUh: 130,
  dropSkbDataUdp: 136, dropMiscUdpLoad: 140, dropMiscProto: 146, dropInnerMap: 151, dropMiscOvr: 156,
  pass: 165, passErr: 168, dropErr: 170,
} as const;

export function selectReuseportProg(m: SelectReuseportMaps): Uint8Array {
  // Stack frame (clang-like): index @-4, index_zero @-8, linum @-12, result @-16, cmd_copy @-24,
  // struct data_check @-80 (52 bytes, zero-initialised as `= {}` does).
  const INDEX = -4, INDEX_ZERO = -8, LINUM = -12, RESULT = -16, CMD_COPY = -24, DCK = -80;
  const p = program();
  // GOTO_DONE(_result): result = _result; linum = __LINE__; goto done;
  const done = (label: string, result: number, linum: number): Program =>
    p.label(label).st('w', FP, RESULT, result).st('w', FP, LINUM, linum).ja('done');
  p.mov(R6, R1) // r6 = reuse_md
    .st('w', FP, INDEX, 0) // index = 0
    .st('w', FP, INDEX_ZERO, 0); // index_zero = 0
  for (let off = DCK; off < DCK + 56; off += 8) p.st('dw', FP, off, 0); // data_check = {}
  p.ldx('dw', R7, R6, MD.data) // data
    .ldx('dw', R8, R6, MD.data_end) // data_end
    .ldx('w', R1, R6, MD.len).stx('w', FP, DCK + DC.len, R1)
    .ldx('w', R1, R6, MD.eth_protocol).stx('h', FP, DCK + DC.eth_protocol, R1)
    .ldx('w', R1, R6, MD.ip_protocol).stx('w', FP, DCK + DC.ip_protocol, R1)
    .ldx('w', R1, R6, MD.hash).stx('w', FP, DCK + DC.hash, R1)
    .ldx('w', R1, R6, MD.bind_inany).stx('b', FP, DCK + DC.bind_inany, R1)
    // if (data_check.eth_protocol == bpf_htons(ETH_P_IP)): the u16 read back in host order is 0x0008
    .ldx('h', R1, FP, DCK + DC.eth_protocol)
    .jne(R1, 0x0008, 'ipv6_addrs')
    // bpf_skb_load_bytes_relative(reuse_md, offsetof(struct iphdr, saddr) = 12, skb_addrs, 8, NET)
    .mov(R1, R6).mov(R2, 12).mov(R3, FP).add(R3, DCK + DC.skb_addrs).mov(R4, 8)
    .mov(R5, BPF_HDR_START_NET).call('skb_load_bytes_relative')
    .ja('addrs_loaded')
    .label('ipv6_addrs')
    // offsetof(struct ipv6hdr, saddr) = 8, 32 bytes
    .mov(R1, R6).mov(R2, 8).mov(R3, FP).add(R3, DCK + DC.skb_addrs).mov(R4, 32)
    .mov(R5, BPF_HDR_START_NET).call('skb_load_bytes_relative')
    .label('addrs_loaded')
    .jne(R0, 0, 'drop_misc_addrs')
    .ldx('w', R1, FP, DCK + DC.ip_protocol)
    .jeq(R1, IPPROTO_TCP, 'tcp')
    .jeq(R1, IPPROTO_UDP, 'udp')
    .ja('drop_misc_proto');

  // ---- TCP: struct tcphdr *th = data ----
  p.label('tcp')
    .mov(R1, R7).add(R1, 20).jgt(R1, R8, 'drop_misc_th') // th + 1 > data_end
    .ldx('h', R1, R7, 0).stx('h', FP, DCK + DC.skb_ports, R1) // th->source
    .ldx('h', R1, R7, 2).stx('h', FP, DCK + DC.skb_ports + 2, R1) // th->dest
    // if (th->fin) return SK_PASS;  fin is bit 0 of byte 13
    .ldx('b', R1, R7, 13).and(R1, 1).jne(R1, 0, 'ret_pass')
    // doff << 2: high nibble of byte 12
    .ldx('b', R9, R7, 12).rsh(R9, 4).lsh(R9, 2)
    .mov(R1, R9).add(R1, 8)
    .ldx('w', R2, FP, DCK + DC.len)
    .jgt(R1, R2, 'drop_skb_data_tcp') // (doff << 2) + sizeof(*cmd) > len
    .mov(R1, R6).mov(R2, R9).mov(R3, FP).add(R3, CMD_COPY).mov(R4, 8)
    .call('skb_load_bytes')
    .jne(R0, 0, 'drop_misc_tcp_load')
    .mov(R8, FP).add(R8, CMD_COPY) // cmd = &cmd_copy
    .ja('lookup');

  // ---- UDP: struct udphdr *uh = data ----
  p.label('udp')
    .mov(R1, R7).add(R1, 8).jgt(R1, R8, 'drop_misc_uh')
    .ldx('h', R1, R7, 0).stx('h', FP, DCK + DC.skb_ports, R1)
    .ldx('h', R1, R7, 2).stx('h', FP, DCK + DC.skb_ports + 2, R1)
    .ldx('w', R1, FP, DCK + DC.len)
    .jlt(R1, 16, 'drop_skb_data_udp') // sizeof(udphdr) + sizeof(*cmd) > len
    .mov(R1, R7).add(R1, 16)
    .jgt(R1, R8, 'udp_load') // data + 16 > data_end
    .mov(R8, R7).add(R8, 8) // cmd = data + sizeof(struct udphdr)
    .ja('lookup')
    .label('udp_load')
    .mov(R1, R6).mov(R2, 8).mov(R3, FP).add(R3, CMD_COPY).mov(R4, 8)
    .call('skb_load_bytes')
    .jne(R0, 0, 'drop_misc_udp_load')
    .mov(R8, FP).add(R8, CMD_COPY);

  // ---- reuseport_array = bpf_map_lookup_elem(&outer_map, &index_zero) ----
  p.label('lookup')
    .ldMapFd(R1, 'outer_map').mov(R2, FP).add(R2, INDEX_ZERO)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'drop_inner_map')
    .mov(R9, R0)
    .ldx('w', R1, R8, 0).stx('w', FP, INDEX, R1) // index = cmd->reuseport_index
    .ldMapFd(R1, 'tmp_index_ovr_map').mov(R2, FP).add(R2, INDEX_ZERO)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'drop_misc_ovr')
    .ldx('w', R1, R0, 0)
    .jeq32(R1, -1, 'select') // if (*index_ovr != -1)
    .stx('w', FP, INDEX, R1) // index = *index_ovr
    .st('w', R0, 0, -1) // *index_ovr = -1
    .label('select')
    .mov(R1, R6).mov(R2, R9).mov(R3, FP).add(R3, INDEX).mov(R4, 0)
    .call('sk_select_reuseport')
    .jeq(R0, 0, 'pass')
    .ldx('w', R1, R8, 4) // cmd->pass_on_failure
    .jne(R1, 0, 'pass_err')
    .ja('drop_err');

  done('pass', PASS, LINE.pass);
  done('pass_err', PASS_ERR_SK_SELECT_REUSEPORT, LINE.passErr);
  done('drop_err', DROP_ERR_SK_SELECT_REUSEPORT, LINE.dropErr);
  done('drop_misc_addrs', DROP_MISC, LINE.dropMiscLoadAddrs);
  done('drop_misc_th', DROP_MISC, LINE.dropMiscTh);
  done('drop_skb_data_tcp', DROP_ERR_SKB_DATA, LINE.dropSkbDataTcp);
  done('drop_misc_tcp_load', DROP_MISC, LINE.dropMiscTcpLoad);
  done('drop_misc_uh', DROP_MISC, LINE.dropMiscUh);
  done('drop_skb_data_udp', DROP_ERR_SKB_DATA, LINE.dropSkbDataUdp);
  done('drop_misc_udp_load', DROP_MISC, LINE.dropMiscUdpLoad);
  done('drop_misc_proto', DROP_MISC, LINE.dropMiscProto);
  done('drop_inner_map', DROP_ERR_INNER_MAP, LINE.dropInnerMap);
  done('drop_misc_ovr', DROP_MISC, LINE.dropMiscOvr);

  p.label('ret_pass').mov(R0, SK_PASS).exit();

  // done: result_cnt = bpf_map_lookup_elem(&result_map, &result); ...
  p.label('done')
    .ldMapFd(R1, 'result_map').mov(R2, FP).add(R2, RESULT)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'ret_drop')
    .mov(R7, R0)
    .ldMapFd(R1, 'linum_map').mov(R2, FP).add(R2, INDEX_ZERO)
    .mov(R3, FP).add(R3, LINUM).mov(R4, 0)
    .call('map_update_elem')
    .ldMapFd(R1, 'data_check_map').mov(R2, FP).add(R2, INDEX_ZERO)
    .mov(R3, FP).add(R3, DCK).mov(R4, 0)
    .call('map_update_elem')
    .ldx('w', R1, R7, 0).add(R1, 1).stx('w', R7, 0, R1) // (*result_cnt)++
    .ldx('w', R1, FP, RESULT)
    .mov(R0, SK_DROP)
    .jlt(R1, PASS, 'out') // result < PASS ? SK_DROP : SK_PASS
    .mov(R0, SK_PASS)
    .label('out').exit()
    .label('ret_drop').mov(R0, SK_DROP).exit();
  return p.link({
    maps: { outer_map: m.outerMap, result_map: m.resultMap, tmp_index_ovr_map: m.tmpIndexOvrMap, linum_map: m.linumMap, data_check_map: m.dataCheckMap },
  });
}

// ---------------------------------------------------------------------------------------------
// progs/test_sockmap_listen.c  SEC("sk_reuseport") prog_reuseport
// ---------------------------------------------------------------------------------------------

/**
 * `err = bpf_sk_select_reuseport(reuse, test_sockmap ? &sock_map : &sock_hash, &zero, 0);
 * verdict = err ? SK_DROP : SK_PASS; count = verdict_map[verdict]; if (count) (*count)++;
 * return verdict;` — the `test_sockmap` global is resolved here by passing the chosen map.
 */
export function sockmapListenReuseportProg(sockMap: number, verdictMap: number): Uint8Array {
  const ZERO = -4, VERDICT = -8;
  const p = program();
  p.mov(R6, R1)
    .st('w', FP, ZERO, 0)
    .mov(R1, R6).ldMapFd(R2, 'sock_map').mov(R3, FP).add(R3, ZERO).mov(R4, 0)
    .call('sk_select_reuseport')
    .mov(R7, SK_DROP)
    .jne(R0, 0, 'have_verdict')
    .mov(R7, SK_PASS)
    .label('have_verdict')
    .stx('w', FP, VERDICT, R7)
    .ldMapFd(R1, 'verdict_map').mov(R2, FP).add(R2, VERDICT)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'out')
    .ldx('w', R1, R0, 0).add(R1, 1).stx('w', R0, 0, R1) // (*count)++
    .label('out')
    .mov(R0, R7)
    .exit();
  return p.link({ maps: { sock_map: sockMap, verdict_map: verdictMap } });
}

// ---------------------------------------------------------------------------------------------
// selftests/net/reuseport_bpf.c
// ---------------------------------------------------------------------------------------------

/** attach_ebpf(): SOCKET_FILTER `r6 = r1; r0 = LD_ABS_W[0]; r0 %= mod; exit`. */
export function reuseportBpfEbpf(mod: number): Uint8Array {
  return program().mov(R6, R1).ldabs('w', 0).mod(R0, mod).exit().link();
}

/** test_filter_no_reuseport(): SOCKET_FILTER `r0 = 10; exit`. */
export function reuseportBpfEbpfConst(): Uint8Array {
  return program().mov(R0, 10).exit().link();
}

/** attach_cbpf(): `A = LD_W_ABS[0]; A %= mod; ret A` as struct sock_filter[] bytes. */
export function reuseportBpfCbpf(mod: number): Uint8Array {
  return sockFilterBytes([
    { code: CBPF.LD | CBPF.W | CBPF.ABS, jt: 0, jf: 0, k: 0 },
    { code: CBPF.ALU | CBPF.MOD | CBPF.K, jt: 0, jf: 0, k: mod },
    { code: CBPF.RET | CBPF.A, jt: 0, jf: 0, k: 0 },
  ]);
}

/** test_filter_no_reuseport(): cBPF `ret A`. */
export function reuseportBpfCbpfRetA(): Uint8Array {
  return sockFilterBytes([{ code: CBPF.RET | CBPF.A, jt: 0, jf: 0, k: 0 }]);
}

// ---------------------------------------------------------------------------------------------
// progs/test_migrate_reuseport.c  SEC("sk_reuseport/migrate") migrate_reuseport
// ---------------------------------------------------------------------------------------------

/** The .bss globals, one u32 each, in the ARRAY map standing for .bss (value_size 16). */
export const MIGRATED = { at_close: 0, at_close_fastopen: 4, at_send_synack: 8, at_recv_ack: 12, size: 16 } as const;

export interface MigrateMaps { reuseportMap: number; migrateMap: number; bss: number }

export function migrateReuseportProg(m: MigrateMaps): Uint8Array {
  const COOKIE = -8, ZERO = -12;
  const p = program();
  p.mov(R6, R1)
    .ldx('dw', R1, R6, MD.migrating_sk)
    .jeq(R1, 0, 'ret_pass') // if (!reuse_md->migrating_sk) return SK_PASS;
    .ldx('w', R7, R1, BPF_SOCK_STATE) // state = migrating_sk->state
    .ldx('dw', R1, R6, MD.sk)
    .call('get_socket_cookie') // cookie = bpf_get_socket_cookie(reuse_md->sk)
    .stx('dw', FP, COOKIE, R0)
    .ldMapFd(R1, 'migrate_map').mov(R2, FP).add(R2, COOKIE)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'ret_drop') // if (!key) return SK_DROP;
    .mov(R3, R0)
    .mov(R1, R6).ldMapFd(R2, 'reuseport_map').mov(R4, 0)
    .call('sk_select_reuseport')
    .jne(R0, 0, 'ret_pass') // if (err) return SK_PASS;
    .st('w', FP, ZERO, 0)
    .ldMapFd(R1, 'bss').mov(R2, FP).add(R2, ZERO)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'ret_pass')
    .mov(R1, 1)
    .jeq(R7, BPF_TCP_ESTABLISHED, 'at_close')
    .jeq(R7, BPF_TCP_SYN_RECV, 'at_close_fastopen')
    .jeq(R7, BPF_TCP_NEW_SYN_RECV, 'new_syn_recv')
    .ja('ret_pass')
    .label('at_close').atomic('add', 'w', R0, MIGRATED.at_close, R1).ja('ret_pass')
    .label('at_close_fastopen').atomic('add', 'w', R0, MIGRATED.at_close_fastopen, R1).ja('ret_pass')
    .label('new_syn_recv')
    .ldx('w', R2, R6, MD.len)
    .jne(R2, 0, 'at_recv_ack')
    .atomic('add', 'w', R0, MIGRATED.at_send_synack, R1).ja('ret_pass')
    .label('at_recv_ack').atomic('add', 'w', R0, MIGRATED.at_recv_ack, R1)
    .label('ret_pass').mov(R0, SK_PASS).exit()
    .label('ret_drop').mov(R0, SK_DROP).exit();
  return p.link({ maps: { reuseport_map: m.reuseportMap, migrate_map: m.migrateMap, bss: m.bss } });
}
