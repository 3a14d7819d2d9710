/**
 * BPF_PROG_TEST_RUN (bpf(2) cmd 10): run a loaded SOCKET_FILTER or XDP program once (or
 * `repeat` times) on a packet the caller supplies, and read back its 32-bit return value,
 * the packet as the program left it, and the mean duration of one run in ns.
 *
 * Not part of src/linux: the product never runs programs this way (SK_REUSEPORT programs have
 * no test_run: ENOTSUPP), only the tests that compare the VM with the kernel do. It reuses the
 * Linux backend's koffi binding of syscall(2) rather than binding libc a second time.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { BPF_PROG_TEST_RUN, BPF_PROG_TYPE_SOCKET_FILTER } from '../../src/kernel/constants.js';
import { SysError } from '../../src/kernel/errno.js';
import { BPF_ATTR_SIZE } from '../../src/linux/bpf_syscall.js';
import type { LinuxKernel } from '../../src/linux/index.js';
import { libc, SYS_BPF } from '../../src/linux/libc.js';
import { REQUIRE_KERNEL, requireKernel } from './netns.js';

/**
 * bpf_attr.test (include/uapi/linux/bpf.h, "anonymous struct used by BPF_PROG_TEST_RUN command"):
 * prog_fd @0, retval @4, data_size_in @8, data_size_out @12, data_in @16, data_out @24,
 * repeat @32, duration @36, ctx_size_in @40, ctx_size_out @44, ctx_in @48, ctx_out @56,
 * flags @64, cpu @68, batch_size @72 (5.18+). Unused trailing fields stay zero.
 */
const OFF = {
  progFd: 0, retval: 4, dataSizeIn: 8, dataSizeOut: 12, dataIn: 16, dataOut: 24,
  repeat: 32, duration: 36, ctxSizeIn: 40, ctxSizeOut: 44, ctxIn: 48, ctxOut: 56, flags: 64, cpu: 68,
} as const;

/** ETH_HLEN: bpf_test_init() refuses a shorter data_in with EINVAL (skb and xdp alike). */
export const MIN_TEST_RUN_DATA = 14;

export interface TestRunOptions {
  /** Packet bytes (data_in); at least MIN_TEST_RUN_DATA bytes. */
  data: Uint8Array;
  /** Room for the packet after the run (data_out); default data.length, 0 for none. */
  dataOutSize?: number;
  /** Runs in one call; `duration` is then the mean per run (default 1). */
  repeat?: number;
}

export interface TestRunResult {
  /** The program's return value: 32 bits, unsigned (the kernel's retval is a u32). */
  retval: number;
  /** Mean duration of one run, in ns, as the kernel measured it (u32). */
  duration: number;
  /** The packet after the run (data_size_out bytes), empty when no room was given. */
  data: Uint8Array;
}

const attr = Buffer.alloc(BPF_ATTR_SIZE);

/** One BPF_PROG_TEST_RUN call; throws SysError('bpf(BPF_PROG_TEST_RUN)', errno) when refused. */
export function progTestRun(progFd: number, opts: TestRunOptions): TestRunResult {
  const c = libc();
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) throw new Error(`no bpf(2) syscall number for ${process.arch}`);
  const dataIn = Buffer.from(opts.data);
  const outSize = opts.dataOutSize ?? dataIn.length;
  const dataOut = Buffer.alloc(Math.max(outSize, 1)); // never a zero-length Buffer: its address may be NULL
  const a = attr.fill(0);
  a.writeUInt32LE(progFd >>> 0, OFF.progFd);
  a.writeUInt32LE(dataIn.length, OFF.dataSizeIn);
  a.writeUInt32LE(outSize, OFF.dataSizeOut);
  a.writeBigUInt64LE(c.koffi.address(dataIn) as bigint, OFF.dataIn);
  a.writeBigUInt64LE(outSize > 0 ? (c.koffi.address(dataOut) as bigint) : 0n, OFF.dataOut);
  a.writeUInt32LE((opts.repeat ?? 1) >>> 0, OFF.repeat);
  const r = c.syscall(nr, BPF_PROG_TEST_RUN, a, BPF_ATTR_SIZE) as number;
  if (r < 0) throw new SysError('bpf(BPF_PROG_TEST_RUN)', c.errno());
  const got = a.readUInt32LE(OFF.dataSizeOut);
  return {
    retval: a.readUInt32LE(OFF.retval),
    duration: a.readUInt32LE(OFF.duration),
    data: new Uint8Array(dataOut.subarray(0, outSize > 0 ? Math.min(got, outSize) : 0)),
  };
}

export type LoadOutcome = { fd: number } | { refused: SysError };

/** BPF_PROG_LOAD through the Linux backend; a verifier refusal is an outcome, not an exception. */
export function tryProgLoad(kernel: LinuxKernel, progType: number, insns: Uint8Array, name = 'diff'): LoadOutcome {
  try {
    return { fd: kernel.progLoad({ progType, insns, license: 'GPL', name }) };
  } catch (e) {
    if (e instanceof SysError && e.syscall === 'bpf(BPF_PROG_LOAD)') return { refused: e };
    throw e;
  }
}

/** The last meaningful line of a verifier log (the reason it refused), for summaries. */
export function verifierReason(e: SysError): string {
  const lines = (e.log ?? '').split('\n').map((l) => l.trim()).filter(Boolean)
    .filter((l) => !/^(processed \d+ insns|verification time|stack depth|mark_precise)/.test(l));
  return `${e.code}: ${lines.at(-1) ?? e.message}`;
}

let testRunState: { ok: boolean; reason: string } | undefined;

/**
 * The kernel, when this process can load SOCKET_FILTER programs and BPF_PROG_TEST_RUN them;
 * otherwise skips `t` naming the reason (fails it under REUSEPORT_REQUIRE_KERNEL=1, as in CI).
 */
export function requireTestRun(t: TestContext): LinuxKernel | undefined {
  const kernel = requireKernel(t);
  if (!kernel) return undefined;
  if (!testRunState) {
    // mov r0, 42; exit
    const insns = Uint8Array.from([0xb7, 0, 0, 0, 42, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    const load = tryProgLoad(kernel, BPF_PROG_TYPE_SOCKET_FILTER, insns, 'probe');
    if ('refused' in load) {
      testRunState = { ok: false, reason: `BPF_PROG_LOAD of a SOCKET_FILTER program refused: ${load.refused.message}` };
    } else {
      try {
        const r = progTestRun(load.fd, { data: new Uint8Array(MIN_TEST_RUN_DATA) });
        testRunState = r.retval === 42 ? { ok: true, reason: 'ok' } : { ok: false, reason: `probe returned ${r.retval}, not 42` };
      } catch (e) {
        testRunState = { ok: false, reason: `BPF_PROG_TEST_RUN refused: ${(e as Error).message}` };
      } finally {
        kernel.close(load.fd);
      }
    }
  }
  if (testRunState.ok) return kernel;
  const reason = `kernel test runs unavailable: ${testRunState.reason}`;
  if (REQUIRE_KERNEL) assert.fail(`${reason} (REUSEPORT_REQUIRE_KERNEL=1 forbids skipping)`);
  t.skip(reason);
  return undefined;
}
