/**
 * bpf(2) wrappers of LinuxKernel: map create/lookup/update/delete/get_next_key on plain maps,
 * program load with the verifier log, pin/get on bpffs, fd-by-id, info and run statistics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as C from '../../src/kernel/constants.js';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import { requireKernel } from '../support/netns.js';

const errno = (code: keyof typeof ERRNO) => (e: unknown) => e instanceof SysError && e.errno === ERRNO[code];
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: bigint) => new Uint8Array(new BigUint64Array([n]).buffer);
const readU64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);
const EXIT_PASS = new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]); // r0 = 1; exit
const EXIT_ONLY = new Uint8Array([0x95, 0, 0, 0, 0, 0, 0, 0]); // exit without writing r0

test('HASH map: update flags, lookup, delete, get_next_key walk, info', (t) => {
  const k = requireKernel(t); if (!k) return;
  const m = k.mapCreate({ mapType: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 4, name: 'h_test' });
  k.mapUpdateElem(m, u32(1), u64(10n), C.BPF_NOEXIST);
  assert.throws(() => k.mapUpdateElem(m, u32(1), u64(11n), C.BPF_NOEXIST), errno('EEXIST'));
  assert.throws(() => k.mapUpdateElem(m, u32(2), u64(11n), C.BPF_EXIST), errno('ENOENT'));
  k.mapUpdateElem(m, u32(1), u64(12n), C.BPF_EXIST);
  assert.equal(readU64(k.mapLookupElem(m, u32(1))), 12n);
  assert.throws(() => k.mapLookupElem(m, u32(9)), errno('ENOENT'));
  k.mapUpdateElem(m, u32(2), u64(20n));
  k.mapUpdateElem(m, u32(3), u64(30n));
  k.mapUpdateElem(m, u32(4), u64(40n));
  assert.throws(() => k.mapUpdateElem(m, u32(5), u64(50n)), errno('E2BIG'), 'a full hash map');
  const keys: number[] = [];
  let key: Uint8Array | null = null;
  for (;;) {
    try { key = k.mapGetNextKey(m, key); } catch (e) { assert.ok(errno('ENOENT')(e)); break; }
    keys.push(new DataView(key.buffer, key.byteOffset).getUint32(0, true));
  }
  assert.deepEqual(keys.sort(), [1, 2, 3, 4]);
  k.mapDeleteElem(m, u32(2));
  assert.throws(() => k.mapDeleteElem(m, u32(2)), errno('ENOENT'));
  const info = k.mapGetInfo(m);
  assert.deepEqual({ ...info, id: 0 }, { type: C.BPF_MAP_TYPE_HASH, id: 0, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: 'h_test' });
  assert.ok(info.id > 0);
  assert.throws(() => k.mapUpdateElem(m, u32(1), u64(1n), 3), errno('EINVAL'), 'unknown update flags');
  assert.throws(() => k.mapLookupElem(m, new Uint8Array(8)), RangeError, 'key of the wrong size is refused before the syscall');
  k.close(m);
  assert.throws(() => k.mapLookupElem(m, u32(1)), errno('EBADF'));
});

test('map create errnos: EINVAL for bad geometry and names; ARRAY_OF_MAPS with a sockarray template', (t) => {
  const k = requireKernel(t); if (!k) return;
  assert.throws(() => k.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 8, valueSize: 4, maxEntries: 1 }), errno('EINVAL'));
  assert.throws(() => k.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 0 }), errno('EINVAL'));
  assert.throws(() => k.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'bad-name!' }), errno('EINVAL'));
  assert.throws(() => k.mapCreate({ mapType: 9999, keySize: 4, valueSize: 4, maxEntries: 1 }), errno('EINVAL'));
  const inner = k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 4, maxEntries: 32 });
  const outer = k.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMapFd: inner });
  k.mapUpdateElem(outer, u32(0), u32(inner));
  assert.ok(k.mapGetInfo(outer).type === C.BPF_MAP_TYPE_ARRAY_OF_MAPS);
  k.close(outer); k.close(inner);
  // ARRAY: get_next_key(NULL) = 0, delete is EINVAL
  const arr = k.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2 });
  assert.deepEqual([...k.mapGetNextKey(arr, null)], [0, 0, 0, 0]);
  assert.throws(() => k.mapDeleteElem(arr, u32(0)), errno('EINVAL'));
  k.close(arr);
});

test('map ops on a non-map fd: EINVAL for a program fd, EBADF for a closed fd', (t) => {
  const k = requireKernel(t); if (!k) return;
  const p = k.progLoad({ progType: C.BPF_PROG_TYPE_SOCKET_FILTER, insns: EXIT_PASS });
  assert.throws(() => k.mapLookupElem(p, u32(0)), errno('EINVAL'));
  assert.throws(() => k.mapGetNextKey(p, null), errno('EINVAL'));
  k.close(p);
  assert.throws(() => k.mapUpdateElem(p, u32(0), u32(0)), errno('EBADF'));
});

test('prog load: R0 !read_ok is EACCES with the verifier log; log retries past ENOSPC; explicit small log gives ENOSPC', (t) => {
  const k = requireKernel(t); if (!k) return;
  let err: unknown;
  try { k.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: EXIT_ONLY }); } catch (e) { err = e; }
  assert.ok(err instanceof SysError);
  assert.equal(err.errno, ERRNO.EACCES);
  assert.equal(err.syscall, 'bpf(BPF_PROG_LOAD)');
  assert.match(err.log ?? '', /R0 !read_ok/);
  // A verbose log larger than a 64-byte buffer: the kernel answers ENOSPC with the truncated log.
  let small: unknown;
  try { k.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: EXIT_PASS, logLevel: 2, logSize: 64 }); } catch (e) { small = e; }
  assert.ok(small instanceof SysError && small.errno === ERRNO.ENOSPC);
  assert.ok((small.log ?? '').length > 0 && (small.log ?? '').length < 64);
  // a long failing program: its log exceeds the first 64 KiB buffer, and is still read in full
  const many = new Uint8Array(8 * 3000 + 8);
  for (let i = 0; i < 3000; i++) many.set([0xb7, 0x01, 0, 0, i & 0xff, 0, 0, 0], i * 8); // r1 = i
  many.set([0x95, 0, 0, 0, 0, 0, 0, 0], 3000 * 8);
  let big: unknown;
  try { k.progLoad({ progType: C.BPF_PROG_TYPE_SOCKET_FILTER, insns: many }); } catch (e) { big = e; }
  assert.ok(big instanceof SysError && big.errno === ERRNO.EACCES);
  assert.ok((big.log ?? '').length > 64 * 1024, `log of ${(big.log ?? '').length} bytes`);
  assert.match(big.log ?? '', /R0 !read_ok/);
});

test('prog load: expected_attach_type 0 becomes SELECT; a bad attach type is EINVAL; info reads name/type', (t) => {
  const k = requireKernel(t); if (!k) return;
  assert.throws(() => k.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: EXIT_PASS, expectedAttachType: 7 }), errno('EINVAL'));
  const p = k.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: EXIT_PASS, name: 'pass_all' });
  const m = k.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: EXIT_PASS, expectedAttachType: C.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE });
  const info = k.progGetInfo(p);
  assert.equal(info.type, C.BPF_PROG_TYPE_SK_REUSEPORT);
  assert.equal(info.name, 'pass_all');
  assert.equal(info.runCnt, 0n);
  const again = k.progGetFdById(info.id);
  assert.equal(k.progGetInfo(again).id, info.id);
  assert.throws(() => k.progGetFdById(0x7ffffff0), errno('ENOENT'));
  for (const fd of [again, m, p]) k.close(fd);
});

test('map by id, enable_stats, pin/get on a bpffs mount', (t) => {
  const k = requireKernel(t); if (!k) return;
  const m = k.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2 });
  k.mapUpdateElem(m, u32(1), u64(77n));
  const byId = k.mapGetFdById(k.mapGetInfo(m).id);
  assert.equal(readU64(k.mapLookupElem(byId, u32(1))), 77n);
  assert.throws(() => k.mapGetFdById(0x7ffffff0), errno('ENOENT'));
  const stats = k.enableStats(C.BPF_STATS_RUN_TIME);
  assert.ok(stats >= 0);
  k.close(stats);
  assert.throws(() => k.enableStats(99), errno('EINVAL'));
  const dir = mkdtempSync(join(tmpdir(), 'bpffs-'));
  execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
  try {
    k.objPin(m, `${dir}/m`);
    assert.throws(() => k.objPin(m, `${dir}/m`), errno('EEXIST'));
    assert.throws(() => k.objPin(m, '/tmp/not-bpffs-pin'), errno('EPERM'));
    const got = k.objGet(`${dir}/m`);
    assert.equal(readU64(k.mapLookupElem(got, u32(1))), 77n, 'the pinned map reads the same data through a new fd');
    assert.throws(() => k.objGet(`${dir}/none`), errno('ENOENT'));
    k.close(got);
  } finally {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true });
  }
  k.close(byId); k.close(m);
});

test('batch ops: UPDATE_BATCH then LOOKUP_BATCH pages through an ARRAY; a sockarray has none (ENOTSUPP)', (t) => {
  const k = requireKernel(t); if (!k) return;
  const m = k.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 10 });
  const keys = new Uint8Array(new Uint32Array([0, 3, 9]).buffer);
  const values = new Uint8Array(new BigUint64Array([100n, 103n, 109n]).buffer);
  k.mapUpdateBatch(m, keys, values, 3);
  assert.equal(readU64(k.mapLookupElem(m, u32(9))), 109n);
  const first = k.mapLookupBatch(m, null, 4);
  assert.equal(first.count, 4);
  assert.deepEqual([...new Uint32Array(first.keys.slice().buffer)], [0, 1, 2, 3]);
  assert.deepEqual([...new BigUint64Array(first.values.slice().buffer)], [100n, 0n, 0n, 103n]);
  assert.ok(first.nextBatch);
  const second = k.mapLookupBatch(m, first.nextBatch, 4);
  const third = k.mapLookupBatch(m, second.nextBatch, 4);
  assert.deepEqual([second.count, third.count, third.nextBatch], [4, 2, null], 'ENOENT ends the walk with the last elements');
  assert.throws(() => k.mapUpdateBatch(m, keys, values, 3, 99), errno('EINVAL'));
  const sa = k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 2 });
  assert.throws(() => k.mapLookupBatch(sa, null, 2), errno('ENOTSUPP'));
  k.close(sa); k.close(m);
});

test('prog load log modes: level 0 + logSize keeps the errno with a truncated log; level 1 without a size grows until it fits', (t) => {
  const k = requireKernel(t); if (!k) return;
  let e0: unknown;
  try { k.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: EXIT_ONLY, logSize: 16 }); } catch (e) { e0 = e; }
  assert.ok(e0 instanceof SysError && e0.errno === ERRNO.EACCES, 'the verifier errno, not the ENOSPC of the explaining load');
  assert.ok((e0.log ?? '').length > 0 && (e0.log ?? '').length < 16);
  let e1: unknown;
  try { k.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: EXIT_ONLY, logLevel: 2 }); } catch (e) { e1 = e; }
  assert.ok(e1 instanceof SysError && e1.errno === ERRNO.EACCES);
  assert.match(e1.log ?? '', /R0 !read_ok/);
  const ok = k.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: EXIT_PASS, logLevel: 1 });
  k.close(ok);
});
