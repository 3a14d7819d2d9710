/**
 * Extra table — what BPF_PROG_LOAD accepts for BPF_PROG_TYPE_SK_REUSEPORT (kernel-semantics.md
 * §4.1, §4.6, §4.7), errno for errno on both kernels:
 *  - every struct sk_reuseport_md offset 0..63 × size (b/h/w/dw) × access (ldx, stx, st);
 *    the cells §4.6 defines are asserted, every cell is compared with Linux;
 *  - every helper id 1..211 called with no argument set up: EINVAL ("unknown func") when
 *    sk_reuseport_func_proto() does not offer it, EACCES when it does and wants arguments, 0 when
 *    it takes none;
 *  - return values other than SK_PASS/SK_DROP, a missing exit value, expected_attach_type checks.
 */
import assert from 'node:assert/strict';
import {
  BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, type ErrnoCode,
} from '../../src/kernel/index.js';
import { program, R0, R1, R2, R3, R4, R6, R7, R10, type Program } from '../../src/ebpf/asm.js';
import { BPF_FUNC_MAX_ID, HELPER_NAMES } from '../../src/ebpf/helpers.js';
import { MD } from '../support/scenario_progs.js';
import { scenarioTable, type Scenario, type ScenarioCtx } from '../support/scenario_runner.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';

const TABLE = 'sk_reuseport verifier';
type Size = 'b' | 'h' | 'w' | 'dw';
const SIZES: Size[] = ['b', 'h', 'w', 'dw'];
const BYTES: Record<Size, number> = { b: 1, h: 2, w: 4, dw: 8 };

const load = (c: ScenarioCtx, p: Program, expectedAttachType?: number): string =>
  c.attempt(() => c.own(c.k.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: p.link(), license: 'GPL', expectedAttachType })));

/** §4.6: which reads are defined as valid; every write is invalid. undefined = not specified. */
function specRead(off: number, size: Size): boolean | undefined {
  const n = BYTES[size];
  if (off % n !== 0) return false; // unaligned
  const field = (start: number, width: number): boolean => off >= start && off + n <= start + width;
  if (field(MD.data, 8) || field(MD.data_end, 8) || field(MD.sk, 8) || field(MD.migrating_sk, 8)) return n === 8;
  if (field(MD.hash, 4)) return n === 4 ? true : undefined;
  if (field(MD.eth_protocol, 4)) return n === 1 ? false : n === 8 ? false : off === MD.eth_protocol ? true : undefined;
  if (field(MD.len, 4) || field(MD.ip_protocol, 4) || field(MD.bind_inany, 4)) return n === 8 ? false : off % 4 === 0 ? true : undefined;
  if (off >= 36 && off < 40) return false; // padding
  if (off >= 56) return false; // past sizeof(struct sk_reuseport_md)
  return undefined; // straddles two fields
}

const scenarios: Scenario[] = [];

for (let off = 0; off < 64; off++) {
  scenarios.push({
    name: `ctx access at offset ${off}`,
    run(c) {
      for (const size of SIZES) {
        const got = load(c, program().ldx(size, R0, R1, off).mov(R0, 1).exit());
        c.note(`ldx${size} [ctx+${off}]: ${got}`);
        const want = specRead(off, size);
        if (want === true) assert.equal(got, 'ok', `read ${size} at ${off} is valid per §4.6`);
        if (want === false) assert.equal(got, 'EACCES', `read ${size} at ${off} is invalid per §4.6`);
        // writes: the context is read-only
        const stx = load(c, program().mov(R2, 0).stx(size, R1, off, R2).mov(R0, 1).exit());
        c.note(`stx${size} [ctx+${off}]: ${stx}`);
        assert.equal(stx, 'EACCES', `write ${size} at ${off}: the context is read-only`);
        const st = load(c, program().st(size, R1, off, 0).mov(R0, 1).exit());
        c.note(`st${size} [ctx+${off}]: ${st}`);
        assert.notEqual(st, 'ok', `store-immediate ${size} at ${off}: the context is read-only`);
      }
    },
  });
}

