/**
 * Socket-API worlds for the differential test: random sequences of socket(), setsockopt
 * (SO_REUSEPORT / SO_REUSEADDR / IPV6_V6ONLY), bind() to a small pool of addresses and fixed
 * ports, listen(), connect(), sendto(), recvfrom(), accept(), shutdown(), getsockname(),
 * getpeername() and close() over a few socket slots. The reuseport toolkit builds its groups from
 * exactly these calls, so their errnos and results must match Linux. Ephemeral port numbers are
 * normalised ("eph"); everything else is compared as is.
 */
import {
  AF_INET, AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, SHUT_RD, SHUT_RDWR, SHUT_WR, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET,
  SO_REUSEADDR, SO_REUSEPORT, type SockAddr,
} from '../../src/kernel/index.js';
import { Rng } from './scenario_diff.js';
import type { ScenarioCtx } from './scenario_runner.js';

const PORTS = [21001, 21002];
const ADDRS: Record<number, string[]> = {
  [AF_INET]: ['127.0.0.1', '0.0.0.0'],
  [AF_INET6]: ['::1', '::', '::ffff:127.0.0.1'],
};

export type SockOp =
  | { op: 'socket'; slot: number; family: number; type: number }
  | { op: 'opt'; slot: number; name: 'SO_REUSEPORT' | 'SO_REUSEADDR' | 'IPV6_V6ONLY'; value: number }
  | { op: 'bind'; slot: number; addr: number; port: number }
  | { op: 'listen'; slot: number }
  | { op: 'connect'; slot: number; addr: number; port: number }
  | { op: 'send'; slot: number; addr?: number; port?: number }
  | { op: 'recv'; slot: number }
  | { op: 'accept'; slot: number }
  | { op: 'shutdown'; slot: number; how: number }
  | { op: 'names'; slot: number }
  | { op: 'close'; slot: number };

export interface SocketWorld { seed: number; ops: SockOp[] }

const SLOTS = 4;

export function genSocketWorld(seed: number): SocketWorld {
  const rng = new Rng(seed);
  const ops: SockOp[] = [];
  for (let s = 0; s < SLOTS; s++) ops.push({ op: 'socket', slot: s, family: rng.pick([AF_INET, AF_INET6]), type: rng.pick([SOCK_STREAM, SOCK_DGRAM]) });
  const n = rng.int(12, 30);
  for (let i = 0; i < n; i++) {
    const slot = rng.int(0, SLOTS - 1);
    const port = rng.chance(0.25) ? 0 : rng.pick(PORTS);
    const addr = rng.int(0, 2);
    const x = rng.next();
    if (x < 0.18) ops.push({ op: 'opt', slot, name: rng.pick(['SO_REUSEPORT', 'SO_REUSEPORT', 'SO_REUSEADDR', 'IPV6_V6ONLY'] as const), value: rng.chance(0.8) ? 1 : 0 });
    else if (x < 0.38) ops.push({ op: 'bind', slot, addr, port });
    else if (x < 0.48) ops.push({ op: 'listen', slot });
    else if (x < 0.58) ops.push({ op: 'connect', slot, addr, port });
    else if (x < 0.68) ops.push(rng.chance(0.5) ? { op: 'send', slot, addr, port } : { op: 'send', slot });
    else if (x < 0.75) ops.push({ op: 'recv', slot });
    else if (x < 0.8) ops.push({ op: 'accept', slot });
    else if (x < 0.85) ops.push({ op: 'shutdown', slot, how: rng.pick([SHUT_RD, SHUT_WR, SHUT_RDWR]) });
    else if (x < 0.95) ops.push({ op: 'names', slot });
    else { ops.push({ op: 'close', slot }); ops.push({ op: 'socket', slot, family: rng.pick([AF_INET, AF_INET6]), type: rng.pick([SOCK_STREAM, SOCK_DGRAM]) }); }
  }
  return { seed, ops };
}

export const describeSocketWorld = (w: SocketWorld): string => `seed ${w.seed}: socket API, ${w.ops.length} ops`;

