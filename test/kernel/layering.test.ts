/**
 * The architecture as a test: each layer imports only the layers below it (docs/design.md),
 * and koffi (the FFI) is imported by src/linux alone, so the syscall layer stays isolated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

const ALLOWED: Record<string, string[]> = {
  kernel: [],
  ebpf: ['kernel'],
  vm: ['kernel', 'ebpf'],
  sim: ['kernel', 'ebpf', 'vm'],
  linux: ['kernel'],
  bpf: ['kernel', 'ebpf'],
  policies: ['kernel', 'ebpf'],
  group: ['kernel', 'ebpf', 'vm', 'sim', 'linux', 'bpf', 'policies'],
  cli: ['kernel', 'ebpf', 'vm', 'sim', 'linux', 'bpf', 'policies', 'group'],
};

const srcDir = new URL('../../../src/', import.meta.url);

test('every src/ folder is a known layer', () => {
  const layers = readdirSync(srcDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  assert.deepEqual(layers.sort(), Object.keys(ALLOWED).sort());
});

for (const [layer, allowed] of Object.entries(ALLOWED)) {
  test(`src/${layer} imports only ${allowed.length ? allowed.join(', ') : 'itself'} (and node:, koffi in linux)`, () => {
    const dir = new URL(`${layer}/`, srcDir);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(new URL(f, dir), 'utf8');
      // static imports and re-exports (line-anchored, so import() inside strings is not counted)
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)) {
        const spec = m[1] ?? m[2];
        if (spec!.startsWith('./') || spec!.startsWith('node:')) continue;
        if (spec === 'koffi') {
          assert.equal(layer, 'linux', `src/${layer}/${f} imports koffi: only src/linux may`);
          continue;
        }
        const target = /^\.\.\/([a-z_]+)\//.exec(spec!);
        assert.ok(target, `src/${layer}/${f} imports '${spec}': not a layer path`);
        assert.ok(allowed.includes(target[1]!), `src/${layer}/${f} imports src/${target[1]}: not below ${layer}`);
      }
    }
  });
}
