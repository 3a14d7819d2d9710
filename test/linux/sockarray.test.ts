/**
 * REUSEPORT_SOCKARRAY on the real kernel: kernel-semantics.md §1–2 and the §6.1 table
 * (selftests/bpf/test_maps.c test_reuseport_array + prepare_reuseport_grp), step by step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync } from 'node:fs';
import * as C from '../../src/kernel/constants.js';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import type { LinuxKernel } from '../../src/linux/index.js';
import { requireKernel } from '../support/netns.js';

const errno = (code: keyof typeof ERRNO) => (e: unknown) => e instanceof SysError && e.errno === ERRNO[code];
const key = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const v64 = (n: number | bigint) => new Uint8Array(new BigUint64Array([BigInt.asUintN(64, BigInt(n))]).buffer);
const v32 = (n: number) => new Uint8Array(new Int32Array([n]).buffer);
const cookieOf = (k: LinuxKernel, fd: number) => new DataView(k.getsockopt(fd, C.SOL_SOCKET, C.SO_COOKIE, 8).buffer).getBigUint64(0, true);
const readU64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);

/** prepare_reuseport_grp: 2 SO_REUSEPORT sockets in one group, checking the EINVAL steps. */
function prepareGroup(k: LinuxKernel, type: number, map: number, value: (fd: number) => Uint8Array, n: number): { fds: number[]; cookies: bigint[] } {
  const fds: number[] = [], cookies: bigint[] = [];
  let port = 0;
  for (let i = 0; i < n; i++) {
    const fd = k.socket(C.AF_INET6, type);
    k.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
    assert.throws(() => k.mapUpdateElem(map, key(0), value(fd), C.BPF_ANY), errno('EINVAL'), 'P1: unbound socket');
    k.bind(fd, '::', port);
    port = k.getsockname(fd).port;
    cookies.push(cookieOf(k, fd));
    if (type === C.SOCK_STREAM) {
      assert.throws(() => k.mapUpdateElem(map, key(0), value(fd), C.BPF_ANY), errno('EINVAL'), 'P4: bound, not listening');
      k.listen(fd, 0);
    }
    fds.push(fd);
  }
  return { fds, cookies };
}

test('§6.1 test_reuseport_array: out-of-range and empty slots (steps 1–5)', (t) => {
  const k = requireKernel(t); if (!k) return;
  const A = k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
  assert.throws(() => k.mapDeleteElem(A, key(4)), errno('E2BIG'));
  assert.throws(() => k.mapUpdateElem(A, key(4), v64(-1), C.BPF_ANY), errno('E2BIG'), 'index checked before the fd');
  assert.throws(() => k.mapLookupElem(A, key(4)), errno('ENOENT'));
  assert.throws(() => k.mapLookupElem(A, key(3)), errno('ENOENT'));
  assert.throws(() => k.mapDeleteElem(A, key(3)), errno('ENOENT'));
  k.close(A);
});

for (const [name, type] of [['SOCK_STREAM', C.SOCK_STREAM], ['SOCK_DGRAM', C.SOCK_DGRAM]] as const) {
  test(`§6.1 test_reuseport_array ${name}: flags, replace, EBUSY, delete, lookup = SO_COOKIE, auto-removal on close (steps P1–16)`, (t) => {
    const k = requireKernel(t); if (!k) return;
    const A = k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
    const { fds, cookies } = prepareGroup(k, type, A, v64, 2);
    assert.throws(() => k.mapUpdateElem(A, key(3), v64(fds[0]!), C.BPF_EXIST), errno('ENOENT'), '6');
    k.mapUpdateElem(A, key(3), v64(fds[0]!), C.BPF_NOEXIST); // 7
    k.mapUpdateElem(A, key(3), v64(fds[1]!), C.BPF_EXIST); // 8: replaces, s0 released
    assert.equal(readU64(k.mapLookupElem(A, key(3))), cookies[1]);
    assert.throws(() => k.mapUpdateElem(A, key(3), v64(fds[0]!), C.BPF_NOEXIST), errno('EEXIST'), '9');
    k.mapUpdateElem(A, key(3), v64(fds[0]!), C.BPF_ANY); // 10
    assert.throws(() => k.mapUpdateElem(A, key(3), v64(fds[0]!), C.BPF_ANY), errno('EBUSY'), '11: same sk, same slot');
    assert.throws(() => k.mapUpdateElem(A, key(0), v64(fds[0]!), C.BPF_ANY), errno('EBUSY'), '12: same sk, other slot');
    k.mapDeleteElem(A, key(3)); // 13
    k.mapUpdateElem(A, key(3), v64(fds[0]!), C.BPF_NOEXIST); // 14
    assert.equal(readU64(k.mapLookupElem(A, key(3))), cookies[0], '15: lookup answers SO_COOKIE');
    k.close(fds[0]!); k.close(fds[1]!);
    assert.throws(() => k.mapLookupElem(A, key(3)), errno('ENOENT'), '16: closed sockets leave the map');
    k.close(A);
  });
}