const showAddr = (a: SockAddr): string => `${a.address}:${a.port === 0 ? 0 : PORTS.includes(a.port) ? a.port : 'eph'}`;

export function runSocketWorld(c: ScenarioCtx, w: SocketWorld): void {
  const { k } = c;
  const fds: Array<{ fd: number; family: number } | undefined> = [];
  const addrOf = (family: number, i: number): string => { const a = ADDRS[family]!; return a[i % a.length]!; };
  w.ops.forEach((o, n) => {
    const tag = `#${n}`;
    const s = fds[o.slot];
    if (o.op === 'socket') {
      const fd = c.own(k.socket(o.family, o.type, 0));
      fds[o.slot] = { fd, family: o.family };
      c.note(`${tag} slot ${o.slot} = socket(${o.family === AF_INET6 ? 'inet6' : 'inet'}, ${o.type === SOCK_STREAM ? 'stream' : 'dgram'})`);
      return;
    }
    if (!s) return;
    const { fd, family } = s;
    switch (o.op) {
      case 'opt': {
        const [level, name] = o.name === 'SO_REUSEPORT' ? [SOL_SOCKET, SO_REUSEPORT] : o.name === 'SO_REUSEADDR' ? [SOL_SOCKET, SO_REUSEADDR] : [IPPROTO_IPV6, IPV6_V6ONLY];
        c.note(`${tag} ${o.name}=${o.value} on ${o.slot}: ${c.attempt(() => k.setsockopt(fd, level, name, o.value))}`);
        break;
      }
      case 'bind': {
        const a = addrOf(family, o.addr);
        c.note(`${tag} bind ${o.slot} ${a}:${o.port}: ${c.attempt(() => k.bind(fd, a, o.port))}`);
        break;
      }
      case 'listen': c.note(`${tag} listen ${o.slot}: ${c.attempt(() => k.listen(fd, 8))}`); break;
      case 'connect': {
        const a = addrOf(family, o.addr).replace(/^0\.0\.0\.0$/, '127.0.0.1').replace(/^::$/, '::1');
        c.note(`${tag} connect ${o.slot} ${a}:${o.port}: ${c.attempt(() => k.connect(fd, a, o.port))}`);
        break;
      }
      case 'send': {
        const data = new Uint8Array([n & 0xff]);
        const a = o.addr === undefined ? undefined : addrOf(family, o.addr).replace(/^0\.0\.0\.0$/, '127.0.0.1').replace(/^::$/, '::1');
        c.note(`${tag} send ${o.slot}${a ? ` to ${a}:${o.port}` : ''}: ${c.attempt(() => (a ? k.sendto(fd, data, a, o.port) : k.sendto(fd, data)))}`);
        break;
      }
      case 'recv': {
        let got = '';
        const r = c.attempt(() => { const d = k.recvfrom(fd, 16); got = ` [${[...d.data]}] from ${showAddr(d)}`; });
        c.note(`${tag} recv ${o.slot}: ${r}${got}`);
        break;
      }
      case 'accept': {
        let peer = '';
        const r = c.attempt(() => { const child = c.own(k.accept(fd)); peer = ` peer ${showAddr(k.getpeername(child))}`; c.close(child); });
        c.note(`${tag} accept ${o.slot}: ${r}${peer}`);
        break;
      }
      case 'shutdown': c.note(`${tag} shutdown ${o.slot} ${o.how}: ${c.attempt(() => k.shutdown(fd, o.how))}`); break;
      case 'names': {
        let name = '', peer = '';
        const r1 = c.attempt(() => { name = showAddr(k.getsockname(fd)); });
        const r2 = c.attempt(() => { peer = showAddr(k.getpeername(fd)); });
        c.note(`${tag} names ${o.slot}: sock ${r1 === 'ok' ? name : r1}, peer ${r2 === 'ok' ? peer : r2}`);
        break;
      }
      case 'close': c.close(fd); fds[o.slot] = undefined; c.note(`${tag} close ${o.slot}`); break;
    }
  });
}
