/** REUSEPORT_SOCKARRAY beyond the test_maps.c table (that one lives in test/scenarios). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, AF_UNIX, BPF_ANY, BPF_EXIST, BPF_F_NO_PREALLOC, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY,
  BPF_F_WRONLY_PROG, BPF_F_MMAPABLE, BPF_F_INNER_MAP, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_NOEXIST, SOCK_DGRAM,
  SOCK_STREAM, SOL_SOCKET, SO_COOKIE, SO_REUSEPORT,
} from '../../src/kernel/index.js';
import { SimKernel, group, readU64, sockarray, throwsErrno, u32, u64 } from './helpers.js';

const create = (sim: SimKernel, a: Partial<{ keySize: number; valueSize: number; maxEntries: number; mapFlags: number }>): number =>
  sim.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 4, ...a });

test('map_create: value_size checked first, then array rules, then flags', () => {
  const sim = new SimKernel();
  throwsErrno(() => create(sim, { valueSize: 16, keySize: 8 }), 'EINVAL', /value_size 16/);
  throwsErrno(() => create(sim, { keySize: 8 }), 'EINVAL', /key_size/);
  throwsErrno(() => create(sim, { maxEntries: 0 }), 'EINVAL', /max_entries/);
  for (const f of [BPF_F_NO_PREALLOC, BPF_F_MMAPABLE, BPF_F_INNER_MAP, BPF_F_RDONLY | BPF_F_WRONLY, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG]) {
    throwsErrno(() => create(sim, { mapFlags: f }), 'EINVAL');
  }
  for (const f of [BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG]) sim.close(create(sim, { mapFlags: f }));
  sim.close(create(sim, { valueSize: 4 }));
});

test('map_create: EINVAL for bad parameters wins over EPERM without CAP_BPF', () => {
  const sim = new SimKernel({ capabilities: ['CAP_NET_ADMIN'] });
  throwsErrno(() => create(sim, { valueSize: 3 }), 'EINVAL');
  throwsErrno(() => create(sim, {}), 'EPERM');
});

test('update: flags, then index, then fd, then socket checks (order)', () => {
  const sim = new SimKernel();
  const m = sockarray(sim, 4);
  throwsErrno(() => sim.mapUpdateElem(m, u32(9), u64(-1n), 3), 'EINVAL');
  throwsErrno(() => sim.mapUpdateElem(m, u32(4), u64(-1n), BPF_ANY), 'E2BIG');
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u64(0x80000000n)), 'EINVAL', /out of range/);
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u64(999)), 'EBADF');
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u64(m)), 'ENOTSOCK');
  const unix = sim.socket(AF_UNIX, SOCK_STREAM);
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u64(unix)), 'ENOTSUPP');
  // flag checks come before the socket-type checks
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u64(unix), BPF_EXIST), 'ENOENT');
  const plain = sim.socket(AF_INET, SOCK_DGRAM);
  sim.bind(plain, '127.0.0.1', 0);
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u64(plain)), 'EINVAL', /SO_REUSEPORT/);
  const tcp = sim.socket(AF_INET6, SOCK_STREAM);
  sim.setsockopt(tcp, SOL_SOCKET, SO_REUSEPORT, 1);
  sim.bind(tcp, '::1', 0);
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), u64(tcp)), 'EINVAL', /listening/);
  sim.listen(tcp, 1);
  sim.mapUpdateElem(m, u32(0), u64(tcp));
});

test('value_size 4: negative fd is EBADF, lookup is ENOSPC even out of range', () => {
  const sim = new SimKernel();
  const m = sockarray(sim, 4, 4);
  const g = group(sim, 1);
  const neg = new Uint8Array(4).fill(0xff);
  throwsErrno(() => sim.mapUpdateElem(m, u32(0), neg), 'EBADF');
  sim.mapUpdateElem(m, u32(1), u32(g.fds[0]!), BPF_NOEXIST);
  throwsErrno(() => sim.mapLookupElem(m, u32(1)), 'ENOSPC');
  throwsErrno(() => sim.mapLookupElem(m, u32(100)), 'ENOSPC');
});

test('lookup returns the SO_COOKIE; get_next_key ignores occupancy', () => {
  const sim = new SimKernel();
  const m = sockarray(sim, 4);
  const g = group(sim, 2, { tcp: true });
  sim.mapUpdateElem(m, u32(2), u64(g.fds[1]!));
  assert.equal(readU64(sim.mapLookupElem(m, u32(2))), readU64(sim.getsockopt(g.fds[1]!, SOL_SOCKET, SO_COOKIE)));
  assert.deepEqual([...sim.mapGetNextKey(m, null)], [...u32(0)]);
  assert.deepEqual([...sim.mapGetNextKey(m, u32(2))], [...u32(3)]);
  throwsErrno(() => sim.mapGetNextKey(m, u32(3)), 'ENOENT');
  assert.deepEqual([...sim.mapGetNextKey(m, u32(99))], [...u32(0)]);
  throwsErrno(() => sim.mapDeleteElem(m, u32(4)), 'E2BIG');
  throwsErrno(() => sim.mapDeleteElem(m, u32(0)), 'ENOENT');
});

test('a socket sits in one slot of one sockarray: EBUSY, released by delete, replace or map close', () => {
  const sim = new SimKernel();
  const a = sockarray(sim, 4);
  const b = sockarray(sim, 4);
  const g = group(sim, 2);
  sim.mapUpdateElem(a, u32(0), u64(g.fds[0]!));
  throwsErrno(() => sim.mapUpdateElem(b, u32(0), u64(g.fds[0]!)), 'EBUSY');
  throwsErrno(() => sim.mapUpdateElem(a, u32(1), u64(g.fds[0]!)), 'EBUSY');
  sim.mapUpdateElem(a, u32(0), u64(g.fds[1]!)); // replace releases fds[0]
  sim.mapUpdateElem(b, u32(0), u64(g.fds[0]!));
  sim.close(b); // map_free clears sk_user_data
  sim.mapUpdateElem(a, u32(3), u64(g.fds[0]!));
});

test('access flags: RDONLY fd cannot update/delete, WRONLY fd cannot lookup/get_next_key', () => {
  const sim = new SimKernel();
  const g = group(sim, 1);
  const ro = create(sim, { mapFlags: BPF_F_RDONLY });
  throwsErrno(() => sim.mapUpdateElem(ro, u32(0), u64(g.fds[0]!)), 'EPERM');
  throwsErrno(() => sim.mapDeleteElem(ro, u32(0)), 'EPERM');
  throwsErrno(() => sim.mapLookupElem(ro, u32(0)), 'ENOENT');
  const wo = create(sim, { mapFlags: BPF_F_WRONLY });
  sim.mapUpdateElem(wo, u32(0), u64(g.fds[0]!));
  throwsErrno(() => sim.mapLookupElem(wo, u32(0)), 'EPERM');
  throwsErrno(() => sim.mapGetNextKey(wo, null), 'EPERM');
  assert.equal(sim.mapGetInfo(ro).mapFlags, 0, 'RDONLY is not a permanent map flag');
});

test('slots empty themselves when the socket leaves its group: close, TCP shutdown, UDP connect', () => {
  const sim = new SimKernel();
  const m = sockarray(sim, 4);
  const t = group(sim, 2, { tcp: true });
  const u = group(sim, 1);
  sim.mapUpdateElem(m, u32(0), u64(t.fds[0]!));
  sim.mapUpdateElem(m, u32(1), u64(t.fds[1]!));
  sim.mapUpdateElem(m, u32(2), u64(u.fds[0]!));
  sim.close(t.fds[0]!);
  throwsErrno(() => sim.mapLookupElem(m, u32(0)), 'ENOENT');
  sim.shutdown(t.fds[1]!, 0);
  throwsErrno(() => sim.mapLookupElem(m, u32(1)), 'ENOENT');
  sim.connect(u.fds[0]!, '127.0.0.1', 9);
  throwsErrno(() => sim.mapLookupElem(m, u32(2)), 'ENOENT');
});
