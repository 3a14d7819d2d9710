/**
 * Everything closes its fds: thousands of maps, sockarrays and programs created and closed
 * (including failed loads and failed creates) leave /proc/self/fd unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from '../../src/kernel/constants.js';
import { BpfMap, BpfProgram, ReuseportSockArray, VerifierError, selectSlotProgram, u32, withStats } from '../../src/bpf/index.js';
import { openFdCount, requireKernel } from '../support/netns.js';

test('2000 maps, 2000 programs, failed loads and creates: the fd count is stable', (t) => {
  const k = requireKernel(t); if (!k) return;
  // warm up lazily opened fds (libc, log buffers) before counting
  BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 }).close();
  const before = openFdCount();
  for (let i = 0; i < 2000; i++) {
    const sa = ReuseportSockArray.create(k, { maxEntries: 4 });
    const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0) });
    const m = BpfMap.create(k, { type: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: 8 }, { key: u32, value: u32 });
    m.update(i, i);
    prog.close(); sa.close(); m.close();
    m.close(); // idempotent
  }
  for (let i = 0; i < 200; i++) {
    assert.throws(() => BpfProgram.load(k, { insns: new Uint8Array([0x95, 0, 0, 0, 0, 0, 0, 0]) }), VerifierError);
    assert.throws(() => BpfMap.create(k, { type: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 3, maxEntries: 1 }));
    assert.throws(() => BpfMap.create(k, { type: C.BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMap: { type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 }, flags: C.BPF_F_MMAPABLE }));
    withStats(k, () => undefined);
  }
  assert.equal(openFdCount(), before);
});
