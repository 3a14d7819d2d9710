/**
 * Pick the backend: the kernel when this process can load SK_REUSEPORT programs, else the
 * emulated one (same bytecode, run in the simulator by the primary), or the kernel's plain
 * hash (cbpf) when that is all the policy needs. Forced choices that cannot work here fail with
 * the reason and the fix.
 */
import type { Policy } from '../policies/index.js';
import type { Backend } from './backend.js';
import { GroupError } from './errors.js';
import type { BackendKind, Proto } from './protocol.js';

export interface BackendChoice {
  backend: Backend;
}

async function probeKernel(): Promise<{ ok: boolean; reason: string; kernel?: import('../kernel/index.js').Kernel }> {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (${process.platform})` };
  try {
    const linux = await import('../linux/index.js');
    const p = linux.LinuxKernel.probe();
    if (!p.ok) return p;
    return { ok: true, reason: p.reason, kernel: linux.defaultKernel() };
  } catch (err) {
    return { ok: false, reason: `Linux backend unavailable: ${(err as Error).message}` };
  }
}

async function emulated(reason: string, proto: Proto): Promise<Backend> {
  const { EmulatedBackend } = await import('./emulated_backend.js');
  return new EmulatedBackend(reason, proto);
}

export async function chooseBackend(requested: BackendKind | 'auto', policy: Policy, proto: Proto): Promise<BackendChoice> {
  const { KernelBackend } = await import('./kernel_backend.js');
  const { CbpfBackend } = await import('./cbpf_backend.js');
  switch (requested) {
    case 'kernel': {
      const p = await probeKernel();
      if (!p.ok || !p.kernel) {
        throw new GroupError('EPRIVILEGE', `the kernel backend cannot run here: ${p.reason}`, {
          hint: 'run as root (CAP_BPF + CAP_NET_ADMIN), or use --backend emulated (no privileges needed)',
        });
      }
      return { backend: new KernelBackend(p.kernel, `forced: ${p.reason}`) };
    }
    case 'cbpf':
      if (process.platform !== 'linux') {
        throw new GroupError('EBACKEND', `the cbpf backend needs Linux SO_REUSEPORT (this is ${process.platform})`, { hint: 'use --backend emulated' });
      }
      return { backend: new CbpfBackend("forced: per-worker SO_REUSEPORT sockets, the kernel's hash or a classic BPF program picks (no privilege needed)") };
    case 'emulated':
      return { backend: await emulated(`forced: the primary runs policy '${policy.name}' in the simulator and hands connections over`, proto) };
    case 'auto': {
      const p = await probeKernel();
      if (p.ok && p.kernel) return { backend: new KernelBackend(p.kernel, `${p.reason}: SK_REUSEPORT program over per-worker SO_REUSEPORT sockets`) };
      if (process.platform === 'linux' && (policy.name === 'hash' || policy.name === 'sticky')) {
        return { backend: new CbpfBackend(`no bpf() (${p.reason}): per-worker SO_REUSEPORT sockets, ${policy.name === 'hash' ? "the kernel's own hash" : 'a classic BPF program'} picks`) };
      }
      return {
        backend: await emulated(`no bpf() (${p.reason}): the primary runs policy '${policy.name}' in the simulator and hands each connection to its worker`, proto),
      };
    }
  }
  throw new GroupError('EINVALIDOPTION', `unknown backend '${String(requested)}'`, { hint: 'use kernel, cbpf, emulated or auto' });
}
