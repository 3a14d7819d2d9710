#!/usr/bin/env node
/**
 * reuseport CLI.
 *   reuseport serve <script> --port P [--workers N] [--policy NAME] [--host H] [--udp]
 *                   [--backend kernel|cbpf|emulated] [--user U]
 *   reuseport demo  [--workers N] [--requests N] [--backend ...]
 *   reuseport policies
 *   reuseport asm | disasm | run | test-run ...   (the eBPF toolchain: cmd_*.ts)
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { ReuseportGroup, type GroupOptions } from '../group/reuseport_group.js';
import { GroupError } from '../group/errors.js';
import { POLICIES } from '../policies/index.js';
import { attachOutput, barChart, formatError, jsonLine, type Out } from './output.js';
import { runLoad } from './load.js';
import { ASM_USAGE, cmdAsm } from './cmd_asm.js';
import { DISASM_USAGE, cmdDisasm } from './cmd_disasm.js';
import { RUN_USAGE, cmdRun } from './cmd_run.js';
import { TEST_RUN_USAGE, cmdTestRun } from './cmd_test_run.js';

export const USAGE = `Usage:
  reuseport serve <script> --port P [options]   run <script> (an ordinary Node server) on N workers
  reuseport demo [options]                      end-to-end demo on loopback (no root needed)
  reuseport policies                            list the built-in policies

eBPF toolchain:
  reuseport asm <file.s|-> [-o out.bin]         assemble (without -o: hex, one instruction per line)
  reuseport disasm <file.bin|-> [--hex]         disassemble raw or hex bytecode
  reuseport run <file.s|.bin|.data> [options]   run in the VM (conformance contract), print r0
  reuseport test-run --policy NAME|--program F --from ADDR:PORT [options]
                                                run a policy on a simulated group for a packet

serve options:
  -p, --port P            port the workers listen on (required)
  -w, --workers N         number of workers (default: number of CPUs)
      --policy NAME       round-robin (default), hash, weighted, sticky, least-loaded
      --host H            address to listen on (default :: = IPv4 and IPv6)
      --udp               the workers bind() UDP sockets instead of listen()ing TCP
      --backend B         kernel | cbpf | emulated (default: kernel if bpf() is usable)
      --user U            run workers as user U (the primary keeps bpf())
      --ready-timeout MS  a worker must listen within MS (default 10000)
      --drain-timeout MS  a draining worker is killed after MS (default 10000)
      --json              JSON-lines logs even on a terminal
signals: SIGHUP = rolling restart, SIGTERM/SIGINT = graceful shutdown

demo options:
  -w, --workers N         (default 4)   -n, --requests N  (default 4000)
  -c, --concurrency N     (default 16)  --policy NAME     --backend B

${ASM_USAGE}
${DISASM_USAGE}
${RUN_USAGE}
${TEST_RUN_USAGE}
exit codes (toolchain): 0 ok, 1 bad input file or the program failed, 2 bad command line
`;

interface Io {
  out: Out;
  err: Out;
  /** Signals the command listens to (process by default; tests inject an emitter). */
  signals: NodeJS.EventEmitter;
}

const defaultIo = (): Io => ({
  out: { write: (s) => void process.stdout.write(s), isTTY: Boolean(process.stdout.isTTY) },
  err: { write: (s) => void process.stderr.write(s), isTTY: Boolean(process.stderr.isTTY) },
  signals: process,
});

