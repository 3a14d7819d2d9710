/** --user: resolve a user name or uid to the uid/gid the workers run as. */
import { readFileSync } from 'node:fs';
import { GroupError } from './errors.js';

export function resolveUser(user: string | number): { uid: number; gid: number } {
  if (process.platform === 'win32') throw new GroupError('EINVALIDOPTION', '--user is not supported on Windows');
  let passwd = '';
  try { passwd = readFileSync('/etc/passwd', 'utf8'); } catch { /* none */ }
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === undefined || uid === undefined || gid === undefined) continue;
    if (name === String(user) || (typeof user === 'number' && Number(uid) === user) || (/^\d+$/.test(String(user)) && uid === String(user))) {
      return { uid: Number(uid), gid: Number(gid) };
    }
  }
  if (typeof user === 'number' || /^\d+$/.test(user)) return { uid: Number(user), gid: Number(user) };
  throw new GroupError('EINVALIDOPTION', `unknown user '${user}'`, { hint: 'give a user name from /etc/passwd or a numeric uid' });
}

export function canSwitchUser(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
