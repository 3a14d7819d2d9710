/**
 * The object API on the real kernel: ReuseportSockArray over socket fds and Node objects,
 * BpfMap pin/fromPin/fromId/info, BpfProgram verifier errors and ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as C from '../../src/kernel/constants.js';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import { BpfMap, BpfProgram, ReuseportSockArray, VerifierError, probeFeatures, selectSlotProgram, u32, u64 } from '../../src/bpf/index.js';
import { createReuseportDgram } from '../../src/linux/index.js';
import { openFdCount, requireKernel } from '../support/netns.js';

const errno = (code: keyof typeof ERRNO) => (e: unknown) => e instanceof SysError && e.errno === ERRNO[code];

test('ReuseportSockArray: set/cookie/indices/entries/clear; EINVAL explains the missing precondition', (t) => {
  const k = requireKernel(t); if (!k) return;
  const sa = ReuseportSockArray.create(k, { maxEntries: 8, name: 'workers' });
  const fds: number[] = [];
  let port = 0;
  for (let i = 0; i < 3; i++) {
    const fd = k.socket(C.AF_INET, C.SOCK_STREAM);
    k.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
    k.bind(fd, '127.0.0.1', port);
    port = k.getsockname(fd).port;
    if (i < 2) k.listen(fd);
    fds.push(fd);
  }
  sa.set(5, fds[0]!);
  sa.set(2, fds[1]!, C.BPF_NOEXIST);
  const cookie = (fd: number) => new DataView(k.getsockopt(fd, C.SOL_SOCKET, C.SO_COOKIE, 8).buffer).getBigUint64(0, true);
  assert.equal(sa.cookie(5), cookie(fds[0]!));
  assert.equal(sa.cookie(0), undefined);
  assert.deepEqual(sa.indices(), [2, 5]);
  assert.deepEqual(sa.entries(), new Map([[2, cookie(fds[1]!)], [5, cookie(fds[0]!)]]));
  assert.throws(() => sa.set(9, fds[0]!), errno('E2BIG'));
  assert.throws(() => sa.set(1, fds[0]!), errno('EBUSY'));
  assert.throws(() => sa.set(1, fds[2]!), (e: unknown) => errno('EINVAL')(e) && /not listening/.test((e as Error).message));
  const plain = k.socket(C.AF_INET, C.SOCK_DGRAM);
  k.bind(plain, '127.0.0.1', 0);
  assert.throws(() => sa.set(1, plain), (e: unknown) => errno('EINVAL')(e) && /SO_REUSEPORT/.test((e as Error).message));
  const unbound = k.socket(C.AF_INET, C.SOCK_DGRAM);
  k.setsockopt(unbound, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
  assert.throws(() => sa.set(1, unbound), (e: unknown) => errno('EINVAL')(e) && /not bound/.test((e as Error).message));
  assert.equal(sa.clear(5), true);
  assert.equal(sa.clear(5), false);
  assert.throws(() => sa.clear(8), errno('E2BIG'));
  assert.equal(sa.info().name, 'workers');
  sa.close();
  [...fds, plain, unbound].forEach((fd) => k.close(fd));
});

test('ReuseportSockArray with 4-byte values takes a dgram.Socket; cookie() is ENOSPC', (t) => {
  const k = requireKernel(t); if (!k) return;
  const sa = ReuseportSockArray.create(k, { maxEntries: 2, valueSize: 4 });
  const sock = createReuseportDgram(k, { host: '127.0.0.1', port: 0 });
  sa.set(1, sock);
  assert.throws(() => sa.cookie(1), errno('ENOSPC'));
  sock.close();
  sa.close();
  assert.throws(() => ReuseportSockArray.create(k, { maxEntries: 0 }), errno('EINVAL'));
});

test('BpfMap pin / fromPin / fromId share one kernel map; ReuseportSockArray.fromPin checks the type', (t) => {
  const k = requireKernel(t); if (!k) return;
  const m = BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, name: 'shared' }, { key: u32, value: u64 });
  m.update(3, 33n);
  const byId = BpfMap.fromId(k, m.info().id, { key: u32, value: u64 });
  assert.equal(byId.lookup(3), 33n);
  assert.deepEqual({ keySize: byId.keySize, valueSize: byId.valueSize, maxEntries: byId.maxEntries, name: byId.name }, { keySize: 4, valueSize: 8, maxEntries: 4, name: 'shared' });
  const dir = mkdtempSync(join(tmpdir(), 'bpffs-'));
  execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
  try {
    m.pin(`${dir}/m`);
    const pinned = BpfMap.fromPin(k, `${dir}/m`, { key: u32, value: u64 });
    pinned.update(0, 1n);
    assert.deepEqual([...m.iterate()], [[0, 1n], [1, 0n], [2, 0n], [3, 33n]]);
    assert.throws(() => ReuseportSockArray.fromPin(k, `${dir}/m`), /not REUSEPORT_SOCKARRAY/);
    const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
    const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0), name: 'sel' });
    prog.pin(`${dir}/p`);
    sa.pin(`${dir}/sa`);
    const p2 = BpfProgram.fromPin(k, `${dir}/p`);
    assert.equal(p2.info().id, prog.info().id);
    assert.equal(BpfProgram.fromId(k, prog.info().id).name, 'sel');
    const sa2 = ReuseportSockArray.fromPin(k, `${dir}/sa`);
    assert.equal(sa2.maxEntries, 1);
    [p2, prog, sa, sa2, pinned].forEach((o) => o.close());
  } finally {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true });
  }
  byId.close(); m.close();
});

test('BpfProgram.load on the kernel: VerifierError with the full log; loader errnos pass through', (t) => {
  const k = requireKernel(t); if (!k) return;
  assert.throws(() => BpfProgram.load(k, { insns: new Uint8Array([0x95, 0, 0, 0, 0, 0, 0, 0]) }),
    (e: unknown) => e instanceof VerifierError && e.errno === ERRNO.EACCES && /R0 !read_ok/.test(e.log) && /R0 !read_ok/.test(e.message));
  // helper 82 on an ARRAY map: the verifier names the incompatibility
  const arr = BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(() => BpfProgram.load(k, { insns: selectSlotProgram(arr.fd, 0) }),
    (e: unknown) => e instanceof VerifierError && e.errno === ERRNO.EINVAL && /map_type 2/.test(e.log));
  arr.close();
  const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
  const migrate = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0), expectedAttachType: C.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE });
  assert.equal(migrate.info().type, C.BPF_PROG_TYPE_SK_REUSEPORT);
  migrate.close(); sa.close();
});

test('BpfMap.batchUpdate / batchLookup use one syscall per batch; sockarrays fall back to element ops', (t) => {
  const k = requireKernel(t); if (!k) return;
  const m = BpfMap.create(k, { type: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 1000 }, { key: u32, value: u64 });
  const entries = Array.from({ length: 600 }, (_, i) => [i * 7, BigInt(i)] as [number, bigint]);
  m.batchUpdate(entries);
  assert.equal(m.lookup(7 * 599), 599n);
  const all = m.batchLookup(64).sort((a, b) => a[0] - b[0]);
  assert.deepEqual(all, entries);
  assert.throws(() => m.batchUpdate([[1, 1n]], C.BPF_F_LOCK), errno('EINVAL'));
  m.close();
  const sa = ReuseportSockArray.create(k, { maxEntries: 3 });
  assert.deepEqual(sa.map.batchLookup(), [], 'no batch support: falls back to iterate() (all slots empty)');
  sa.close();
});

test('a map fd inherited by a child process (spawn stdio) is adopted with BpfMap.fromFd', (t) => {
  const k = requireKernel(t); if (!k) return;
  const m = BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, name: 'inherited' }, { key: u32, value: u64 });
  m.update(1, 4242n);
  const child = `
    import { LinuxKernel } from ${JSON.stringify(new URL('../../src/linux/index.js', import.meta.url).href)};
    import { BpfMap, u32, u64 } from ${JSON.stringify(new URL('../../src/bpf/index.js', import.meta.url).href)};
    const m = BpfMap.fromFd(new LinuxKernel(), 3, { key: u32, value: u64 });
    m.update(0, m.lookup(1) + 1n);
    console.log(m.name, String(m.lookup(0)));
    m.close();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'pipe', m.fd], encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'inherited 4243');
  assert.equal(m.lookup(0), 4243n, 'the child wrote into the same kernel map');
  m.close();
});

test('probeFeatures: 6.18 supports every reuseport feature; probes leave no fd behind', (t) => {
  const k = requireKernel(t); if (!k) return;
  const before = openFdCount();
  const f = probeFeatures(k);
  assert.deepEqual(Object.fromEntries(Object.entries(f).map(([name, v]) => [name, v.ok])),
    { sockarray: true, sockmapSelect: true, detach: true, migrate: true, stats: true, batch: true }, JSON.stringify(f));
  assert.equal(openFdCount(), before);
});
