/**
 * sysctl through /proc/sys. Writes to net.* are refused outside a private network namespace:
 * a test must never reconfigure the host's network stack.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ERRNO, SysError } from '../kernel/errno.js';
import { inPrivateNetns } from './netns.js';

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function sysctlPath(name: string): string {
  if (typeof name !== 'string') throw new TypeError(`sysctl name must be a string, got ${typeof name}`);
  if (!NAME.test(name) || name.includes('..')) throw new TypeError(`invalid sysctl name "${name}"`);
  return `/proc/sys/${name.replaceAll('.', '/')}`;
}

const errnoOf = (e: unknown): number => Math.abs((e as NodeJS.ErrnoException).errno ?? ERRNO.EIO);

export function sysctl(name: string, value?: string): string {
  const path = sysctlPath(name);
  if (value !== undefined) {
    if (typeof value !== 'string') throw new TypeError(`sysctl value must be a string, got ${typeof value}`);
    if (name.startsWith('net.') && !inPrivateNetns()) {
      throw new SysError('sysctl', ERRNO.EPERM, `refusing to write ${name} outside a private network namespace`);
    }
    try { writeFileSync(path, value); } catch (e) { throw new SysError('sysctl', errnoOf(e), `write ${name}`); }
  }
  try { return readFileSync(path, 'utf8').trim(); } catch (e) { throw new SysError('sysctl', errnoOf(e), `read ${name}`); }
}