// helpers, in batches so a difference names its ids
const BATCH = 16;
for (let first = 1; first < BPF_FUNC_MAX_ID; first += BATCH) {
  const last = Math.min(first + BATCH - 1, BPF_FUNC_MAX_ID - 1);
  scenarios.push({
    name: `helpers ${first}..${last} callable from SK_REUSEPORT`,
    run(c) {
      for (let id = first; id <= last; id++) {
        const got = load(c, program().mov(R6, R1).call(id).mov(R0, 1).exit());
        c.note(`call ${id} (${HELPER_NAMES[id]}): ${got}`);
        // §4.7: the type-specific helpers are offered: they take arguments that were not set up
        if (['sk_select_reuseport', 'skb_load_bytes', 'skb_load_bytes_relative', 'get_socket_cookie'].includes(HELPER_NAMES[id]!)) {
          assert.equal(got, 'EACCES', `${HELPER_NAMES[id]} is offered to SK_REUSEPORT (arguments not set up → EACCES)`);
        }
        if (['ktime_get_ns', 'get_prandom_u32', 'get_smp_processor_id', 'get_numa_node_id'].includes(HELPER_NAMES[id]!)) {
          assert.equal(got, 'ok', `${HELPER_NAMES[id]} takes no arguments and is in the base list`);
        }
      }
    },
  });
}

const expect = (c: ScenarioCtx, label: string, p: Program, want: 'ok' | ErrnoCode, attach?: number): void => {
  const got = load(c, p, attach);
  c.note(`${label}: ${got}`);
  assert.equal(got, want, label);
};

scenarios.push({
  name: 'return values and exit',
  run(c) {
    expect(c, 'return SK_PASS', program().mov(R0, 1).exit(), 'ok');
    expect(c, 'return SK_DROP', program().mov(R0, 0).exit(), 'ok');
    // platform notes: a program returning 2 loads and acts as a drop
    expect(c, 'return 2', program().mov(R0, 2).exit(), 'ok');
    expect(c, 'exit without writing r0', program().exit(), 'EACCES');
    c.note(`return -1: ${load(c, program().mov(R0, -1).exit())}`);
    c.note(`return r1 (a pointer): ${load(c, program().mov(R0, R1).exit())}`);
  },
});

scenarios.push({
  name: 'expected_attach_type',
  run(c) {
    const p = (): Program => program().mov(R0, 1).exit();
    expect(c, 'expected_attach_type 0 (rewritten to SELECT)', p(), 'ok', 0);
    expect(c, 'expected_attach_type SELECT', p(), 'ok', BPF_SK_REUSEPORT_SELECT);
    expect(c, 'expected_attach_type SELECT_OR_MIGRATE', p(), 'ok', BPF_SK_REUSEPORT_SELECT_OR_MIGRATE);
    for (const t of [1, 38, 41, 100]) expect(c, `expected_attach_type ${t}`, p(), 'EINVAL', t);
    // migrating_sk may be NULL: a dereference without a NULL check is refused
    expect(c, 'migrating_sk->state without NULL check', program().ldx('dw', R1, R1, MD.migrating_sk).ldx('w', R0, R1, 72).mov(R0, 1).exit(), 'EACCES', BPF_SK_REUSEPORT_SELECT_OR_MIGRATE);
    expect(c, 'migrating_sk->state after NULL check', program().ldx('dw', R1, R1, MD.migrating_sk).mov(R0, 1).jeq(R1, 0, 'out').ldx('w', R0, R1, 72).mov(R0, 1).label('out').exit(), 'ok', BPF_SK_REUSEPORT_SELECT_OR_MIGRATE);
    expect(c, 'sk->state', program().ldx('dw', R1, R1, MD.sk).ldx('w', R0, R1, 72).mov(R0, 1).exit(), 'ok');
  },
});

