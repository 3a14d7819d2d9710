/**
 * BPF_F_MMAPABLE ARRAY maps mmap(2)ed through BpfMap.mmap(), on both kernels: stores through the
 * view are what lookups and programs read, updates show through the view, the errnos of mmap on
 * maps that cannot be mapped agree, and closing the map drops the mapping.
 */
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import * as C from '../../src/kernel/constants.js';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import type { Kernel } from '../../src/kernel/kernel.js';
import { BpfMap, BpfProgram, MmapArray, u64 } from '../../src/bpf/index.js';
import { program, R0, R1, R2, R10 } from '../../src/ebpf/index.js';
import { SimKernel } from '../../src/sim/index.js';
import { openFdCount, requireKernel } from '../support/netns.js';
import { MIN_TEST_RUN_DATA, progTestRun, requireTestRun } from '../support/prog_test_run.js';

/** Shared mappings of bpf maps in this process (/proc/self/maps names them anon_inode:bpf-map). */
const bpfMappings = () => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('anon_inode:bpf-map')).length;
const key = (i: number) => Uint8Array.of(i, 0, 0, 0);
/** Plain Uint8Array copies: LinuxKernel answers with Buffers. */
const plain = (b: Uint8Array) => Uint8Array.from(b);

/** SOCKET_FILTER: return *(u32 *)map_lookup_elem(map, &index), 0xdead when there is none. */
function readerProgram(k: Kernel, map: BpfMap<any, any>, index: number): BpfProgram {
  const insns = program()
    .stw(R10, -4, index)
    .ldMapFd(R1, 'vals')
    .mov(R2, R10).add(R2, -4)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'none')
    .ldxw(R0, R0, 0)
    .exit()
    .label('none')
    .mov(R0, 0xdead)
    .exit()
    .link({ maps: { vals: map.fd } });
  return BpfProgram.load(k, { type: C.BPF_PROG_TYPE_SOCKET_FILTER, insns, name: 'mmap_reader' });
}

/** Runs a SOCKET_FILTER program once and gives its return value. */
type Runner = (progFd: number) => number;

function simRunner(sim: SimKernel): Runner {
  const fd = sim.socket(C.AF_INET, C.SOCK_DGRAM);
  sim.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
  sim.bind(fd, '127.0.0.1', 0);
  return (progFd) => sim.testRun(progFd, { fd }).verdict;
}

const linuxRunner: Runner = (progFd) => progTestRun(progFd, { data: new Uint8Array(MIN_TEST_RUN_DATA), dataOutSize: 0 }).retval;

function sharedStorage(k: Kernel, run: Runner): void {
  // value_size 12: elements sit at round_up(12, 8) = 16-byte strides (array_map_mmap's layout).
  const m = BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 12, maxEntries: 3, flags: C.BPF_F_MMAPABLE, name: 'mm' });
  const prog = readerProgram(k, m, 1);
  try {
    const a = m.mmap();
    assert.ok(a instanceof MmapArray);
    assert.equal(m.mmap(), a, 'one mapping per map');
    assert.equal(a.length, 3);
    assert.equal(a.stride, 16);
    assert.ok(a.bytes.length >= 48);
    assert.equal(run(prog.fd), 0, 'array values start zeroed');

    a.setU32(1, 0xabcd1234);
    assert.deepEqual(plain(k.mapLookupElem(m.fd, key(1))), Uint8Array.of(0x34, 0x12, 0xcd, 0xab, 0, 0, 0, 0, 0, 0, 0, 0));
    assert.equal(run(prog.fd), 0xabcd1234, 'the program reads the store without a syscall in between');
    assert.equal(a.bytes[16], 0x34, 'element 1 at offset 16');

    a.setU64(2, 0x0102030405060708n);
    assert.deepEqual(plain(k.mapLookupElem(m.fd, key(2))).subarray(0, 8), Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1));

    k.mapUpdateElem(m.fd, key(1), Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 9, 10, 11, 12));
    assert.equal(a.getU32(1), 0x44332211);
    assert.equal(a.getU64(1), 0x8877665544332211n);
    assert.deepEqual(plain(a.get(1)), Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 9, 10, 11, 12));
    assert.equal(run(prog.fd), 0x44332211);

    a.set(0, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    assert.deepEqual(plain(k.mapLookupElem(m.fd, key(0))), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    assert.deepEqual(plain(m.lookup(key(0))!), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));

    // Bad input: typed errors, nothing written.
    assert.throws(() => a.getU32(3), /index 3 outside 0..2/);
    assert.throws(() => a.setU32(-1, 0), RangeError);
    assert.throws(() => a.setU32(0, 2 ** 32), RangeError);
    assert.throws(() => a.setU64(0, 1 as never), TypeError);
    assert.throws(() => a.set(0, new Uint8Array(3)), RangeError);
    assert.deepEqual(plain(k.mapLookupElem(m.fd, key(0))), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
  } finally {
    prog.close();
    m.close();
  }
}

