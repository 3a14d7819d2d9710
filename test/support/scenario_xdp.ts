/**
 * migrate_reuseport's SEC("xdp") drop_ack on lo, for the real kernel only. The Kernel
 * interface has no XDP attach (and the simulator has no ingress hook), so this is the one piece
 * of a scenario that talks to bpf(2) directly: BPF_LINK_CREATE(prog, ifindex 1, BPF_XDP).
 * The program is loaded through the Kernel (progLoad) like every other program.
 */
import { BPF_PROG_TYPE_XDP, SysError, type Kernel } from '../../src/kernel/index.js';
import { libc, SYS_BPF } from '../../src/linux/libc.js';
import { program, R0, R1, R2, R3, R4, R5 } from '../../src/ebpf/asm.js';

const BPF_LINK_CREATE = 28, BPF_XDP = 37, IFINDEX_LO = 1;
const XDP_DROP = 1, XDP_PASS = 2;

/**
 * progs/test_migrate_reuseport.c drop_ack: drop TCP segments to server_port with ACK set and
 * SYN clear. `server_port` (a .bss global written before attach) is baked in as an immediate.
 */
export function dropAckProg(serverPort: number): Uint8Array {
  // the __be16 port as a little-endian u16 load sees it
  const portBe = ((serverPort & 0xff) << 8) | (serverPort >> 8);
  const p = program();
  p.ldx('w', R2, R1, 4) // data_end
    .ldx('w', R1, R1, 0) // data
    .mov(R3, R1).add(R3, 14).jgt(R3, R2, 'pass') // eth + 1 > data_end
    .ldx('h', R4, R1, 12) // eth->h_proto
    .jeq(R4, 0x0008, 'ipv4') // bpf_ntohs(h_proto) == ETH_P_IP
    .jeq(R4, 0xdd86, 'ipv6') // == ETH_P_IPV6
    .ja('pass')
    .label('ipv4')
    .mov(R3, R1).add(R3, 34).jgt(R3, R2, 'pass') // ip + 1 > data_end
    .ldx('b', R5, R1, 23).jne(R5, 6, 'pass') // ip->protocol != IPPROTO_TCP
    .ldx('b', R5, R1, 14).and(R5, 0x0f).lsh(R5, 2) // ip->ihl * 4
    .add(R1, 14).add(R1, R5) // tcp = (void *)ip + ihl * 4
    .ja('tcp')
    .label('ipv6')
    .mov(R3, R1).add(R3, 54).jgt(R3, R2, 'pass') // ipv6 + 1 > data_end
    .ldx('b', R5, R1, 20).jne(R5, 6, 'pass') // ipv6->nexthdr != IPPROTO_TCP
    .add(R1, 54)
    .label('tcp')
    .mov(R3, R1).add(R3, 20).jgt(R3, R2, 'pass') // tcp + 1 > data_end
    .ldx('h', R5, R1, 2).jne(R5, portBe, 'pass') // tcp->dest != server_port
    .ldx('b', R5, R1, 13).and(R5, 0x12).jne(R5, 0x10, 'pass') // !syn && ack
    .mov(R0, XDP_DROP).exit()
    .label('pass').mov(R0, XDP_PASS).exit();
  return p.link();
}

/** An attached drop_ack: close() detaches it (destroys the link). */
export interface XdpLink { close(): void }

export function attachDropAck(k: Kernel, serverPort: number): XdpLink {
  const prog = k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: dropAckProg(serverPort), license: 'GPL', name: 'drop_ack' });
  const c = libc();
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) throw new Error(`no bpf(2) number for ${process.arch}`);
  const attr = Buffer.alloc(144);
  attr.writeUInt32LE(prog, 0); // link_create.prog_fd
  attr.writeUInt32LE(IFINDEX_LO, 4); // link_create.target_ifindex
  attr.writeUInt32LE(BPF_XDP, 8); // link_create.attach_type
  const link = Number(c.syscall(nr, BPF_LINK_CREATE, attr, attr.length));
  if (link < 0) {
    const errno = c.errno();
    k.close(prog);
    throw new SysError('bpf(BPF_LINK_CREATE xdp lo)', errno);
  }
  k.close(prog); // the link holds the program
  let open = true;
  return { close: () => { if (open) { open = false; c.close(link); } } };
}

/** The simulator's controls for the same situation (SimKernel, simulator-only methods). */
interface SimAckControls {
  holdAcks(on: boolean): void;
  releaseAcks(): void;
  expireSynAckTimers(): void;
}
const simControls = (k: Kernel): SimAckControls | undefined => {
  const s = k as unknown as Partial<SimAckControls>;
  return typeof s.holdAcks === 'function' && typeof s.releaseAcks === 'function' && typeof s.expireSynAckTimers === 'function'
    ? (s as SimAckControls) : undefined;
};

/**
 * "Drop the final ACK of the 3WHS to server_port": on Linux the selftest's XDP drop_ack on lo;
 * on the simulator its holdAcks() switch. close() lets the ACKs through again (Linux: the
 * client's retransmissions arrive; sim: the held ACKs are delivered).
 */
export function dropFinalAcks(k: Kernel, serverPort: number): XdpLink {
  if (k.kind === 'linux') return attachDropAck(k, serverPort);
  const sim = simControls(k);
  if (!sim) throw new Error('this SimKernel has no holdAcks()/releaseAcks() controls');
  sim.holdAcks(true);
  let open = true;
  return { close: () => { if (open) { open = false; sim.holdAcks(false); sim.releaseAcks(); } } };
}

/** Let SYN+ACK retransmit timers fire: Linux sleeps past the first 1 s timeout; the sim fires them. */
export async function expireSynAckTimers(k: Kernel): Promise<void> {
  if (k.kind === 'linux') { await new Promise((r) => setTimeout(r, 1000)); return; }
  const sim = simControls(k);
  if (!sim) throw new Error('this SimKernel has no expireSynAckTimers() control');
  sim.expireSynAckTimers();
}
