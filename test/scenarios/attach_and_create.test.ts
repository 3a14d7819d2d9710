/**
 * Extra table — errno grids for the calls around the selftests (kernel-semantics.md §1, §3, §4.2),
 * compared errno for errno with Linux, with the cells the spec states asserted:
 *  - BPF_MAP_CREATE of REUSEPORT_SOCKARRAY / SOCKMAP / SOCKHASH for each map_flags bit × key size ×
 *    value size;
 *  - SO_ATTACH_REUSEPORT_EBPF / _CBPF and SO_DETACH_REUSEPORT_BPF for each kind of socket × each
 *    kind of fd (SK_REUSEPORT / SOCKET_FILTER program, map, closed fd, bad classic code), and an
 *    XDP program.
 */
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, AF_UNIX, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_MAP_TYPE_SOCKHASH,
  BPF_MAP_TYPE_SOCKMAP, BPF_PROG_TYPE_SK_REUSEPORT, BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP, IPPROTO_UDP,
  SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, SO_ATTACH_REUSEPORT_EBPF,
  SO_DETACH_REUSEPORT_BPF, SO_REUSEPORT, type Kernel,
} from '../../src/kernel/index.js';
import { program, R0 } from '../../src/ebpf/asm.js';
import { reuseportBpfCbpf } from '../support/scenario_progs.js';
import { sockFilterBytes } from '../support/scenario_cbpf.js';
import { scenarioTable, type Scenario, type ScenarioCtx } from '../support/scenario_runner.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';

const TABLE = 'attach and create';
const scenarios: Scenario[] = [];

// ---- BPF_MAP_CREATE grid ----
const MAP_TYPES: Array<[number, string]> = [
  [BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, 'reuseport_sockarray'], [BPF_MAP_TYPE_SOCKMAP, 'sockmap'], [BPF_MAP_TYPE_SOCKHASH, 'sockhash'],
];
for (const [mapType, name] of MAP_TYPES) {
  for (let bit = -1; bit < 16; bit++) {
    const flags = bit < 0 ? 0 : 1 << bit;
    scenarios.push({
      name: `map_create ${name} map_flags ${bit < 0 ? 0 : `1<<${bit}`}`,
      run(c) {
        for (const keySize of [0, 1, 4, 8]) {
          for (const valueSize of [0, 4, 8, 16]) {
            const got = c.attempt(() => c.own(c.k.mapCreate({ mapType, keySize, valueSize, maxEntries: 4, mapFlags: flags })));
            c.note(`key ${keySize} value ${valueSize}: ${got}`);
            // §1: the sockarray accepts key 4, value 4|8 and NUMA_NODE/RDONLY/WRONLY/*_PROG flags only
            if (mapType === BPF_MAP_TYPE_REUSEPORT_SOCKARRAY) {
              const okFlag = [-1, 2, 3, 4, 7, 8].includes(bit);
              const okSizes = keySize === 4 && (valueSize === 4 || valueSize === 8);
              if (okFlag && okSizes) assert.equal(got, 'ok', `sockarray key ${keySize} value ${valueSize} flags ${flags}`);
              else assert.equal(got, 'EINVAL', `sockarray key ${keySize} value ${valueSize} flags ${flags}`);
            }
          }
        }
      },
    });
  }
}

// ---- SO_ATTACH_REUSEPORT_* / SO_DETACH_REUSEPORT_BPF grid ----
interface SockKind { name: string; make(k: Kernel): number }
const SOCK_KINDS: SockKind[] = [
  { name: 'UDP unbound', make: (k) => k.socket(AF_INET, SOCK_DGRAM, 0) },
  { name: 'UDP unbound SO_REUSEPORT', make: (k) => { const s = k.socket(AF_INET, SOCK_DGRAM, 0); k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1); return s; } },
  { name: 'UDP bound', make: (k) => { const s = k.socket(AF_INET, SOCK_DGRAM, 0); k.bind(s, '127.0.0.1', 0); return s; } },
  { name: 'UDP bound SO_REUSEPORT', make: (k) => { const s = k.socket(AF_INET, SOCK_DGRAM, 0); k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1); k.bind(s, '127.0.0.1', 0); return s; } },
  { name: 'UDP6 bound SO_REUSEPORT', make: (k) => { const s = k.socket(AF_INET6, SOCK_DGRAM, 0); k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1); k.bind(s, '::1', 0); return s; } },
  { name: 'TCP bound SO_REUSEPORT not listening', make: (k) => { const s = k.socket(AF_INET, SOCK_STREAM, 0); k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1); k.bind(s, '127.0.0.1', 0); return s; } },
  { name: 'TCP listening', make: (k) => { const s = k.socket(AF_INET, SOCK_STREAM, 0); k.bind(s, '127.0.0.1', 0); k.listen(s, 1); return s; } },
  { name: 'TCP listening SO_REUSEPORT', make: (k) => { const s = k.socket(AF_INET, SOCK_STREAM, 0); k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1); k.bind(s, '127.0.0.1', 0); k.listen(s, 1); return s; } },
  { name: 'TCP6 listening SO_REUSEPORT', make: (k) => { const s = k.socket(AF_INET6, SOCK_STREAM, 0); k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1); k.bind(s, '::1', 0); k.listen(s, 1); return s; } },
  { name: 'AF_UNIX stream', make: (k) => k.socket(AF_UNIX, SOCK_STREAM, 0) },
  { name: 'RAW UDP6', make: (k) => k.socket(AF_INET6, SOCK_RAW, IPPROTO_UDP) },
];