// ---- classic verifier checks on the programs a reuseport policy writes (§4.1, §2.8, §3) ----
interface Check { name: string; want?: 'ok' | ErrnoCode; build(m: Maps): Program; license?: string }
interface Maps { sockarray: number; array: number; hash: number; outer: number; closed: number }

const CHECKS: Check[] = [
  // packet: direct reads need a bounds check; the packet is read-only
  { name: 'packet read without bounds check', want: 'EACCES', build: () => program().ldx('dw', R2, R1, MD.data).ldx('b', R0, R2, 0).mov(R0, 1).exit() },
  { name: 'packet read after bounds check', want: 'ok', build: () => program().ldx('dw', R2, R1, MD.data).ldx('dw', R3, R1, MD.data_end).mov(R4, R2).add(R4, 1).mov(R0, 1).jgt(R4, R3, 'out').ldx('b', R0, R2, 0).mov(R0, 1).label('out').exit() },
  { name: 'packet write after bounds check', want: 'EACCES', build: () => program().ldx('dw', R2, R1, MD.data).ldx('dw', R3, R1, MD.data_end).mov(R4, R2).add(R4, 1).mov(R0, 1).jgt(R4, R3, 'out').st('b', R2, 0, 7).label('out').exit() },
  { name: 'packet read past the checked range', want: 'EACCES', build: () => program().ldx('dw', R2, R1, MD.data).ldx('dw', R3, R1, MD.data_end).mov(R4, R2).add(R4, 1).mov(R0, 1).jgt(R4, R3, 'out').ldx('b', R0, R2, 1).mov(R0, 1).label('out').exit() },
  // ctx pointer arithmetic
  { name: 'load through a modified ctx pointer', want: 'EACCES', build: () => program().add(R1, 4).ldx('w', R0, R1, 12).mov(R0, 1).exit() },
  // stack
  { name: 'read of an uninitialised stack slot (root)', build: () => program().ldx('w', R0, R10, -8).mov(R0, 1).exit() },
  { name: 'stack read below the frame', want: 'EACCES', build: () => program().st('w', R10, -516, 0).mov(R0, 1).exit() },
  { name: 'write to r10', build: () => program().mov(R10, 0).mov(R0, 1).exit() },
  // maps and helpers (§2.8)
  { name: 'sk_select_reuseport with an ARRAY map', want: 'EINVAL', build: (m) => selectWith(m.array) },
  { name: 'sk_select_reuseport with a HASH map', want: 'EINVAL', build: (m) => selectWith(m.hash) },
  { name: 'sk_select_reuseport with the sockarray', want: 'ok', build: (m) => selectWith(m.sockarray) },
  { name: 'map_lookup_elem on the sockarray', want: 'EINVAL', build: (m) => program().st('w', R10, -4, 0).ldMapFd(R1, m.sockarray).mov(R2, R10).add(R2, -4).call('map_lookup_elem').mov(R0, 1).exit() },
  { name: 'sk_select_reuseport with the inner map of ARRAY_OF_MAPS', want: 'ok', build: (m) => program().mov(R6, R1).st('w', R10, -4, 0).ldMapFd(R1, m.outer).mov(R2, R10).add(R2, -4).call('map_lookup_elem').mov(R7, R0).mov(R0, 1).jeq(R7, 0, 'out').mov(R1, R6).mov(R2, R7).mov(R3, R10).add(R3, -4).mov(R4, 0).call('sk_select_reuseport').mov(R0, 1).label('out').exit() },
  { name: 'inner map used without the NULL check', want: 'EACCES', build: (m) => program().mov(R6, R1).st('w', R10, -4, 0).ldMapFd(R1, m.outer).mov(R2, R10).add(R2, -4).call('map_lookup_elem').mov(R1, R6).mov(R2, R0).mov(R3, R10).add(R3, -4).mov(R4, 0).call('sk_select_reuseport').mov(R0, 1).exit() },
  // (an ARRAY lookup with a constant in-range key needs no NULL check on 6.18: a HASH lookup does)
  { name: 'hash map value read without the NULL check', want: 'EACCES', build: (m) => program().st('w', R10, -4, 0).ldMapFd(R1, m.hash).mov(R2, R10).add(R2, -4).call('map_lookup_elem').ldx('w', R0, R0, 0).mov(R0, 1).exit() },
  { name: 'array map value read with a constant key, no NULL check', build: (m) => program().st('w', R10, -4, 0).ldMapFd(R1, m.array).mov(R2, R10).add(R2, -4).call('map_lookup_elem').ldx('w', R0, R0, 0).mov(R0, 1).exit() },
  { name: 'map value read past value_size', want: 'EACCES', build: (m) => program().st('w', R10, -4, 0).ldMapFd(R1, m.array).mov(R2, R10).add(R2, -4).call('map_lookup_elem').jeq(R0, 0, 'out').ldx('w', R0, R0, 4).label('out').mov(R0, 1).exit() },
  { name: 'helper key on an uninitialised stack slot (root)', build: (m) => program().mov(R6, R1).ldMapFd(R2, m.sockarray).mov(R1, R6).mov(R3, R10).add(R3, -4).mov(R4, 0).call('sk_select_reuseport').mov(R0, 1).exit() },
  { name: 'ld_imm64 with a closed map fd', build: (m) => program().ldMapFd(R1, m.closed).mov(R0, 1).exit() },
  { name: 'GPL-only helper from a non-GPL program', want: 'EINVAL', license: 'Proprietary', build: () => program().mov(R1, R10).add(R1, -8).mov(R2, 8).mov(R3, 0).call('probe_read_kernel').mov(R0, 1).exit() },
  { name: 'sk_select_reuseport from a non-GPL program', want: 'ok', license: 'Proprietary', build: (m) => selectWith(m.sockarray) },
  // control flow
  { name: 'jump out of the program', want: 'EINVAL', build: () => program().mov(R0, 1).ja(5).exit() },
  { name: 'unreachable instruction', want: 'EINVAL', build: () => program().mov(R0, 1).exit().mov(R0, 0).exit() },
  { name: 'infinite loop', build: () => program().mov(R0, 1).label('l').ja('l').exit() },
  { name: 'bounded loop (root)', build: () => program().mov(R0, 0).label('l').add(R0, 1).jlt(R0, 10, 'l').mov(R0, 1).exit() },
  { name: 'division by an immediate 0', want: 'EINVAL', build: () => program().mov(R0, 1).div(R0, 0).exit() },
  { name: 'division by a register that may be 0', want: 'ok', build: () => program().ldx('w', R2, R1, MD.len).mov(R0, 1).div(R0, R2).mov(R0, 1).exit() },
  { name: 'empty program', want: 'EINVAL', build: () => program() },
];

