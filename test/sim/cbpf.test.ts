/** Classic BPF for SO_ATTACH_REUSEPORT_CBPF: bpf_check_classic() refusals and interpreter semantics. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AF_INET, POLLIN, SOCK_DGRAM, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF } from '../../src/kernel/index.js';
import { SKF_AD_CPU, SKF_AD_OFF, checkClassic, encodeClassic, type SockFilter } from '../../src/sim/index.js';
import { SimKernel, be32, group, throwsErrno } from './helpers.js';

const f = (code: number, k = 0, jt = 0, jf = 0): SockFilter => ({ code, jt, jf, k });
const env = { protocol: 8, hash: 0xabcdef, cpu: 3, random: () => 4 };
const run = (prog: SockFilter[], data: number[]): number => checkClassic('test', encodeClassic(prog)).run(Uint8Array.from(data), env);

test('bpf_check_classic: length, opcodes, jumps, scratch memory, last instruction', () => {
  const sc = 'setsockopt';
  throwsErrno(() => checkClassic(sc, new Uint8Array(0)), 'EINVAL', /length 0/);
  throwsErrno(() => checkClassic(sc, new Uint8Array(8 * 4097)), 'EINVAL', /4097/);
  throwsErrno(() => checkClassic(sc, new Uint8Array(7)), 'EINVAL');
  throwsErrno(() => checkClassic(sc, encodeClassic([f(0xff), f(0x06)])), 'EINVAL', /unknown opcode/);
  throwsErrno(() => checkClassic(sc, encodeClassic([f(0x15, 0, 5, 0), f(0x06)])), 'EINVAL', /jump out of range/);
  throwsErrno(() => checkClassic(sc, encodeClassic([f(0x94, 0), f(0x16)])), 'EINVAL', /division by constant 0/);
  throwsErrno(() => checkClassic(sc, encodeClassic([f(0x60, 16), f(0x16)])), 'EINVAL', /scratch memory index/);
  throwsErrno(() => checkClassic(sc, encodeClassic([f(0x60, 1), f(0x16)])), 'EINVAL', /read before written/);
  throwsErrno(() => checkClassic(sc, encodeClassic([f(0x00, 1)])), 'EINVAL', /must end with/);
  throwsErrno(() => checkClassic(sc, encodeClassic([f(0x0e)])), 'EINVAL', /must end with/);
  checkClassic(sc, encodeClassic([f(0x02, 1), f(0x60, 1), f(0x16)]));
});

test('interpreter: loads are network order, out-of-packet loads and division by X=0 return 0', () => {
  assert.equal(run([f(0x20, 0), f(0x16)], [0, 0, 1, 2]), 0x102);
  assert.equal(run([f(0x28, 1), f(0x16)], [9, 1, 2]), 0x102);
  assert.equal(run([f(0x20, 0), f(0x94, 7), f(0x16)], [0, 0, 0, 100]), 100 % 7);
  assert.equal(run([f(0x20, 2), f(0x06, 5)], [1, 2, 3]), 0);
  assert.equal(run([f(0x01, 0), f(0x00, 9), f(0x3c), f(0x06, 5)], []), 0);
  assert.equal(run([f(0x80), f(0x16)], [1, 2, 3]), 3, 'A = len');
  assert.equal(run([f(0xb1, 0), f(0x87), f(0x16)], [0x45]), 20, 'X = 4*(P[0]&0xf) (MSH), A = X');
  assert.equal(run([f(0x20, (SKF_AD_OFF + SKF_AD_CPU) >>> 0), f(0x16)], []), 3, 'SKF_AD_CPU');
  assert.equal(run([f(0x00, 5), f(0x15, 5, 0, 1), f(0x06, 1), f(0x06, 2)], []), 1);
});

test('SKF_AD_CPU program: the receiving CPU picks the socket (reuseport_bpf_cpu)', () => {
  const sim = new SimKernel({ cpus: 4 });
  const g = group(sim, 4);
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, encodeClassic([f(0x20, (SKF_AD_OFF + SKF_AD_CPU) >>> 0), f(0x16)]));
  const c = sim.socket(AF_INET, SOCK_DGRAM);
  for (let cpu = 0; cpu < 4; cpu++) {
    sim.setCpu(cpu);
    sim.sendto(c, be32(0), '127.0.0.1', g.port);
    assert.deepEqual(sim.poll(g.fds).filter((p) => p.revents & POLLIN).map((p) => p.fd), [g.fds[cpu]]);
    sim.recvfrom(g.fds[cpu]!);
  }
});
