/**
 * The test gate itself: without bpf() privileges requireKernel(t) skips with the reason, and
 * under REUSEPORT_REQUIRE_KERNEL=1 (CI) the same test fails instead of silently skipping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireKernel } from '../support/netns.js';

const netnsModule = new URL('../support/netns.js', import.meta.url).href;

function runGateAsNobody(requireKernelEnv: string | undefined): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gate-'));
  chmodSync(dir, 0o755);
  const file = join(dir, 'gate.test.mjs');
  writeFileSync(file, `
import { test } from 'node:test';
process.setgroups([]); process.setgid(65534); process.setuid(65534);
const { requireKernel } = await import(${JSON.stringify(netnsModule)});
test('needs the kernel', (t) => { const k = requireKernel(t); if (!k) return; });
`);
  const env = { ...process.env };
  delete env.REUSEPORT_REQUIRE_KERNEL;
  delete env.NODE_TEST_CONTEXT; // set by our own runner: the child must run its test itself
  if (requireKernelEnv !== undefined) env.REUSEPORT_REQUIRE_KERNEL = requireKernelEnv;
  const r = spawnSync(process.execPath, ['--test-reporter=tap', file], { encoding: 'utf8', env, timeout: 20000 });
  rmSync(dir, { recursive: true });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('requireKernel: skipped with the reason when unprivileged; failed when REUSEPORT_REQUIRE_KERNEL=1', (t) => {
  if (!requireKernel(t)) return; // the child drops root itself: the parent needs root to start it
  const skipped = runGateAsNobody(undefined);
  assert.equal(skipped.status, 0, skipped.out);
  assert.match(skipped.out, /# SKIP real kernel unavailable: bpf\(BPF_MAP_CREATE\) failed with EPERM/);
  const failed = runGateAsNobody('1');
  assert.notEqual(failed.status, 0, failed.out);
  assert.match(failed.out, /not ok 1 - needs the kernel/);
  assert.match(failed.out, /REUSEPORT_REQUIRE_KERNEL=1 forbids skipping/);
});
