/**
 * The two kernels a scenario table runs against. Each factory gives a fresh kernel per
 * subtest: a new SimKernel, or the LinuxKernel inside a fresh private network namespace (the
 * selftests call netns_new() per subtest, and TFO/syncookie sysctls are per-netns).
 *
 * The modules are imported dynamically so a table still compiles and reports clearly while a
 * kernel is being written; an unavailable kernel is reported as a skip naming the reason (or a
 * failure when REUSEPORT_REQUIRE_KERNEL=1 and the kernel is linux).
 */
import type { Kernel } from '../../src/kernel/index.js';

export interface KernelTarget {
  readonly kind: 'sim' | 'linux';
  /** Why this kernel cannot run here, or null. */
  readonly unavailable: string | null;
  /** A fresh kernel (and, for linux, a fresh network namespace with lo up). */
  fresh(): Kernel;
  /** Release what fresh() created (closes nothing the test did not open). */
  release(k: Kernel): void;
}

type AnyModule = Record<string, unknown>;

async function tryImport(spec: string): Promise<AnyModule | string> {
  try {
    return (await import(spec)) as AnyModule;
  } catch (e) {
    return `cannot load ${spec}: ${(e as Error).message.split('\n')[0]}`;
  }
}

export async function simTarget(): Promise<KernelTarget> {
  let mod = await tryImport(new URL('../../src/sim/index.js', import.meta.url).href);
  if (typeof mod === 'string') {
    const direct = await tryImport(new URL('../../src/sim/sim_kernel.js', import.meta.url).href);
    if (typeof direct !== 'string') mod = direct;
  }
  const Ctor = typeof mod === 'string' ? undefined : (mod.SimKernel as (new () => Kernel) | undefined);
  const unavailable = typeof mod === 'string' ? mod : Ctor ? null : 'src/sim does not export SimKernel';
  return {
    kind: 'sim',
    unavailable,
    fresh: () => {
      if (!Ctor) throw new Error(unavailable ?? 'SimKernel unavailable');
      return new Ctor();
    },
    release: () => {},
  };
}

/**
 * LinuxKernel in a fresh private network namespace per scenario (src/linux unshareNetns():
 * unshare(CLONE_NEWNET) on the main thread + `ip link set lo up`). Sockets of earlier scenarios
 * stay in their old namespaces, so fixed ports and per-netns sysctls never collide.
 */
export async function linuxTarget(): Promise<KernelTarget> {
  const mod = await tryImport(new URL('../../src/linux/index.js', import.meta.url).href);
  let unavailable: string | null = null;
  let make: (() => Kernel) | undefined;
  let enter: (() => void) | undefined;
  if (typeof mod === 'string') unavailable = mod;
  else {
    const Ctor = mod.LinuxKernel as ((new () => Kernel) & { probe?: () => { ok: boolean; reason: string } }) | undefined;
    const unshare = mod.unshareNetns as (() => void) | undefined;
    if (!Ctor) unavailable = 'src/linux does not export LinuxKernel';
    else if (typeof unshare !== 'function') unavailable = 'src/linux does not export unshareNetns';
    else {
      const probe = Ctor.probe?.();
      if (probe && !probe.ok) unavailable = probe.reason;
      else {
        try {
          unshare(); // also proves we may create namespaces (root / CAP_SYS_ADMIN)
          make = () => new Ctor();
          enter = unshare;
        } catch (e) {
          unavailable = `cannot create a private network namespace: ${(e as Error).message}`;
        }
      }
    }
  }
  let shared: Kernel | undefined;
  return {
    kind: 'linux',
    unavailable,
    fresh: () => {
      if (!make || !enter) throw new Error(unavailable ?? 'LinuxKernel unavailable');
      enter();
      shared ??= make();
      return shared;
    },
    release: () => {},
  };
}

/** Both targets, sim first. */
export async function targets(): Promise<KernelTarget[]> {
  return [await simTarget(), await linuxTarget()];
}

/** True when CI demands the real kernel (REUSEPORT_REQUIRE_KERNEL=1): unavailability fails. */
export const requireKernel = process.env.REUSEPORT_REQUIRE_KERNEL === '1';
