/**
 * `reuseport test-run`: the unit-test tool the kernel lacks (BPF_PROG_TEST_RUN refuses
 * SK_REUSEPORT). Builds a simulated reuseport group of N sockets in a SimKernel, with the
 * group layer's maps (src/group/steering.ts: socks, steer, load, state, flows) filled the way a
 * ReuseportGroup fills them, loads a built-in policy or the user's program against those maps,
 * and runs SimKernel.testRun for a synthetic packet (K packets with consecutive source ports).
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import {
  AF_INET, AF_INET6, BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT, IPPROTO_TCP, IPPROTO_UDP, IPV6_V6ONLY,
  SK_DROP, SK_PASS, SO_ATTACH_REUSEPORT_EBPF, SO_REUSEPORT, SOCK_DGRAM, SOCK_STREAM, SOL_IPV6, SOL_SOCKET, errnoName,
} from '../kernel/index.js';
import { SimKernel, type HelperTrace, type TestRunResult } from '../sim/index.js';
import { DEFAULT_ATTACH, MAX_SLOTS, PolicyError, resolvePolicy } from '../policies/index.js';
import { Steering } from '../group/steering.js';
import { failed, intOption, loadBytecode, parseHex, parseToolArgs, runTool, usage, verifierLog, type ToolIo } from './tool_input.js';

export const TEST_RUN_USAGE = `test-run options:
      --policy NAME       a built-in policy (reuseport policies lists them)
      --program FILE      or your own SK_REUSEPORT program (.s assembly or bytecode); the group's
                          maps resolve by name: lddw %r2, map_fd socks (also steer, load, state; flows: udp)
  -w, --workers N         sockets in the group (default 4, at most ${MAX_SLOTS}); socks[i] = socket i
      --proto P           tcp (a SYN, default) | udp
      --family F          4 | 6 (default: the family of --from)
      --from ADDR:PORT    the packet's source (required; [v6]:port for IPv6)
      --to ADDR:PORT      its destination = the group's port (default 127.0.0.1:8080 / [::1]:8080)
      --payload HEX       L4 payload bytes
      --hash N            sk_reuseport_md.hash (default: the kernel's 4-tuple hash)
  -n, --count K           send K packets from source ports PORT, PORT+1, ...: per-socket distribution
                          (each packet is listed when K <= 32)
`;

interface Endpoint {
  addr: string;
  port: number;
  v6: boolean;
}

/** ADDR:PORT or [V6ADDR]:PORT. */
export function parseEndpoint(value: string, name: string): Endpoint {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  if (!m) throw usage(`--${name} must be ADDR:PORT (IPv6: [ADDR]:PORT), got '${value}'`);
  const addr = m[1]!;
  const kind = net.isIP(addr);
  if (kind === 0) throw usage(`--${name}: '${addr}' is not an IP address`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw usage(`--${name}: port ${m[2]} is not 1..65535`);
  return { addr, port, v6: kind === 6 };
}

const show = (e: { addr: string; v6: boolean }, port: number): string => (e.v6 ? `[${e.addr}]:${port}` : `${e.addr}:${port}`);
const hex32 = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;

function verdictName(v: number): string {
  if (v === SK_PASS) return 'SK_PASS';
  if (v === SK_DROP) return 'SK_DROP';
  return `${v} (not SK_PASS: a drop)`;
}

/** bpf_sk_select_reuseport, bpf_skb_load_bytes, bpf_skb_load_bytes_relative take the ctx first. */
const CTX_HELPERS = new Set([82, 26, 68]);

/** Names for the addresses a program passes to helpers: maps, stack slots, ctx. */
class AddressNames {
  private readonly maps: Array<{ name: string; base: number; end: number }> = [];
  constructor(sim: SimKernel, maps: Record<string, number>) {
    for (const [name, fd] of Object.entries(maps)) {
      const r = sim.mapOf(fd, 'test-run').region;
      this.maps.push({ name, base: r.base, end: r.base + r.bytes.length });
    }
  }

  /** The ctx address, learnt from the helpers whose first argument is the ctx. */
  private ctx = -1n;

  arg(v: bigint, helper: number, i: number): string {
    if (i === 0 && CTX_HELPERS.has(helper)) this.ctx = v;
    if (v === this.ctx) return 'ctx';
    if (v < 0x100000000n) return BigInt.asIntN(64, v) < 0n ? String(BigInt.asIntN(64, v)) : v < 4096n ? String(v) : `0x${v.toString(16)}`;
    const n = Number(v);
    // VM memory: frame k's stack is region k+1 with r10 = base + 512 (docs/vm.md)
    const region = Math.floor(n / 2 ** 32);
    if (region >= 1 && region <= 8) {
      const off = n - region * 2 ** 32 - 512;
      return `${region === 1 ? 'fp' : `fp${region - 1}`}${off}`;
    }
    for (const m of this.maps) {
      if (n === m.base) return `map ${m.name}`;
      if (n > m.base && n < m.end) return `&${m.name}+${n - m.base}`;
    }
    return `0x${v.toString(16)}`;
  }

  ret(call: HelperTrace): string {
    const r = call.ret;
    if (r < 0n && r >= -4095n) return `${r} (-${errnoName(Number(-r))})`;
    if (r >= 0x100000000n) {
      // lookup results point into a map's value storage
      const n = Number(r);
      for (const m of this.maps) if (n >= m.base && n < m.end) return `&${m.name}+${n - m.base} (value)`;
      return `0x${r.toString(16)}`;
    }
    if (r === 0n && call.id === 1) return '0 (NULL: no such element)';
    return String(r);
  }
}

export function cmdTestRun(argv: string[], io: ToolIo): Promise<number> {
  return runTool('test-run', io, () => {
    const { values } = parseToolArgs(() => parseArgs({ args: argv, allowPositionals: true, strict: true, options: {
      policy: { type: 'string' },
      program: { type: 'string' },
      workers: { type: 'string', short: 'w' },
      proto: { type: 'string' },
      family: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      payload: { type: 'string' },
      hash: { type: 'string' },
      count: { type: 'string', short: 'n' },
    } }), 0);
    if ((values.policy === undefined) === (values.program === undefined)) {
      throw usage('give exactly one of --policy NAME or --program FILE');
    }
    const workers = intOption(values.workers, 'workers', 1, MAX_SLOTS) ?? 4;
    const proto = values.proto ?? 'tcp';
    if (proto !== 'tcp' && proto !== 'udp') throw usage(`--proto must be tcp or udp, got '${proto}'`);
    if (values.family !== undefined && values.family !== '4' && values.family !== '6') throw usage(`--family must be 4 or 6, got '${values.family}'`);
    if (values.from === undefined) throw usage('missing --from ADDR:PORT (the packet\'s source)');
    const from = parseEndpoint(values.from, 'from');
    const v6 = values.family === undefined ? from.v6 : values.family === '6';
    if (from.v6 !== v6) throw usage(`--from ${values.from} is not an IPv${v6 ? 6 : 4} address (--family ${v6 ? 6 : 4})`);
    const to = values.to === undefined ? { addr: v6 ? '::1' : '127.0.0.1', port: 8080, v6 } : parseEndpoint(values.to, 'to');
    if (to.v6 !== v6) throw usage(`--to ${values.to} is not an IPv${v6 ? 6 : 4} address like --from`);
    const payload = values.payload === undefined ? new Uint8Array(0) : parseHex(values.payload, '--payload');
    const hash = intOption(values.hash, 'hash', 0, 0xffffffff);
    const count = intOption(values.count, 'count', 1, 1_000_000) ?? 1;
    let policy;
    if (values.policy !== undefined) {
      try {
        policy = resolvePolicy(values.policy);
      } catch (err) {
        if (err instanceof PolicyError) throw usage(`${err.message} (${err.hint})`);
        throw err;
      }
    }

    // The group: N sockets on the wildcard of the family and --to's port, in join order.
    const sim = new SimKernel();
    const fds: number[] = [];
    for (let i = 0; i < workers; i++) {
      const fd = sim.socket(v6 ? AF_INET6 : AF_INET, proto === 'tcp' ? SOCK_STREAM : SOCK_DGRAM, proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP);
      sim.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
      if (v6) sim.setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, 1);
      sim.bind(fd, v6 ? '::' : '0.0.0.0', to.port);
      if (proto === 'tcp') sim.listen(fd, 128);
      fds.push(fd);
    }
    // The group layer's maps and program, filled as ReuseportGroup does: socks[i] = socket i,
    // every slot steerable with weight 1.
    const steering = new Steering(sim, proto);
    let progFd: number;
    let progName: string;
    let progInsns: number;
    if (policy) {
      const loaded = steering.load(policy);
      steering.commit(loaded);
      progFd = loaded.fd;
      progName = `policy ${policy.name}`;
      progInsns = loaded.insnCount;
    } else {
      const prog = loadBytecode(values.program!, steering.maps);
      progName = `program ${prog.name}`;
      progInsns = prog.bytecode.length / 8;
      try {
        progFd = sim.progLoad({
          progType: BPF_PROG_TYPE_SK_REUSEPORT,
          insns: prog.bytecode,
          license: 'GPL',
          expectedAttachType: proto === 'tcp' ? DEFAULT_ATTACH : BPF_SK_REUSEPORT_SELECT,
          logSize: 1 << 20,
          name: 'test_run',
        });
      } catch (err) {
        const e = err as { message: string; log?: string };
        throw failed(`cannot load ${prog.name}: ${e.message}`, e.log ? verifierLog(e.log) : undefined);
      }
    }
    fds.forEach((fd, slot) => steering.setSocket(slot, fd));
    steering.setSteerable(fds.map((_, slot) => ({ slot, weight: 1 })));
    sim.setsockopt(fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, progFd);

    const names = new AddressNames(sim, steering.maps);
    const o = io.out;
    o.write(`${progName} (SK_REUSEPORT, ${progInsns} insns) on ${workers} ${proto.toUpperCase()} sockets bound to ${show({ addr: v6 ? '::' : '0.0.0.0', v6 }, to.port)}\n`);
    const run = (sport: number): TestRunResult => sim.testRun(progFd, {
      fd: fds[0]!,
      packet: { protocol: proto, family: v6 ? 'ipv6' : 'ipv4', saddr: from.addr, sport, daddr: to.addr, dport: to.port, payload, hash },
    });
    const where = (r: TestRunResult): string => {
      if (!r.selected) return 'drop';
      return `socket ${r.selected.index}${r.fallback ? ' (hash fallback: passed without a selection)' : ''}`;
    };

    if (count === 1) {
      const r = run(from.port);
      const pkt = sim.makePacket(fds[0]!, { protocol: proto, family: v6 ? 'ipv6' : 'ipv4', saddr: from.addr, sport: from.port, daddr: to.addr, dport: to.port, payload, hash });
      o.write(`packet: ${proto.toUpperCase()} ${show(from, from.port)} -> ${show(to, to.port)}, payload ${payload.length} bytes, hash ${hex32(pkt.hash)}${hash === undefined ? ' (4-tuple)' : ''}\n`);
      o.write(`verdict: ${verdictName(r.verdict)}\n`);
      if (r.selected) {
        o.write(`selected: socket ${r.selected.index} (fd ${r.selected.fd}, cookie ${r.selected.cookie})${r.fallback ? ' by the hash fallback: the program passed without selecting' : ''}\n`);
      } else o.write('selected: none, the packet is dropped\n');
      o.write(`helper calls: ${r.helperCalls.length}\n`);
      for (const c of r.helperCalls) o.write(`  ${c.name}(${c.args.map((a, i) => names.arg(a, c.id, i)).join(', ')}) = ${names.ret(c)}\n`);
      o.write(`instructions: ${r.insnCount}\n`);
      return 0;
    }

    const perSocket = new Array<number>(workers).fill(0);
    let drops = 0;
    let fallbacks = 0;
    let insns = 0;
    const listEach = count <= 32;
    o.write(`${count} packets: ${proto.toUpperCase()} ${show(from, from.port)}.. -> ${show(to, to.port)}, source port +1 each${hash === undefined ? '' : `, hash ${hex32(hash)}`}\n`);
    for (let i = 0; i < count; i++) {
      const sport = ((from.port - 1 + i) % 65535) + 1;
      const r = run(sport);
      insns += r.insnCount;
      if (r.selected) perSocket[r.selected.index]!++;
      else drops++;
      if (r.fallback) fallbacks++;
      if (listEach) o.write(`  sport ${String(sport).padStart(5)}  ${verdictName(r.verdict).padEnd(7)}  ${where(r)}  (${r.insnCount} insns, ${r.helperCalls.length} helper calls)\n`);
    }
    o.write(`distribution over ${count} packets:\n`);
    const width = 30;
    const max = Math.max(1, ...perSocket, drops);
    const row = (label: string, n: number): string =>
      `  ${label}: ${String(n).padStart(7)}  ${((100 * n) / count).toFixed(1).padStart(5)}%  ${'#'.repeat(Math.round((n / max) * width))}`.trimEnd() + '\n';
    perSocket.forEach((n, i) => o.write(row(`socket ${String(i).padStart(2)}`, n)));
    o.write(row('drop     ', drops));
    o.write(`hash fallbacks: ${fallbacks}; instructions: ${insns} total, ${(insns / count).toFixed(1)} per packet\n`);
    return 0;
  });
}