function typedValues(k: Kernel): void {
  const m = BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, flags: C.BPF_F_MMAPABLE }, { value: u64 });
  const a = m.mmap();
  a.set(3, 0xfedcba9876543210n);
  assert.equal(m.lookup(key(3)), 0xfedcba9876543210n);
  m.update(key(2), 77n);
  assert.equal(a.get(2), 77n);
  assert.equal(a.getU64(2), 77n);
  m.close();
  assert.equal(a.closed, true);
  assert.throws(() => a.get(2), /used after its map was closed/);
  assert.throws(() => a.bytes, /used after its map was closed/);
}

function refusals(k: Kernel): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  const attempt = (what: string, spec: Parameters<typeof BpfMap.create>[1]) => {
    const m = BpfMap.create(k, spec);
    try {
      assert.throws(() => m.mmap(), (e: unknown) => { if (!(e instanceof SysError)) return false; out.push([what, e.errno]); return e.syscall === 'mmap'; });
      // The map stays usable after a refused mmap.
      assert.deepEqual(m.info().maxEntries, spec.maxEntries);
    } finally { m.close(); }
  };
  attempt('ARRAY without BPF_F_MMAPABLE', { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2 });
  attempt('HASH', { type: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 2 });
  attempt('PERCPU_ARRAY', { type: C.BPF_MAP_TYPE_PERCPU_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2 });
  attempt('BPF_F_RDONLY fd', { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, flags: C.BPF_F_MMAPABLE | C.BPF_F_RDONLY });
  const sock = k.socket(C.AF_INET, C.SOCK_DGRAM);
  try { k.mapMmap!(sock); } catch (e) { out.push(['socket fd', (e as SysError).errno]); } finally { k.close(sock); }
  return out;
}

const EXPECTED_REFUSALS: Array<[string, number]> = [
  ['ARRAY without BPF_F_MMAPABLE', ERRNO.EINVAL], // array_map_mmap()
  ['HASH', ERRNO.ENOTSUPP], // bpf_map_mmap(): no map_mmap op, 524 leaks to user space
  ['PERCPU_ARRAY', ERRNO.ENOTSUPP],
  ['BPF_F_RDONLY fd', ERRNO.EACCES], // do_mmap(): MAP_SHARED + PROT_WRITE on a read-only file
  ['socket fd', ERRNO.ENODEV], // sock_mmap()
];

test('sim: mmap view, lookups and programs share the ARRAY values', () => {
  const sim = new SimKernel({ seed: 5 });
  sharedStorage(sim, simRunner(sim));
  typedValues(sim);
});

test('sim: mmap of maps that cannot be mapped: EINVAL / ENOTSUPP / EACCES / ENODEV', () => {
  assert.deepEqual(refusals(new SimKernel({ seed: 6 })), EXPECTED_REFUSALS);
});

test('linux: mmap view, lookups and programs share the ARRAY values', (t) => {
  const k = requireTestRun(t); if (!k) return;
  sharedStorage(k, linuxRunner);
  typedValues(k);
});

test('linux: mmap refusals give the same errnos as the sim', (t) => {
  const k = requireKernel(t); if (!k) return;
  assert.deepEqual(refusals(k), EXPECTED_REFUSALS);
});

test('linux: closing the map drops the mapping; fds and stale views stay safe', (t) => {
  const k = requireKernel(t); if (!k) return;
  const before = openFdCount(), mappedBefore = bpfMappings();
  const views: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) {
    const m: BpfMap = BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1024, flags: C.BPF_F_MMAPABLE });
    const a = m.mmap();
    a.setU64(1023, BigInt(i + 1));
    assert.deepEqual(plain(k.mapLookupElem(m.fd, Uint8Array.of(0xff, 3, 0, 0))), Uint8Array.of(i + 1, 0, 0, 0, 0, 0, 0, 0));
    assert.equal(bpfMappings(), mappedBefore + 1, 'one shared mapping while open');
    const raw = a.bytes;
    views.push(raw);
    m.close();
  }
  assert.equal(openFdCount(), before, 'every map fd closed');
  assert.equal(bpfMappings(), mappedBefore, 'close() dropped every mapping (the kernel can free the maps)');
  // A view kept past close() reads the zero pages that replaced the mapping instead of faulting.
  for (const v of views) assert.equal(new DataView(v.buffer, v.byteOffset).getBigUint64(1023 * 8, true), 0n);
});