function selectWith(map: number): Program {
  return program().mov(R6, R1).st('w', R10, -4, 0).mov(R1, R6).ldMapFd(R2, map).mov(R3, R10).add(R3, -4).mov(R4, 0).call('sk_select_reuseport').mov(R0, 1).exit();
}

scenarios.push({
  name: 'verifier checks on reuseport programs',
  run(c) {
    const { k } = c;
    const m: Maps = {
      sockarray: c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 4 })),
      array: c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 })),
      hash: c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 4 })),
      outer: -1, closed: -1,
    };
    m.outer = c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMapFd: m.sockarray }));
    m.closed = k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
    k.close(m.closed);
    const wrong: string[] = [];
    for (const check of CHECKS) {
      let insns: Uint8Array;
      try { insns = check.build(m).link(); } catch (e) { c.note(`${check.name}: builder refused (${(e as Error).message})`); continue; }
      const got = c.attempt(() => c.own(k.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns, license: check.license ?? 'GPL' })));
      c.note(`${check.name}: ${got}`);
      if (check.want && got !== check.want) wrong.push(`${check.name}: want ${check.want}, got ${got}`);
    }
    assert.deepEqual(wrong, [], 'verifier answers that §2.8/§4 state');
  },
});

await scenarioTable(TABLE, scenarios, { known: KNOWN_DIFFERENCES });
