import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SysError, ERRNO, errnoName } from '../../src/kernel/index.js';

test('SysError carries errno, code and syscall', () => {
  const e = new SysError('bpf(BPF_MAP_UPDATE_ELEM)', ERRNO.ENOTSUPP);
  assert.equal(e.errno, 524);
  assert.equal(e.code, 'ENOTSUPP');
  assert.equal(e.syscall, 'bpf(BPF_MAP_UPDATE_ELEM)');
  assert.match(e.message, /ENOTSUPP \(524\)/);
});

test('errnoName prefers EOPNOTSUPP for 95 and falls back for unknown values', () => {
  assert.equal(errnoName(95), 'EOPNOTSUPP');
  assert.equal(errnoName(9999), 'E9999');
});