test('§6.1 steps 17–21: SOCK_RAW is ENOTSUPP (524); 4-byte values update but lookup is ENOSPC', (t) => {
  const k = requireKernel(t); if (!k) return;
  const A = k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
  const raw = k.socket(C.AF_INET6, C.SOCK_RAW, C.IPPROTO_UDP);
  assert.throws(() => k.mapUpdateElem(A, key(3), v64(raw), C.BPF_NOEXIST), errno('ENOTSUPP'));
  k.close(raw);
  k.close(A);
  const B = k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 4, maxEntries: 4 });
  const { fds } = prepareGroup(k, C.SOCK_STREAM, B, v32, 1);
  k.mapUpdateElem(B, key(3), v32(fds[0]!), C.BPF_NOEXIST);
  assert.throws(() => k.mapLookupElem(B, key(3)), errno('ENOSPC'));
  assert.throws(() => k.mapLookupElem(B, key(9)), errno('ENOSPC'), 'ENOSPC even for an out-of-range index');
  assert.throws(() => k.mapUpdateElem(B, key(2), v32(-1), C.BPF_ANY), errno('EBADF'), 'negative fd in a 4-byte value');
  k.close(fds[0]!); k.close(B);
});

test('§1 create and §2 update errnos implied by the code', (t) => {
  const k = requireKernel(t); if (!k) return;
  const create = (over: Partial<Parameters<LinuxKernel['mapCreate']>[0]>) =>
    k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 4, ...over });
  assert.throws(() => create({ valueSize: 2 }), errno('EINVAL'));
  assert.throws(() => create({ keySize: 8 }), errno('EINVAL'));
  assert.throws(() => create({ maxEntries: 0 }), errno('EINVAL'));
  for (const f of [C.BPF_F_NO_PREALLOC, C.BPF_F_MMAPABLE, C.BPF_F_INNER_MAP, C.BPF_F_ZERO_SEED, C.BPF_F_RDONLY | C.BPF_F_WRONLY]) {
    assert.throws(() => create({ mapFlags: f }), errno('EINVAL'), `flags ${f}`);
  }
  const ro = create({ mapFlags: C.BPF_F_RDONLY });
  assert.throws(() => k.mapDeleteElem(ro, key(0)), errno('EPERM'), 'RDONLY fd cannot delete');
  k.close(ro);
  const wo = create({ mapFlags: C.BPF_F_WRONLY });
  assert.throws(() => k.mapLookupElem(wo, key(0)), errno('EPERM'), 'WRONLY fd cannot look up');
  k.close(wo);
  const A = create({});
  const udp = k.socket(C.AF_INET, C.SOCK_DGRAM);
  k.bind(udp, '127.0.0.1', 0);
  assert.throws(() => k.mapUpdateElem(A, key(0), v64(udp), 3), errno('EINVAL'), 'update flags 3');
  assert.throws(() => k.mapUpdateElem(A, key(0), v64(udp), 4), errno('EINVAL'), 'BPF_F_LOCK');
  assert.throws(() => k.mapUpdateElem(A, key(0), v64(0x80000000), C.BPF_ANY), errno('EINVAL'), 'u64 fd > S32_MAX');
  assert.throws(() => k.mapUpdateElem(A, key(0), v64(udp), C.BPF_ANY), errno('EINVAL'), 'bound UDP without SO_REUSEPORT');
  const file = openSync('/proc/self/stat', 'r');
  assert.throws(() => k.mapUpdateElem(A, key(0), v64(file), C.BPF_ANY), errno('ENOTSOCK'));
  closeSync(file);
  assert.throws(() => k.mapUpdateElem(A, key(0), v64(file), C.BPF_ANY), errno('EBADF'), 'closed fd');
  const unix = k.socket(C.AF_UNIX, C.SOCK_STREAM);
  assert.throws(() => k.mapUpdateElem(A, key(0), v64(unix), C.BPF_ANY), errno('ENOTSUPP'));
  // GET_NEXT_KEY ignores occupancy: NULL -> 0, 2 -> 3, 3 -> ENOENT, 99 -> 0
  assert.deepEqual([...k.mapGetNextKey(A, null)], [...key(0)]);
  assert.deepEqual([...k.mapGetNextKey(A, key(2))], [...key(3)]);
  assert.throws(() => k.mapGetNextKey(A, key(3)), errno('ENOENT'));
  assert.deepEqual([...k.mapGetNextKey(A, key(99))], [...key(0)]);
  for (const fd of [unix, udp, A]) k.close(fd);
});

test('a socket lives in one sockarray slot anywhere (EBUSY across maps); deleting it frees it for another map', (t) => {
  const k = requireKernel(t); if (!k) return;
  const A = k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 2 });
  const B = k.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 2 });
  const s = k.socket(C.AF_INET, C.SOCK_DGRAM);
  k.setsockopt(s, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
  k.bind(s, '127.0.0.1', 0);
  k.mapUpdateElem(A, key(0), v64(s));
  assert.throws(() => k.mapUpdateElem(B, key(1), v64(s)), errno('EBUSY'));
  // (closing A frees it too, but later: reuseport_array_free runs from a deferred work item)
  k.mapDeleteElem(A, key(0));
  k.mapUpdateElem(B, key(1), v64(s));
  k.close(A);
  assert.equal(readU64(k.mapLookupElem(B, key(1))), cookieOf(k, s));
  k.close(s); k.close(B);
});
