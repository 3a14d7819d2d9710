/** RFC 9669 conformance groups of instructions, per the RFC appendix table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleInsns, groupsOf } from '../../src/ebpf/index.js';

const groups = (src: string): string[] => groupsOf(assembleInsns(src));

test('each instruction family lands in its group', () => {
  assert.deepEqual(groups('mov32 %r0, 1\nadd32 %r0, %r1\nja +0\njeq32 %r0, 1, +0\nexit'), ['base32']);
  assert.deepEqual(groups('mov %r0, 1\nexit'), ['base64', 'base32']);
  assert.deepEqual(groups('jeq %r0, 1, +0\nexit'), ['base64', 'base32']);
  assert.deepEqual(groups('lddw %r0, 1\nldxdw %r0, [%r1]\nbe64 %r0\nexit'), ['base64', 'base32']);
  assert.deepEqual(groups('be16 %r0\nldxw %r0, [%r1]\nstxb [%r10-1], %r0\nexit'), ['base32']);
  assert.deepEqual(groups('mul32 %r0, 3\ndiv32 %r0, %r1\nsmod32 %r0, 2\nexit'), ['divmul32', 'base32']);
  assert.deepEqual(groups('sdiv %r0, 3\nexit'), ['divmul64', 'base32']);
  assert.deepEqual(groups('lock add32 [%r10-4], %r1\nexit'), ['atomic32', 'base32']);
  assert.deepEqual(groups('lock cmpxchg [%r10-8], %r1\nexit'), ['atomic64', 'base32']);
  assert.deepEqual(groups('call %r2\nexit'), ['callx', 'base32']);
  assert.deepEqual(groups('ldabsh 12\nldindb %r1, 0\nexit'), ['packet', 'base32']);
  assert.deepEqual(groups('call 5\ncall local f\nf: exit'), ['base32']);
});