class UsageError extends Error {}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number, got '${v}'`);
  return Number(v);
}

function backendOpt(v: string | undefined): GroupOptions['backend'] {
  if (v === undefined) return 'auto';
  if (!['kernel', 'cbpf', 'emulated', 'auto'].includes(v)) throw new UsageError(`--backend must be kernel, cbpf or emulated, got '${v}'`);
  return v as GroupOptions['backend'];
}

async function serve(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string', short: 'p' },
      workers: { type: 'string', short: 'w' },
      policy: { type: 'string' },
      host: { type: 'string' },
      udp: { type: 'boolean' },
      backend: { type: 'string' },
      user: { type: 'string' },
      'ready-timeout': { type: 'string' },
      'drain-timeout': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const script = positionals[0];
  if (!script) throw new UsageError('serve needs the worker script: reuseport serve server.js --port 8080');
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}' (worker arguments go after --)`);
  const port = num(values.port, 'port');
  if (port === undefined) throw new UsageError('serve needs --port');
  const group = new ReuseportGroup({
    script,
    port,
    workers: num(values.workers, 'workers'),
    policy: values.policy,
    host: values.host,
    proto: values.udp ? 'udp' : 'tcp',
    backend: backendOpt(values.backend),
    user: values.user,
    readyTimeoutMs: num(values['ready-timeout'], 'ready-timeout'),
    drainTimeoutMs: num(values['drain-timeout'], 'drain-timeout'),
  });
  const json = values.json === true || !io.out.isTTY;
  const detach = attachOutput(group, io.out, { json });
  group.once('backend', (b: { kind: string; reason: string }) => {
    // The one line that says which backend runs and why (stderr on a TTY keeps the table clean).
    if (json) return;
    io.err.write(`reuseport: backend ${b.kind}: ${b.reason}\n`);
  });
  try {
    await group.start();
  } catch (err) {
    detach();
    throw err;
  }
  if (json) jsonLine(io.out, 'ready', { workers: group.workers().length, port, policy: group.policyName, backend: group.backendKind });
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const onHup = (): void => {
      if (stopping) return;
      if (json) jsonLine(io.out, 'restart-begin', {});
      group.rollingRestart().catch((err: Error) => {
        if (json) jsonLine(io.out, 'restart-failed', { message: err.message });
        else io.err.write(formatError(err));
      });
    };
    const onStop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      if (json) jsonLine(io.out, 'shutdown-begin', { signal: sig });
      group.shutdown().then(() => {
        if (json) jsonLine(io.out, 'shutdown-complete', {});
        cleanup();
        resolveExit(0);
      }, (err: Error) => {
        io.err.write(formatError(err));
        cleanup();
        resolveExit(1);
      });
    };
    const term = (): void => onStop('SIGTERM');
    const int = (): void => onStop('SIGINT');
    const cleanup = (): void => {
      detach();
      io.signals.off('SIGHUP', onHup);
      io.signals.off('SIGTERM', term);
      io.signals.off('SIGINT', int);
    };
    io.signals.on('SIGHUP', onHup);
    io.signals.on('SIGTERM', term);
    io.signals.on('SIGINT', int);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function demo(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      workers: { type: 'string', short: 'w' },
      requests: { type: 'string', short: 'n' },
      concurrency: { type: 'string', short: 'c' },
      policy: { type: 'string' },
      backend: { type: 'string' },
      port: { type: 'string', short: 'p' },
    },
  });
  const workers = num(values.workers, 'workers') ?? 4;
  const requests = num(values.requests, 'requests') ?? 4000;
  const concurrency = num(values.concurrency, 'concurrency') ?? 16;
  const port = num(values.port, 'port') ?? (await freePort());
  const o = io.out;
  const group = new ReuseportGroup({
    script: fileURLToPath(new URL('./demo_worker.js', import.meta.url)),
    port,
    host: '127.0.0.1',
    workers,
    policy: values.policy ?? 'round-robin',
    backend: backendOpt(values.backend),
    stdio: 'pipe',
  });
  group.on('backend', (b: { kind: string; reason: string }) => o.write(`backend: ${b.kind} (${b.reason})\n`));
  group.on('warning', (m: string) => o.write(`warning: ${m}\n`));
  o.write(`starting ${workers} hello-world HTTP workers on 127.0.0.1:${port} ...\n`);
  await group.start();
  o.write(`policy ${group.policyName}; sending ${requests}+ requests (Connection: close, ${concurrency} at a time), rolling restart halfway ...\n`);
  let restart: Promise<void> | undefined;
  let restartMs = 0;
  let restartDone = false;
  let after = 0;
  group.once('restart-complete', (r: { replaced: number; ms: number }) => {
    restartMs = r.ms;
    restartDone = true;
    o.write(`rolling restart complete: ${r.replaced} workers replaced in ${r.ms} ms\n`);
  });
  let result;
  try {
    result = await runLoad({
      host: '127.0.0.1',
      port,
      concurrency,
      requests,
      keepAlive: false,
      // traffic flows through the whole restart and a quarter of the requests after it
      keepGoing: () => !restartDone || after++ < requests / 4,
      at: {
        count: Math.floor(requests / 2),
        run: () => {
          o.write('restarting all workers (new generation up before the old one drains) ...\n');
          restart = group.rollingRestart();
        },
      },
    });
    await restart;
  } finally {
    await group.shutdown();
  }
  const rps = (result.ok / result.elapsedMs) * 1000;
  o.write(`\nrequests per worker (workers 1-${workers} before the restart, ${workers + 1}-${2 * workers} after):\n`);
  o.write(barChart(result.byWorker) + '\n\n');
  o.write(`${result.ok} ok, ${result.failed} failed${result.failed ? ' ' + JSON.stringify(result.errors) : ''}; ${rps.toFixed(0)} req/s; restart took ${restartMs} ms\n`);
  o.write(result.failed === 0 ? 'zero failed requests across the rolling restart.\n' : 'FAILED requests during the restart.\n');
  return result.failed === 0 ? 0 : 1;
}

function policies(io: Io): number {
  for (const p of POLICIES.values()) io.out.write(`${p.name.padEnd(14)} ${p.description}\n`);
  return 0;
}

/** Run the CLI; resolves with the exit code. Never throws. */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        return await serve(rest, io);
      case 'demo':
        return await demo(rest, io);
      case 'policies':
        return policies(io);
      case 'asm':
        return await cmdAsm(rest, io);
      case 'disasm':
        return await cmdDisasm(rest, io);
      case 'run':
        return await cmdRun(rest, io);
      case 'test-run':
        return await cmdTestRun(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err.write(`reuseport: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    io.err.write(formatError(err));
    return err instanceof GroupError ? 1 : 70;
  }
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1]);
if (invokedDirectly) {
  // `reuseport asm x.s | head`: a closed pipe ends a toolchain command quietly, as SIGPIPE would
  if (['asm', 'disasm', 'run', 'test-run'].includes(process.argv[2] ?? '')) {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
