// Unit-test an SK_REUSEPORT program against chosen packets — what the real kernel cannot do
// (BPF_PROG_TEST_RUN refuses SK_REUSEPORT). Runs anywhere: no root, no Linux needed.
//   node examples/unit-test-policy.mjs        (after `npm run build`)
import { program, R0, R1, R2, R3, R4, R6, R10 } from 'reuseport/ebpf';
import { SimKernel } from 'reuseport/sim';
import {
  AF_INET, SOCK_DGRAM, SOL_SOCKET, SO_REUSEPORT, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
  BPF_PROG_TYPE_SK_REUSEPORT, BPF_NOEXIST, SK_PASS, SK_DROP,
} from 'reuseport/kernel';

const sim = new SimKernel({ seed: 1 });

// A reuseport group of 4 UDP sockets on 127.0.0.1:5353, each in its sockarray slot.
const sockets = sim.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
const fds = [0, 1, 2, 3].map((slot) => {
  const fd = sim.socket(AF_INET, SOCK_DGRAM);
  sim.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  sim.bind(fd, '127.0.0.1', 5353);
  const key = new Uint8Array(new Uint32Array([slot]).buffer);
  const value = new Uint8Array(new BigUint64Array([BigInt(fd)]).buffer);
  sim.mapUpdateElem(sockets, key, value, BPF_NOEXIST);
  return fd;
});

// The policy: slot = first payload byte; drop the datagram when that slot is empty or invalid.
const insns = program()
  .mov(R6, R1)                          // r6 = ctx (struct sk_reuseport_md *)
  .ldxdw(R2, R6, 0)                     // r2 = ctx->data (the UDP header)
  .ldxdw(R3, R6, 8)                     // r3 = ctx->data_end
  .mov(R4, R2).add(R4, 9)
  .jgt(R4, R3, 'drop')                  // need the UDP header + 1 payload byte
  .ldxb(R2, R2, 8)                      // r2 = payload[0]
  .stxw(R10, -4, R2)                    // u32 key on the stack
  .mov(R1, R6).ldMapFd(R2, 'sockets').mov(R3, R10).add(R3, -4).mov(R4, 0)
  .call('sk_select_reuseport')
  .jne(R0, 0, 'drop')
  .mov(R0, SK_PASS).exit()
  .label('drop')
  .mov(R0, SK_DROP).exit()
  .link({ maps: { sockets } });

const prog = sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns, license: 'GPL' });

for (const first of [2, 0, 7]) {
  const r = sim.testRun(prog, {
    fd: fds[0],
    packet: { protocol: 'udp', saddr: '127.0.0.1', sport: 40000, payload: Uint8Array.of(first, 0xaa) },
  });
  const where = r.selected ? `socket index ${r.selected.index}` : r.verdict === SK_PASS ? 'hash fallback' : 'dropped';
  const calls = r.helperCalls.map((c) => `${c.name}() = ${c.ret}`).join(', ');
  console.log(`payload[0]=${first}: verdict ${r.verdict}, ${where}; ${calls}; ${r.insnCount} insns`);
}
