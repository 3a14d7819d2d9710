/**
 * LinuxKernel.sysctl never reconfigures the host's network stack: in the namespace the test
 * runner started in (this file never unshares), net.* writes are refused
 * before anything is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import { LinuxKernel, inPrivateNetns } from '../../src/linux/index.js';
import { REQUIRE_KERNEL } from '../support/netns.js';

test('net.* writes are refused (EPERM) outside a private network namespace; reads work', (t) => {
  const probe = LinuxKernel.probe();
  if (!probe.ok) {
    if (REQUIRE_KERNEL) assert.fail(probe.reason);
    t.skip(probe.reason);
    return;
  }
  assert.equal(inPrivateNetns(), false, `precondition: the runner shares its network namespace (${readlinkSync('/proc/self/ns/net')}) with pid 1`);
  const k = new LinuxKernel();
  const current = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();
  assert.equal(k.sysctl('net.ipv4.tcp_migrate_req'), current);
  assert.throws(() => k.sysctl('net.ipv4.tcp_migrate_req', current),
    (e: unknown) => e instanceof SysError && e.errno === ERRNO.EPERM && /private network namespace/.test(e.message));
});
