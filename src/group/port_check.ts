/**
 * Before workers join with SO_REUSEPORT, make sure nothing else serves the port: a foreign
 * SO_REUSEPORT listener of the same user would otherwise silently share our traffic.
 * TCP: a connect probe (a test bind would also trip over our own last run's TIME_WAIT
 * sockets, which the kernel counts against a bind); UDP: a plain bind (no TIME_WAIT there).
 * Anything else in the way (a non-reuseport socket) makes the workers' own bind fail with
 * EADDRINUSE, which is reported the same way.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { GroupError } from './errors.js';
import type { Proto } from './protocol.js';

export function portInUseError(proto: Proto, host: string, port: number, detail: string): GroupError {
  return new GroupError('EADDRINUSE', `${proto.toUpperCase()} port ${port} on ${host} is already in use (${detail})`, {
    hint: `stop the process holding it (find it with: ss -${proto === 'tcp' ? 'lt' : 'u'}np 'sport = :${port}') or choose another --port`,
  });
}

export function checkPortFree(proto: Proto, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE') reject(portInUseError(proto, host, port, err.code));
      else if (err.code === 'EACCES') {
        reject(new GroupError('EPRIVILEGE', `binding port ${port} needs privileges (${err.code})`, {
          hint: 'use a port >= 1024, or run with CAP_NET_BIND_SERVICE',
        }));
      } else reject(new GroupError('EINVALIDOPTION', `cannot bind ${host} port ${port}: ${err.message}`, { hint: 'check --host' }));
    };
    if (proto === 'tcp') {
      const wildcard = host === '::' || host === '0.0.0.0' || host === '';
      const targets = !wildcard ? [host] : host === '0.0.0.0' ? ['127.0.0.1'] : ['::1', '127.0.0.1'];
      anyListener(targets, port).then((inUse) => {
        if (inUse) reject(portInUseError(proto, host, port, 'something accepts connections on it'));
        else resolve();
      });
    } else {
      const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      s.once('error', (e) => { s.close(); fail(e); });
      s.bind({ address: host, port, exclusive: true }, () => s.close(() => resolve()));
    }
  });
}

/** Does any of `hosts` accept a TCP connection on `port`? */
export async function anyListener(hosts: readonly string[], port: number): Promise<boolean> {
  for (const host of hosts) {
    const accepted = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host, port });
      c.setTimeout(1000);
      const done = (v: boolean): void => {
        c.destroy();
        resolve(v);
      };
      c.once('connect', () => done(true));
      c.once('timeout', () => done(false));
      c.once('error', () => done(false));
    });
    if (accepted) return true;
  }
  return false;
}
