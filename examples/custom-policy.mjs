// Your own SK_REUSEPORT program, written with the ISA builder: send clients whose source port
// is even to the first steerable worker and odd ones to the second. The group's maps are
// available by name ('socks' sockarray, 'steer' = [n, slot...]).
//   node examples/custom-policy.mjs           (after `npm run build`)
import { ReuseportGroup, definePolicy } from 'reuseport';
import { program, R0, R1, R2, R3, R4, R6, R10 } from 'reuseport/ebpf';
import net from 'node:net';

const parity = definePolicy({
  name: 'port-parity',
  description: 'even source ports to the first worker, odd to the second',
  build: () =>
    program()
      .mov(R6, R1)                                    // r6 = ctx
      .mov(R1, R6).mov(R2, 0).mov(R3, R10).add(R3, -8).mov(R4, 2)
      .call('skb_load_bytes')                         // the TCP header's source port (network order)
      .jne(R0, 0, 'pass')
      .ldxb(R2, R10, -7)                              // low byte of the port
      .and(R2, 1)
      .add(R2, 1)                                     // steer[1 + parity]
      .stxw(R10, -4, R2)
      .ldMapFd(R1, 'steer').mov(R2, R10).add(R2, -4)
      .call('map_lookup_elem')
      .jeq(R0, 0, 'pass')
      .ldxw(R2, R0, 0)
      .stxw(R10, -4, R2)                              // the slot
      .mov(R1, R6).ldMapFd(R2, 'socks').mov(R3, R10).add(R3, -4).mov(R4, 0)
      .call('sk_select_reuseport')
      .label('pass')
      .mov(R0, 1)                                     // SK_PASS: never drop
      .exit(),
});

const port = Number(process.env.PORT ?? 8081);
const group = new ReuseportGroup({
  script: new URL('./echo-worker.js', import.meta.url).pathname,
  port,
  host: '127.0.0.1',
  workers: 2,
  policy: parity,
  backend: process.env.REUSEPORT_BACKEND ?? 'auto',
});
await group.start();
console.log(`backend ${group.backendKind}, policy ${group.policyName}`);
const ask = (localPort) =>
  new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localPort });
    let d = '';
    s.on('data', (b) => (d += b));
    s.on('end', () => resolve(d.trim()));
    s.on('error', reject);
  });
// four consecutive client ports from an even base: even, odd, even, odd
const base = 40000 + 2 * Math.floor(Math.random() * 5000);
for (let localPort = base; localPort < base + 4; localPort++) {
  console.log(`from ${localPort % 2 === 0 ? 'even' : 'odd'} port ${localPort}: ${await ask(localPort)}`);
}
await group.shutdown();
