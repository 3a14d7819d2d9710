/**
 * Network namespaces. Tests and tools that write net.* sysctls or bind fixed ports do so in a
 * private namespace; LinuxKernel.sysctl refuses net.* writes anywhere else.
 */
import { readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { SysError } from '../kernel/errno.js';
import { libc } from './libc.js';

const CLONE_NEWNET = 0x40000000;
/** init_net's fixed inode (PROC_NET_INIT_INO, include/linux/proc_ns.h, 6.x): 0xEFFFFFF9. */
const INIT_NET_INODE = 'net:[4026531833]';

const netnsOf = (pid: string): string | undefined => {
  try { return readlinkSync(`/proc/${pid}/ns/net`); } catch { return undefined; }
};
/** The namespace this process started in: leaving it by unshare() makes the namespace private. */
const startNetns = netnsOf('self');

/**
 * Is this process in a network namespace of its own? Compared with pid 1's namespace; when
 * /proc/1/ns/net cannot be read (no ptrace access to pid 1), with init_net's fixed inode
 * and with the namespace the process started in.
 */
export function inPrivateNetns(): boolean {
  const self = netnsOf('self');
  if (!self) return false;
  const init = netnsOf('1');
  if (init !== undefined) return self !== init;
  return self !== INIT_NET_INODE || self !== startNetns;
}

/**
 * Move this process into a fresh network namespace (unshare(CLONE_NEWNET)) and bring up lo.
 * Called on the main thread: the namespace belongs to that thread, which is where Node's own
 * net/dgram modules create their sockets and from where child processes are spawned.
 */
export function unshareNetns(): void {
  const c = libc();
  if (c.unshare(CLONE_NEWNET) < 0) throw new SysError('unshare(CLONE_NEWNET)', c.errno());
  const r = spawnSync('ip', ['link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip link set lo up failed: ${r.error?.message ?? r.stderr}`);
}
