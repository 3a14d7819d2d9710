/**
 * Before workers join with SO_REUSEPORT, make sure nothing else holds the port: a plain bind
 * (no SO_REUSEPORT) fails with EADDRINUSE if any socket does. Without this check a worker
 * would silently join a foreign SO_REUSEPORT group of the same user and share its traffic.
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
      const s = net.createServer();
      s.once('error', fail);
      s.listen({ host, port, exclusive: true }, () => s.close(() => resolve()));
    } else {
      const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      s.once('error', (e) => { s.close(); fail(e); });
      s.bind({ address: host, port, exclusive: true }, () => s.close(() => resolve()));
    }
  });
}
