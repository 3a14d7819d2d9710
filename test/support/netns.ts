/**
 * Kernel-backed tests: run inside a private network namespace, or skip with the reason.
 *
 * `requireKernel(t)` returns a LinuxKernel when bpf(2), root and namespaces are usable, after
 * moving this test process (once) into a fresh network namespace with lo up: unshare(CLONE_NEWNET)
 * on the main thread, where both the FFI and Node's own net/dgram modules create sockets.
 * Otherwise it skips the test naming the reason, or FAILS it when REUSEPORT_REQUIRE_KERNEL=1 (CI).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { LinuxKernel, unshareNetns } from '../../src/linux/index.js';

export const REQUIRE_KERNEL = process.env.REUSEPORT_REQUIRE_KERNEL === '1';

let state: { kernel?: LinuxKernel; reason?: string } | undefined;

/** Probe once per process: bpf(2) usable, and a private network namespace entered. */
export function kernelState(): { kernel?: LinuxKernel; reason?: string } {
  if (state) return state;
  const probe = LinuxKernel.probe();
  if (!probe.ok) return (state = { reason: probe.reason });
  try {
    unshareNetns();
  } catch (e) {
    return (state = { reason: `cannot enter a private network namespace (needs root/CAP_SYS_ADMIN and iproute2): ${(e as Error).message}` });
  }
  return (state = { kernel: new LinuxKernel({ connectTimeoutMs: 1000 }) });
}

/** The kernel, or undefined after skipping (failing under REUSEPORT_REQUIRE_KERNEL=1) `t`. */
export function requireKernel(t: TestContext): LinuxKernel | undefined {
  const s = kernelState();
  if (s.kernel) return s.kernel;
  const reason = `real kernel unavailable: ${s.reason}`;
  if (REQUIRE_KERNEL) assert.fail(`${reason} (REUSEPORT_REQUIRE_KERNEL=1 forbids skipping)`);
  t.skip(reason);
  return undefined;
}

/** A fresh private namespace for a test that needs a clean one (per-netns sysctls, fixed ports). */
export function freshNetns(): void {
  unshareNetns();
}

/** Number of open fds of this process. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