interface Handles { skReuseport: number; socketFilter: number; map: number; closed: number }
function handles(c: ScenarioCtx): Handles {
  const { k } = c;
  const ret1 = (): Uint8Array => program().mov(R0, 1).exit().link();
  const closed = k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
  k.close(closed); // an fd number that is not open (nothing else is opened before the attach)
  return {
    closed,
    skReuseport: c.own(k.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: ret1(), license: 'GPL' })),
    socketFilter: c.own(k.progLoad({ progType: BPF_PROG_TYPE_SOCKET_FILTER, insns: ret1(), license: 'GPL' })),
    map: c.own(k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 })),
  };
}

for (const kind of SOCK_KINDS) {
  scenarios.push({
    name: `attach/detach on ${kind.name}`,
    run(c) {
      const { k } = c;
      const h = handles(c);
      // each attempt on a fresh socket of this kind, so earlier attaches do not change the answer
      const fresh = (): number => c.own(kind.make(k));
      const tryOpt = (label: string, opt: number, value: number | Uint8Array): string => {
        const s = fresh();
        const got = c.attempt(() => k.setsockopt(s, SOL_SOCKET, opt, value));
        c.note(`${label}: ${got}`);
        return got;
      };
      const ebpf = tryOpt('EBPF sk_reuseport prog', SO_ATTACH_REUSEPORT_EBPF, h.skReuseport);
      const filt = tryOpt('EBPF socket_filter prog', SO_ATTACH_REUSEPORT_EBPF, h.socketFilter);
      tryOpt('EBPF map fd', SO_ATTACH_REUSEPORT_EBPF, h.map);
      tryOpt('EBPF closed fd', SO_ATTACH_REUSEPORT_EBPF, h.closed);
      tryOpt('EBPF fd -1', SO_ATTACH_REUSEPORT_EBPF, -1);
      tryOpt('EBPF 2-byte optval', SO_ATTACH_REUSEPORT_EBPF, new Uint8Array(2));
      const cbpf = tryOpt('CBPF mod 2', SO_ATTACH_REUSEPORT_CBPF, reuseportBpfCbpf(2));
      tryOpt('CBPF empty program', SO_ATTACH_REUSEPORT_CBPF, new Uint8Array(0));
      tryOpt('CBPF bad opcode', SO_ATTACH_REUSEPORT_CBPF, sockFilterBytes([{ code: 0xffff, jt: 0, jf: 0, k: 0 }]));
      tryOpt('CBPF no ret', SO_ATTACH_REUSEPORT_CBPF, sockFilterBytes([{ code: 0x00 /* ld w abs */ | 0x20, jt: 0, jf: 0, k: 0 }]));
      tryOpt('detach, nothing attached', SO_DETACH_REUSEPORT_BPF, 0);
      // detach after a successful attach on the same socket
      const s = fresh();
      const a = c.attempt(() => k.setsockopt(s, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, h.socketFilter));
      const d1 = c.attempt(() => k.setsockopt(s, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0));
      const d2 = c.attempt(() => k.setsockopt(s, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0));
      c.note(`attach socket_filter ${a}; detach ${d1}; detach again ${d2}`);
      // §4.2 cells the spec states
      if (kind.name === 'UDP bound' || kind.name === 'TCP listening') {
        assert.equal(filt, 'EINVAL', 'no SO_REUSEPORT, hashed: EINVAL');
        assert.equal(cbpf, 'EINVAL', 'no SO_REUSEPORT, hashed: EINVAL');
      }
      if (kind.name === 'UDP unbound SO_REUSEPORT' || kind.name.endsWith('SO_REUSEPORT') && !kind.name.includes('not listening')) {
        assert.equal(filt, 'ok', 'SO_REUSEPORT socket accepts a program');
        assert.equal(d1, 'ok', 'detach after attach');
        assert.equal(d2, 'ENOENT', 'second detach: no program');
      }
      if (kind.name === 'AF_UNIX stream' || kind.name === 'RAW UDP6') assert.equal(ebpf, 'ENOTSUPP', 'SK_REUSEPORT program on a non-TCP/UDP socket');
    },
  });
}

// a program of another type (the simulator models only SOCKET_FILTER and SK_REUSEPORT: S8)
scenarios.push({
  name: 'attach an XDP program with SO_ATTACH_REUSEPORT_EBPF → EINVAL',
  run(c) {
    const { k } = c;
    const xdp = c.own(c.ok('load XDP program', () => k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: program().mov(R0, 2).exit().link(), license: 'GPL' })));
    const s = c.own(k.socket(AF_INET, SOCK_DGRAM, 0));
    k.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, 1);
    c.fails('SO_ATTACH_REUSEPORT_EBPF xdp prog', 'EINVAL', () => k.setsockopt(s, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, xdp));
  },
});

await scenarioTable(TABLE, scenarios, { known: KNOWN_DIFFERENCES });
