/**
 * A reuseport group built only through the Kernel interface, so the same policy scenario runs on
 * SimKernel and on the real kernel: N SO_REUSEPORT listeners (TCP) or bound sockets (UDP) on
 * 127.0.0.1:port, the group's Steering maps and program, and clients that connect/send from
 * chosen source addresses. `deliveries()` says which listener got what.
 */
import {
  AF_INET, AF_INET6, POLLIN, IPPROTO_TCP, IPPROTO_UDP, SO_ATTACH_REUSEPORT_EBPF, SO_REUSEPORT, SO_REUSEADDR,
  SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, type Kernel,
} from '../../src/kernel/index.js';
import type { Policy, SteerEntry } from '../../src/policies/index.js';
import { Steering } from '../../src/group/steering.js';

export interface Harness {
  kernel: Kernel;
  steering: Steering;
  fds: number[];
  port: number;
  /** Steer to these slots (weights default 1). */
  steer(slots: readonly (number | SteerEntry)[]): void;
  /** One TCP connection (or one UDP datagram) from saddr:sport; returns the listener index. */
  hit(saddr?: string, sport?: number): number;
  /** n hits from 127.0.0.1 with fresh ports; counts per listener. */
  hits(n: number): number[];
  /** Close listener i (its worker exited): the kernel empties its sockarray slot. */
  closeListener(i: number): void;
  close(): void;
}

let nextPort = 20000;

export function makeHarness(kernel: Kernel, proto: 'tcp' | 'udp', n: number, policy: Policy, family: 4 | 6 = 4): Harness {
  const af = family === 6 ? AF_INET6 : AF_INET;
  const any = family === 6 ? '::' : '127.0.0.1';
  const dst = family === 6 ? '::1' : '127.0.0.1';
  const port = nextPort++;
  const type = proto === 'tcp' ? SOCK_STREAM : SOCK_DGRAM;
  const fds: number[] = [];
  const clients: number[] = [];
  for (let i = 0; i < n; i++) {
    const fd = kernel.socket(af, type, proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP);
    kernel.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    kernel.bind(fd, any, port);
    if (proto === 'tcp') kernel.listen(fd, 128);
    fds.push(fd);
  }
  const steering = new Steering(kernel, proto);
  const prog = steering.load(policy);
  steering.commit(prog);
  fds.forEach((fd, slot) => steering.setSocket(slot, fd));
  kernel.setsockopt(fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog.fd);

  /** Which listener has something queued (accept or recv it). */
  const collect = (): number => {
    for (let round = 0; round < 200; round++) {
      const ready = kernel.poll(fds.filter((fd) => fd >= 0), round === 0 ? 0 : 10);
      for (const r of ready) {
        if (!(r.revents & POLLIN)) continue;
        const i = fds.indexOf(r.fd);
        if (proto === 'tcp') kernel.close(kernel.accept(r.fd));
        else kernel.recvfrom(r.fd);
        return i;
      }
    }
    throw new Error('nothing was delivered to any listener');
  };

  const h: Harness = {
    kernel,
    steering,
    fds,
    port,
    steer(slots) {
      steering.setSteerable(slots.map((s) => (typeof s === 'number' ? { slot: s, weight: 1 } : s)));
    },
    hit(saddr = dst, sport) {
      const c = kernel.socket(af, type, proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP);
      // SO_REUSEADDR only for an explicit port: with it, Linux may hand two open UDP sockets the
      // same ephemeral port, which is one flow to a flow-keeping policy.
      if (sport !== undefined) kernel.setsockopt(c, SOL_SOCKET, SO_REUSEADDR, 1);
      kernel.bind(c, saddr, sport ?? 0);
      if (proto === 'tcp') {
        kernel.connect(c, dst, port);
        clients.push(c);
      } else {
        kernel.sendto(c, Uint8Array.of(1, 2, 3, 4), dst, port);
        // keep it open: a reused ephemeral port would be the same 4-tuple, i.e. the same flow
        clients.push(c);
      }
      return collect();
    },
    hits(count) {
      const per = fds.map(() => 0);
      for (let i = 0; i < count; i++) per[h.hit()]!++;
      return per;
    },
    closeListener(i) {
      kernel.close(fds[i]!);
      fds[i] = -1;
    },
    close() {
      for (const c of clients.splice(0)) try { kernel.close(c); } catch { /* closed */ }
      for (const fd of fds) if (fd >= 0) try { kernel.close(fd); } catch { /* closed */ }
      steering.close();
    },
  };
  return h;
}
