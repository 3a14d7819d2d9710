/**
 * The object API runs over any Kernel: src/bpf may import only the kernel contract, the eBPF
 * codec and itself — never koffi or src/linux (the simulator's tests use it without FFI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

test('src/bpf imports only ../kernel, ../ebpf, ./ and node: modules', () => {
  const dir = new URL('../../../src/bpf/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 8);
  for (const f of files) {
    const src = readFileSync(new URL(f, dir), 'utf8');
    for (const [, spec] of src.matchAll(/from '([^']+)'/g)) {
      assert.match(spec!, /^(\.\/|\.\.\/kernel\/|\.\.\/ebpf\/|node:)/, `${f} imports ${spec}`);
    }
  }
});
