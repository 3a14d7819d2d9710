/**
 * The object API over an arbitrary Kernel (an in-memory fake): codecs, BpfMap semantics,
 * VerifierError, attach via setsockopt, stats arithmetic, fd ownership. No privileges needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from '../../src/kernel/constants.js';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import { decode } from '../../src/ebpf/insn.js';
import {
  BpfMap, BpfProgram, VerifierError, attachReuseportProgram, bytes, detachReuseportProgram, fdOf, i32, probeFeatures, programStats,
  selectSlotProgram, u32, u64, withStats,
} from '../../src/bpf/index.js';
import { FakeKernel } from './fake_kernel.js';

test('codecs: u32/i32/u64/bytes round-trip and reject bad values with typed errors', () => {
  const out = new Uint8Array(8);
  u32.encodeInto(0xfffffffe, out); assert.equal(u32.decode(out), 0xfffffffe);
  i32.encodeInto(-5, out); assert.equal(i32.decode(out), -5);
  u64.encodeInto(0xfedcba9876543210n, out); assert.equal(u64.decode(out), 0xfedcba9876543210n);
  assert.throws(() => u32.encodeInto(-1, out), RangeError);
  assert.throws(() => u32.encodeInto(NaN, out), RangeError);
  assert.throws(() => u32.encodeInto('1' as never, out), TypeError);
  assert.throws(() => u64.encodeInto(1 as never, out), TypeError);
  assert.throws(() => u64.encodeInto(1n << 64n, out), RangeError);
  assert.throws(() => bytes(4).encodeInto(new Uint8Array(3), out), RangeError);
});

test('BpfMap over any Kernel: typed lookup/update/delete/nextKey/keys/iterate, flags, close', () => {
  const k = new FakeKernel();
  const m = BpfMap.create(k, { type: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 3, name: 'counts' }, { key: u32, value: u64 });
  assert.equal(m.lookup(1), undefined);
  m.update(1, 10n);
  m.update(2, 20n, C.BPF_NOEXIST);
  assert.throws(() => m.update(2, 21n, C.BPF_NOEXIST), (e: unknown) => e instanceof SysError && e.errno === ERRNO.EEXIST);
  assert.equal(m.lookup(2), 20n);
  assert.equal(m.nextKey(null), 1);
  assert.equal(m.nextKey(1), 2);
  assert.equal(m.nextKey(2), undefined);
  assert.deepEqual([...m.keys()], [1, 2]);
  assert.deepEqual([...m.iterate()], [[1, 10n], [2, 20n]]);
  assert.deepEqual([...m], [[1, 10n], [2, 20n]]);
  assert.equal(m.delete(1), true);
  assert.equal(m.delete(1), false);
  assert.equal(m.info().name, 'counts');
  const fd = m.fd;
  m.close(); m.close();
  assert.deepEqual(k.calls, [`close ${fd}`], 'closed exactly once');
  assert.equal(m.closed, true);
  assert.throws(() => m.lookup(2), /used after close/);
});

test('BpfMap: spec and codec validation name the bad field; failed creates close temporaries', () => {
  const k = new FakeKernel();
  assert.throws(() => BpfMap.create(k, { type: 1, keySize: -1, valueSize: 4, maxEntries: 1 }), /MapSpec.keySize/);
  assert.throws(() => BpfMap.create(k, { type: 1, keySize: 4, valueSize: 4, maxEntries: 1.5 }), /MapSpec.maxEntries/);
  assert.throws(() => BpfMap.create(k, { type: 1, keySize: 4, valueSize: 4, maxEntries: 1 }, { value: u64 }), /value codec is 8 bytes/);
  assert.equal(k.maps.size, 0, 'the map made before the codec check was closed');
  assert.throws(() => BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 0, innerMap: { type: 2, keySize: 4, valueSize: 4, maxEntries: 1 } }),
    (e: unknown) => e instanceof SysError && e.errno === ERRNO.EINVAL);
  assert.equal(k.maps.size, 0, 'the inner template was closed');
  const outer = BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMap: { type: 2, keySize: 4, valueSize: 4, maxEntries: 1 } });
  assert.equal(k.maps.size, 1);
  outer.close();
  assert.throws(() => BpfMap.create(k, { type: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: 1, innerMap: { type: 2, keySize: 4, valueSize: 4, maxEntries: 1 } }), /only for ARRAY_OF_MAPS/);
  const byId = BpfMap.create(k, { type: 1, keySize: 4, valueSize: 4, maxEntries: 1 });
  const again = BpfMap.fromId(k, byId.info().id, { key: u32, value: u32 });
  again.update(7, 8);
  assert.deepEqual([...byId.keys()].map((b) => u32.decode(b)), [7]);
});

test('BpfProgram: VerifierError is a SysError carrying the whole log; stats from prog info', () => {
  const k = new FakeKernel();
  let err: unknown;
  try { BpfProgram.load(k, { insns: new Uint8Array([0x95, 0, 0, 0, 0, 0, 0, 0]) }); } catch (e) { err = e; }
  assert.ok(err instanceof VerifierError && err instanceof SysError);
  assert.equal(err.errno, ERRNO.EACCES);
  assert.equal(err.log, '0: (95) exit\nR0 !read_ok\n');
  assert.match(err.message, /verifier: R0 !read_ok/);
  const p = BpfProgram.load(k, { insns: selectSlotProgram(3, 0), name: 'sel' });
  assert.equal(k.progs.get(p.fd)!.attr.progType, C.BPF_PROG_TYPE_SK_REUSEPORT, 'SK_REUSEPORT by default');
  assert.equal(k.progs.get(p.fd)!.attr.license, 'GPL');
  assert.deepEqual(programStats(p), { runCnt: 4n, runTimeNs: 300n, avgNs: 75 });
  attachReuseportProgram(k, 5, p);
  detachReuseportProgram(k, 5);
  assert.deepEqual(k.calls, ['setsockopt', 'setsockopt']);
  assert.throws(() => attachReuseportProgram(k, 5, 'x' as never), TypeError);
  p.close();
  assert.throws(() => p.fd, /used after close/);
  assert.throws(() => BpfProgram.load(k, { insns: 'x' as never }), TypeError);
});

test('withStats closes its stats fd after sync and async work, and on throw', async () => {
  const k = new FakeKernel();
  assert.equal(withStats(k, () => 7), 7);
  assert.equal(await withStats(k, async () => 8), 8);
  assert.throws(() => withStats(k, () => { throw new Error('boom'); }), /boom/);
  assert.equal(k.progs.size, 0);
});

test('selectSlotProgram: 9 instruction slots, a map-fd ld_imm64, the helper call, SK_PASS', () => {
  const insns = decode(selectSlotProgram(42, 3));
  assert.equal(insns.length, 9);
  assert.deepEqual({ op: insns[0]!.opcode, imm: insns[0]!.imm, off: insns[0]!.off }, { op: 0x62, imm: 3, off: -4 });
  assert.deepEqual({ src: insns[1]!.src, imm64: insns[1]!.imm64 }, { src: 1, imm64: 42n });
  assert.deepEqual({ op: insns[6]!.opcode, imm: insns[6]!.imm }, { op: 0x85, imm: 82 });
  assert.equal(insns[7]!.imm, C.SK_PASS);
  assert.throws(() => selectSlotProgram(-1), RangeError);
});

test('fdOf accepts fds and rejects what is not a socket', () => {
  assert.equal(fdOf(7), 7);
  assert.throws(() => fdOf(-1), RangeError);
  assert.throws(() => fdOf(null as never), TypeError);
  assert.throws(() => fdOf({}), /no fd/);
});

test('batchUpdate / batchLookup fall back to element operations on a Kernel without batch methods', () => {
  const k = new FakeKernel();
  const m = BpfMap.create(k, { type: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: 8 }, { key: u32, value: u32 });
  m.batchUpdate([[1, 10], [2, 20]]);
  assert.deepEqual(m.batchLookup(), [[1, 10], [2, 20]]);
  assert.throws(() => m.batchUpdate('x' as never), TypeError);
  assert.throws(() => m.batchLookup(0), RangeError);
});

test('probeFeatures over a Kernel that lacks sockets and stats reports why, and closes what it made', () => {
  const k = new FakeKernel();
  const f = probeFeatures(k);
  assert.equal(f.sockarray.ok, true);
  assert.deepEqual(f.detach, { ok: false, why: 'socket: ENOSYS' });
  assert.equal(f.batch.ok, false);
  assert.match(f.batch.why, /no mapLookupBatch/);
  assert.equal(k.maps.size + k.progs.size, 0);
});
