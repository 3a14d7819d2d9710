/** ARRAY, PERCPU_ARRAY, HASH, LRU_HASH, map-in-map, SOCKMAP/SOCKHASH, pins, ids, info, caps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AF_INET, BPF_EXIST, BPF_F_NO_PREALLOC, BPF_F_RDONLY, BPF_F_ZERO_SEED, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS,
  BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_SOCKHASH,
  BPF_MAP_TYPE_SOCKMAP, BPF_NOEXIST, SOCK_DGRAM, SOCK_STREAM, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_MAP_TYPE_QUEUE,
} from '../../src/kernel/index.js';
import { SimKernel, group, readU32, readU64, sockarray, throwsErrno, u32, u64 } from './helpers.js';

test('ARRAY: lookup ENOENT out of range, update E2BIG / EEXIST with NOEXIST, delete EINVAL', () => {
  const sim = new SimKernel();
  const m = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2 });
  assert.deepEqual([...sim.mapLookupElem(m, u32(1))], [0, 0, 0, 0]);
  sim.mapUpdateElem(m, u32(1), u32(7));
  assert.equal(readU32(sim.mapLookupElem(m, u32(1))), 7);
  throwsErrno(() => sim.mapLookupElem(m, u32(2)), 'ENOENT');
  throwsErrno(() => sim.mapUpdateElem(m, u32(2), u32(1)), 'E2BIG');
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u32(1), BPF_NOEXIST), 'EEXIST');
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u32(1), 3), 'EINVAL');
  throwsErrno(() => sim.mapDeleteElem(m, u32(0)), 'EINVAL');
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), new Uint8Array(2)), 'EFAULT');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 8, valueSize: 4, maxEntries: 2 }), 'EINVAL');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2, mapFlags: BPF_F_NO_PREALLOC }), 'EINVAL');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_QUEUE, keySize: 0, valueSize: 4, maxEntries: 2 }), 'EINVAL');
});

test('PERCPU_ARRAY: one value per CPU, round_up(value_size, 8) apart', () => {
  const sim = new SimKernel({ cpus: 3 });
  const m = sim.mapCreate({ mapType: BPF_MAP_TYPE_PERCPU_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
  const v = new Uint8Array(24);
  v[0] = 1; v[8] = 2; v[16] = 3;
  sim.mapUpdateElem(m, u32(0), v);
  assert.deepEqual([...sim.mapLookupElem(m, u32(0))], [...v]);
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), new Uint8Array(8)), 'EFAULT');
});

test('HASH: EEXIST/ENOENT flags, E2BIG when full, ENOENT on missing delete, key iteration', () => {
  const sim = new SimKernel();
  const m = sim.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 8, valueSize: 4, maxEntries: 2 });
  throwsErrno(() => sim.mapGetNextKey(m, null), 'ENOENT');
  sim.mapUpdateElem(m, u64(1), u32(10));
  throwsErrno(() => sim.mapUpdateElem(m, u64(1), u32(11), BPF_NOEXIST), 'EEXIST');
  throwsErrno(() => sim.mapUpdateElem(m, u64(2), u32(11), BPF_EXIST), 'ENOENT');
  sim.mapUpdateElem(m, u64(2), u32(20));
  throwsErrno(() => sim.mapUpdateElem(m, u64(3), u32(30)), 'E2BIG');
  sim.mapUpdateElem(m, u64(2), u32(21), BPF_EXIST);
  assert.equal(readU32(sim.mapLookupElem(m, u64(2))), 21);
  const first = sim.mapGetNextKey(m, null);
  const second = sim.mapGetNextKey(m, first);
  assert.deepEqual(new Set([readU64(first), readU64(second)]), new Set([1n, 2n]));
  throwsErrno(() => sim.mapGetNextKey(m, second), 'ENOENT');
  assert.deepEqual([...sim.mapGetNextKey(m, u64(99))], [...first], 'unknown key restarts at the first');
  sim.mapDeleteElem(m, u64(1));
  throwsErrno(() => sim.mapDeleteElem(m, u64(1)), 'ENOENT');
  throwsErrno(() => sim.mapLookupElem(m, u64(1)), 'ENOENT');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 0, valueSize: 4, maxEntries: 2 }), 'EINVAL');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 513, valueSize: 4, maxEntries: 2 }), 'E2BIG');
});

test('LRU_HASH: evicts the least recently used instead of E2BIG; NO_PREALLOC is ENOTSUPP; needs CAP_BPF', () => {
  const sim = new SimKernel();
  const m = sim.mapCreate({ mapType: BPF_MAP_TYPE_LRU_HASH, keySize: 4, valueSize: 4, maxEntries: 2 });
  sim.mapUpdateElem(m, u32(1), u32(1));
  sim.mapUpdateElem(m, u32(2), u32(2));
  sim.mapUpdateElem(m, u32(3), u32(3));
  throwsErrno(() => sim.mapLookupElem(m, u32(1)), 'ENOENT');
  assert.equal(readU32(sim.mapLookupElem(m, u32(3))), 3);
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_LRU_HASH, keySize: 4, valueSize: 4, maxEntries: 2, mapFlags: BPF_F_NO_PREALLOC }), 'ENOTSUPP');
  const user = new SimKernel({ capabilities: ['CAP_NET_ADMIN'] });
  user.sysctl('kernel.unprivileged_bpf_disabled');
  throwsErrno(() => user.mapCreate({ mapType: BPF_MAP_TYPE_LRU_HASH, keySize: 4, valueSize: 4, maxEntries: 2 }), 'EPERM');
  const noSysAdmin = new SimKernel({ capabilities: ['CAP_BPF'] });
  throwsErrno(() => noSysAdmin.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: 2, mapFlags: BPF_F_ZERO_SEED }), 'EPERM');
});

test('ARRAY_OF_MAPS / HASH_OF_MAPS: template match, fd in, id out', () => {
  const sim = new SimKernel();
  const inner = sockarray(sim, 32, 4);
  const outer = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMapFd: inner });
  sim.mapUpdateElem(outer, u32(0), u32(inner));
  assert.equal(readU32(sim.mapLookupElem(outer, u32(0))), sim.mapGetInfo(inner).id);
  sim.mapUpdateElem(outer, u32(0), u32(sockarray(sim, 16, 4))); // max_entries only matters for array inner maps
  throwsErrno(() => sim.mapUpdateElem(outer, u32(0), u32(sockarray(sim, 32, 8))), 'EINVAL', /template/);
  const arr = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2 });
  const ofArrays = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMapFd: arr });
  throwsErrno(() => sim.mapUpdateElem(ofArrays, u32(0), u32(sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 3 }))), 'EINVAL');
  throwsErrno(() => sim.mapUpdateElem(outer, u32(0), u32(inner), BPF_NOEXIST), 'EINVAL');
  throwsErrno(() => sim.mapUpdateElem(outer, u32(1), u32(inner)), 'E2BIG');
  throwsErrno(() => sim.mapUpdateElem(outer, u32(0), u32(999)), 'EBADF');
  sim.mapDeleteElem(outer, u32(0));
  throwsErrno(() => sim.mapDeleteElem(outer, u32(0)), 'ENOENT');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 8, maxEntries: 1, innerMapFd: inner }), 'EINVAL');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMapFd: 999 }), 'EBADF');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMapFd: outer }), 'EINVAL');
  const h = sim.mapCreate({ mapType: BPF_MAP_TYPE_HASH_OF_MAPS, keySize: 8, valueSize: 4, maxEntries: 2, innerMapFd: inner });
  sim.mapUpdateElem(h, u64(5), u32(inner));
  assert.equal(readU32(sim.mapLookupElem(h, u64(5))), sim.mapGetInfo(inner).id);
});

test('SOCKMAP: any TCP listener/established or UDP socket, no group needed; EINVAL deletes', () => {
  const sim = new SimKernel();
  const m = sim.mapCreate({ mapType: BPF_MAP_TYPE_SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 2 });
  const tcp = sim.socket(AF_INET, SOCK_STREAM);
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u64(tcp)), 'EOPNOTSUPP');
  sim.bind(tcp, '127.0.0.1', 0);
  sim.listen(tcp, 1);
  sim.mapUpdateElem(m, u32(0), u64(tcp));
  sim.mapUpdateElem(m, u32(1), u64(tcp)); // same socket twice is fine
  const udp = sim.socket(AF_INET, SOCK_DGRAM);
  throwsErrno(() => sim.mapUpdateElem(m, u32(1), u64(udp)), 'EOPNOTSUPP', /bound/);
  sim.bind(udp, '127.0.0.1', 0);
  throwsErrno(() => sim.mapUpdateElem(m, u32(2), u64(udp)), 'E2BIG');
  throwsErrno(() => sim.mapUpdateElem(m, u32(1), u64(udp), BPF_NOEXIST), 'EEXIST');
  sim.mapUpdateElem(m, u32(1), u64(udp), BPF_EXIST);
  throwsErrno(() => sim.mapDeleteElem(m, u32(5)), 'EINVAL');
  sim.mapDeleteElem(m, u32(1));
  throwsErrno(() => sim.mapDeleteElem(m, u32(1)), 'EINVAL');
  throwsErrno(() => sim.mapLookupElem(m, u32(1)), 'ENOENT');
  assert.ok(readU64(sim.mapLookupElem(m, u32(0))) > 0n);
  // a socket in a sockarray has sk_user_data taken
  const sa = sockarray(sim, 1);
  const g = group(sim, 1);
  sim.mapUpdateElem(sa, u32(0), u64(g.fds[0]!));
  throwsErrno(() => sim.mapUpdateElem(m, u32(1), u64(g.fds[0]!)), 'EBUSY');
  sim.close(tcp);
  throwsErrno(() => sim.mapLookupElem(m, u32(0)), 'ENOENT', /no socket/);
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_SOCKMAP, keySize: 8, valueSize: 8, maxEntries: 2 }), 'EINVAL');
  throwsErrno(() => new SimKernel({ capabilities: ['CAP_BPF'] }).mapCreate({ mapType: BPF_MAP_TYPE_SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 2 }), 'EPERM');
});

test('SOCKHASH: arbitrary keys, E2BIG when full, ENOENT on missing delete, ENOSPC lookup with 4-byte values', () => {
  const sim = new SimKernel();
  const m = sim.mapCreate({ mapType: BPF_MAP_TYPE_SOCKHASH, keySize: 8, valueSize: 4, maxEntries: 1 });
  const g = group(sim, 2);
  sim.mapUpdateElem(m, u64(42), u32(g.fds[0]!));
  throwsErrno(() => sim.mapUpdateElem(m, u64(43), u32(g.fds[1]!)), 'E2BIG');
  throwsErrno(() => sim.mapLookupElem(m, u64(42)), 'ENOSPC');
  throwsErrno(() => sim.mapDeleteElem(m, u64(1)), 'ENOENT');
  sim.mapDeleteElem(m, u64(42));
});

test('bpffs pins, BPF_OBJ_GET file flags, get-by-id and info', () => {
  const sim = new SimKernel();
  const m = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'counters' });
  sim.objPin(m, '/sys/fs/bpf/counters');
  throwsErrno(() => sim.objPin(m, '/sys/fs/bpf/counters'), 'EEXIST');
  throwsErrno(() => sim.objPin(m, '/tmp/x'), 'EPERM');
  throwsErrno(() => sim.objGet('/sys/fs/bpf/missing'), 'ENOENT');
  const info = sim.mapGetInfo(m);
  sim.close(m);
  const ro = sim.objGet('/sys/fs/bpf/counters', BPF_F_RDONLY);
  assert.deepEqual(sim.mapGetInfo(ro), info);
  assert.equal(info.name, 'counters');
  throwsErrno(() => sim.mapUpdateElem(ro, u32(0), u32(1)), 'EPERM');
  const byId = sim.mapGetFdById(info.id);
  sim.mapUpdateElem(byId, u32(0), u32(5));
  assert.equal(readU32(sim.mapLookupElem(ro, u32(0))), 5);
  throwsErrno(() => sim.mapGetFdById(9999), 'ENOENT');
  throwsErrno(() => new SimKernel({ capabilities: ['CAP_BPF'] }).mapGetFdById(1), 'EPERM');
  throwsErrno(() => sim.mapGetInfo(12345), 'EBADFD');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'bad name!' }), 'EINVAL');
  throwsErrno(() => sim.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 0xffffffff }), 'ENOMEM');
});
