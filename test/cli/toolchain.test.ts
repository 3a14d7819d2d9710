/**
 * The toolchain commands as a user runs them: the built CLI (dist/cli/main.js, `npm run build`)
 * in a child process. asm/disasm round trips on bpf_conformance programs, `run` under the
 * conformance contract, assembler diagnostics with file:line:col, `test-run` on a simulated
 * group (round-robin distribution, a dropping program, a program selecting by map name), and
 * the exit codes of bad input: 2 = bad command line, 1 = bad input file or failing program.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble, disassemble } from '../../src/ebpf/index.js';
import { defaultHelpers, loadProgram, Memory } from '../../src/vm/index.js';
import { CONFORMANCE_TESTS, parseConformanceData } from '../support/conformance.js';

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const CLI = join(projectRoot(), 'dist', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'rp-toolchain-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

interface Run { code: number | null; out: string; err: string }

function cli(args: string[], input?: string | Uint8Array): Run {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build first`);
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const file = (name: string, content: string | Uint8Array): string => {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
};
const conformance = (name: string) => {
  const path = join(CONFORMANCE_TESTS, name);
  return parseConformanceData(name, readFileSync(path, 'utf8'), path);
};

/** A usage or input error: one line on stderr naming the problem, no stack trace, nothing on stdout. */
function assertOneLineError(r: Run, code: number, pattern: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit code (stderr: ${r.err})`);
  assert.equal(r.out, '', `${what}: nothing on stdout`);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, got:\n${r.err}`);
  assert.match(lines[0]!, pattern, what);
  assert.doesNotMatch(r.err, /\n\s+at |Error:/, `${what}: no stack trace`);
}

test('asm -> disasm -> asm reproduces conformance programs byte for byte (binary, hex on stdout, stdin)', () => {
  for (const name of ['prime.data', 'lddw.data', 'call_local.data', 'lock_cmpxchg.data', 'jeq-imm.data']) {
    const f = conformance(name);
    const expected = assemble(f.asm!);
    const bin = join(tmp, `${name}.bin`);
    const a = cli(['asm', f.path, '-o', bin]);
    assert.equal(a.code, 0, `${name}: ${a.err}`);
    assert.deepEqual(new Uint8Array(readFileSync(bin)), expected, `${name}: asm -o bytes`);
    assert.match(a.err, new RegExp(`${expected.length / 8} instructions \\(${expected.length} bytes\\)`));

    const d = cli(['disasm', bin]);
    assert.equal(d.code, 0, `${name}: ${d.err}`);
    assert.equal(d.out, disassemble(expected).replace(/\n?$/, '\n'), `${name}: disasm text`);
    const back = join(tmp, `${name}.s`);
    writeFileSync(back, d.out);
    const again = join(tmp, `${name}.2.bin`);
    assert.equal(cli(['asm', back, '-o', again]).code, 0);
    assert.deepEqual(new Uint8Array(readFileSync(again)), expected, `${name}: round trip`);

    // without -o: one 8-byte slot per line as hex, which disasm reads from stdin
    const hex = cli(['asm', f.path]);
    assert.equal(hex.code, 0);
    assert.equal(hex.out.trimEnd().split('\n').length, expected.length / 8);
    assert.match(hex.out, /^([0-9a-f]{2} ){7}[0-9a-f]{2}$/m);
    assert.equal(cli(['disasm', '-'], hex.out).out, d.out, `${name}: hex via stdin`);
  }
});

test('disasm reads the conformance -- raw format (0x words are little-endian slots) and --hex forces hex', () => {
  const f = conformance('lddw.data');
  const raw = f.sections['raw']!;
  const p = file('lddw.hex', raw);
  const d = cli(['disasm', '--hex', p]);
  assert.equal(d.code, 0, d.err);
  assert.equal(d.out, disassemble(f.raw!).replace(/\n?$/, '\n'));
  assert.match(d.out, /^lddw %r0, 0x1122334455667788$/m);
  assert.equal(cli(['disasm', p]).out, d.out, 'sniffed as hex without --hex');
});

test('run: prime.data gives r0 = 0x1 with the interpreter\'s exact instruction count, on both engines', () => {
  const f = conformance('prime.data');
  const prog = loadProgram(assemble(f.asm!), { helpers: defaultHelpers, mode: 'interpreter' });
  const mem = new Memory();
  const region = mem.map(new Uint8Array(0));
  prog.run(mem, region.base, 0);
  assert.equal(prog.r0(), f.result);

  const r = cli(['run', f.path]);
  assert.equal(r.code, 0, r.err);
  const r0 = /^r0 = 0x([0-9a-f]+) \((\d+)\)$/m.exec(r.out);
  assert.ok(r0, r.out);
  assert.equal(BigInt(`0x${r0[1]}`), 1n);
  assert.equal(BigInt(r0[2]!), 1n);
  assert.equal(Number(/^instructions: (\d+)$/m.exec(r.out)?.[1]), prog.insnCount);

  // the same program as a .s file and as bytecode, and on the compiled engine
  const s = file('prime.s', f.asm!);
  const bin = file('prime.bin', assemble(f.asm!));
  for (const args of [['run', s], ['run', bin], ['run', bin, '--engine', 'compiled']]) {
    const o = cli(args);
    assert.equal(o.code, 0, o.err);
    assert.match(o.out, /^r0 = 0x1 \(1\)$/m, args.join(' '));
  }
});

test('run: --mem is the input memory (r1 = its address, r2 = its length); writes are shown', () => {
  const ldxb = file('ldxb.s', 'ldxb %r0, [%r1+2]\nexit\n');
  assert.match(cli(['run', ldxb, '--mem', 'aa bb 11 cc dd']).out, /^r0 = 0x11 \(17\)$/m);
  assert.match(cli(['run', file('len.s', 'mov %r0, %r2\nexit\n'), '--mem', 'aabbccddee']).out, /^r0 = 0x5 \(5\)$/m);
  const st = cli(['run', file('st.s', 'stb [%r1+1], 0x7f\nmov %r0, -1\nexit\n'), '--mem', '00000000']);
  assert.match(st.out, /^r0 = 0xffffffffffffffff \(18446744073709551615, signed -1\)$/m);
  assert.match(st.out, /^mem after the run:\n00 7f 00 00$/m);
});

test('run: a VM fault or an exhausted budget is `error at pc N: reason`, exit 1', () => {
  assertOneLineError(cli(['run', file('null.s', 'mov %r0, 0\nmov %r0, 1\nldxw %r0, [%r3+0]\nexit\n')]), 1, /^reuseport run: error at pc 2: out-of-bounds/, 'null load');
  assertOneLineError(cli(['run', file('loop.s', 'mov %r0, 0\nloop:\nadd %r0, 1\nja loop\n'), '--budget', '100']), 1, /^reuseport run: error at pc \d+: budget-exceeded/, 'budget');
  assertOneLineError(cli(['run', file('trunc.bin', new Uint8Array([0x18, 0, 0, 0, 0, 0, 0, 0]))]), 1, /^reuseport run: bad bytecode: instruction 0: /, 'lddw without its second slot');
});

test('asm errors are file:line:col: reason with the source line and a caret, exit 1', () => {
  const src = '# comment\nmov %r0, 1\nadd32 %r0, 2147483648\nexit\n';
  const p = file('bad.s', src);
  const r = cli(['asm', p]);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  const [head, line, caret] = r.err.trimEnd().split('\n');
  assert.equal(head, `reuseport asm: ${p}:3:12: immediate 2147483648 is out of range for 32 bits (-2147483648..2147483647)`);
  assert.equal(line, '  add32 %r0, 2147483648');
  assert.equal(caret!.indexOf('^'), line!.indexOf('2147483648'), 'caret under the bad operand');

  // inside a .data file the line is the file's line, not the section's
  const data = file('bad.data', '# header\n-- asm\nmov %r0, 1\nfoo %r1\nexit\n-- result\n0x1\n');
  assert.match(cli(['asm', data]).err, new RegExp(`^reuseport asm: ${data}:4:1: Invalid mnemonic 'foo'`));
  // an unknown map name says which names exist (none for plain asm; --map gives them)
  const m = file('map.s', 'lddw %r2, map_fd socks\nmov %r0, 1\nexit\n');
  assert.match(cli(['asm', m]).err, /map\.s:1:18: .*socks.*maps known here: none/);
  const ok = cli(['asm', m, '--map', 'socks=7']);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /^18 12 00 00 07 00 00 00$/m, 'ld_imm64 dst r2, src 1 (map fd), imm 7');
});

/** `socket N: count` lines and the drop line of a test-run distribution. */
function distribution(out: string): { sockets: number[]; drop: number } {
  const sockets: number[] = [];
  for (const m of out.matchAll(/^ {2}socket +(\d+): +(\d+) /gm)) sockets[Number(m[1])] = Number(m[2]);
  const drop = /^ {2}drop +: +(\d+) /m.exec(out);
  assert.ok(drop, out);
  return { sockets, drop: Number(drop[1]) };
}

test('test-run: round-robin over 4 workers, 8 packets: each socket twice, in order', () => {
  const r = cli(['test-run', '--policy', 'round-robin', '--workers', '4', '--from', '127.0.0.1:40000', '--count', '8']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(distribution(r.out), { sockets: [2, 2, 2, 2], drop: 0 });
  const order = [...r.out.matchAll(/^ {2}sport +(\d+) +SK_PASS +socket (\d+)/gm)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => [40000 + i, i % 4]));
  assert.match(r.out, /^hash fallbacks: 0;/m);
});

test('test-run: one packet shows verdict, socket, cookie, helper calls with args and returns, instruction count', () => {
  const r = cli(['test-run', '--policy', 'round-robin', '--proto', 'udp', '--from', '127.0.0.1:5000', '--to', '127.0.0.1:53', '--payload', '00000003']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^packet: UDP 127\.0\.0\.1:5000 -> 127\.0\.0\.1:53, payload 4 bytes, hash 0x[0-9a-f]{8} \(4-tuple\)$/m);
  assert.match(r.out, /^verdict: SK_PASS$/m);
  assert.match(r.out, /^selected: socket 0 \(fd \d+, cookie \d+\)$/m);
  assert.match(r.out, /^ {2}bpf_sk_select_reuseport\(ctx, map socks, fp-\d+, 0\) = 0$/m);
  assert.match(r.out, /^ {2}bpf_map_lookup_elem\(map state, fp-\d+\) = &state\+0 \(value\)$/m);
  const calls = Number(/^helper calls: (\d+)$/m.exec(r.out)?.[1]);
  assert.equal(r.out.split('\n').filter((l) => /^ {2}bpf_/.test(l)).length, calls);
  assert.ok(Number(/^instructions: (\d+)$/m.exec(r.out)?.[1]) > 0);
  // IPv6, TCP, a fixed hash
  const v6 = cli(['test-run', '--policy', 'hash', '--from', '[::1]:4000', '--hash', '0x12345678']);
  assert.equal(v6.code, 0, v6.err);
  assert.match(v6.out, /^packet: TCP \[::1\]:4000 -> \[::1\]:8080, payload 0 bytes, hash 0x12345678$/m);
});

test('test-run --program: SK_DROP drops; a program selecting socks[2] by map name gets socket 2; SK_PASS alone falls back to the hash', () => {
  const drop = file('drop.s', 'mov %r0, 0   # SK_DROP\nexit\n');
  const one = cli(['test-run', '--program', drop, '--from', '127.0.0.1:1234']);
  assert.equal(one.code, 0, one.err);
  assert.match(one.out, /^verdict: SK_DROP$/m);
  assert.match(one.out, /^selected: none, the packet is dropped$/m);
  assert.match(one.out, /^helper calls: 0$/m);
  assert.match(one.out, /^instructions: 2$/m);
  const many = cli(['test-run', '--program', drop, '--from', '127.0.0.1:1234', '-n', '5', '-w', '3']);
  assert.deepEqual(distribution(many.out), { sockets: [0, 0, 0], drop: 5 });

  const pick2 = file('pick2.s', [
    'mov %r6, %r1', 'stw [%r10-4], 2', 'mov %r1, %r6', 'lddw %r2, map_fd socks', 'mov %r3, %r10', 'add %r3, -4',
    'mov %r4, 0', 'call sk_select_reuseport', 'mov %r0, 1', 'exit', ''].join('\n'));
  const p = cli(['test-run', '--program', pick2, '--proto', 'udp', '--from', '127.0.0.1:9', '-n', '6']);
  assert.equal(p.code, 0, p.err);
  assert.deepEqual(distribution(p.out), { sockets: [0, 0, 6, 0], drop: 0 });
  const single = cli(['test-run', '--program', pick2, '--from', '127.0.0.1:9']);
  assert.match(single.out, /^ {2}bpf_sk_select_reuseport\(ctx, map socks, fp-4, 0\) = 0$/m);

  const pass = cli(['test-run', '--program', file('pass.s', 'mov %r0, 1\nexit\n'), '--from', '127.0.0.1:1', '-n', '20']);
  const d = distribution(pass.out);
  assert.equal(d.sockets.reduce((a, b) => a + b, 0), 20);
  assert.match(pass.out, /^hash fallbacks: 20;/m);

  // the verifier refuses a bad ctx read: exit 1 with its log
  const bad = cli(['test-run', '--program', file('badctx.s', 'ldxw %r0, [%r1+1000]\nexit\n'), '--from', '127.0.0.1:1']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /cannot load .*badctx\.s: bpf\(BPF_PROG_LOAD\): EACCES.*invalid bpf_context access off=1000/);
  assert.match(bad.err, /^verifier log:$/m);
});

test('bad input: one line naming the problem; exit 2 for the command line, 1 for files and programs', () => {
  const s = file('ok.s', 'mov %r0, 1\nexit\n');
  const cases: Array<[string[], number, RegExp]> = [
    [['asm'], 2, /missing the source file/],
    [['asm', s, '--bogus'], 2, /Unknown option '--bogus'/],
    [['asm', s, 'extra.s'], 2, /unexpected argument 'extra\.s'/],
    [['asm', s, '--map', 'socks'], 2, /--map must be NAME=FD/],
    [['asm', join(tmp, 'missing.s')], 1, /cannot read '.*missing\.s': no such file/],
    [['asm', file('prog.bin', assemble('mov %r0, 1\nexit'))], 1, /prog\.bin is binary, not assembly text/],
    [['disasm'], 2, /missing the bytecode file/],
    [['disasm', '--hex', s], 1, /'mov' is not hex \(line 1\)/],
    [['disasm', file('odd.hex', 'b7 00 00')], 1, /3 bytes is not a whole number of 8-byte instructions/],
    [['disasm', file('badop.bin', new Uint8Array([0xff, 0, 0, 0, 0, 0, 0, 0]))], 1, /bad bytecode: instruction 0/],
    [['run', s, '--mem', 'zz'], 2, /--mem: 'zz' is not hex/],
    [['run', s, '--mem', 'abc'], 2, /odd number of hex digits/],
    [['run', s, '--budget', 'lots'], 2, /--budget must be a whole number/],
    [['run', s, '--engine', 'jit'], 2, /--engine must be interpreter or compiled/],
    [['run', tmp], 1, /is a directory/],
    [['test-run', '--policy', 'fastest', '--from', '127.0.0.1:1'], 2, /unknown policy 'fastest' \(use one of: round-robin/],
    [['test-run', '--policy', 'hash'], 2, /missing --from ADDR:PORT/],
    [['test-run', '--from', '127.0.0.1:1'], 2, /exactly one of --policy NAME or --program FILE/],
    [['test-run', '--policy', 'hash', '--from', '1.2.3:80'], 2, /--from: '1\.2\.3' is not an IP address/],
    [['test-run', '--policy', 'hash', '--from', '::1:80'], 2, /--from must be ADDR:PORT \(IPv6: \[ADDR\]:PORT\)/],
    [['test-run', '--policy', 'hash', '--from', '127.0.0.1:70000'], 2, /port 70000 is not 1\.\.65535/],
    [['test-run', '--policy', 'hash', '--from', '127.0.0.1:1', '--to', '[::1]:80'], 2, /not an IPv4 address like --from/],
    [['test-run', '--policy', 'hash', '--from', '127.0.0.1:1', '--family', '6'], 2, /is not an IPv6 address/],
    [['test-run', '--policy', 'hash', '--from', '127.0.0.1:1', '--workers', '65'], 2, /--workers must be a whole number 1\.\.64/],
    [['test-run', '--policy', 'hash', '--from', '127.0.0.1:1', '--proto', 'sctp'], 2, /--proto must be tcp or udp/],
    [['test-run', '--policy', 'hash', '--from', '127.0.0.1:1', '--payload', 'xyz'], 2, /--payload: 'xyz' is not hex/],
    [['test-run', '--program', join(tmp, 'nope.s'), '--from', '127.0.0.1:1'], 1, /cannot read '.*nope\.s': no such file/],
  ];
  for (const [args, code, pattern] of cases) {
    const cmd = args[0]!;
    assertOneLineError(cli(args), code, new RegExp(`^reuseport ${cmd}: .*${pattern.source}`), args.join(' '));
  }
});

test('a closed pipe (`reuseport asm big.s | head -1`) ends the command quietly', () => {
  const big = file('big.s', 'mov %r0, 1\n'.repeat(20000) + 'exit\n');
  const r = spawnSync('/bin/sh', ['-c', `"${process.execPath}" "${CLI}" asm "${big}" | head -1`], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.stdout, 'b7 00 00 00 01 00 00 00\n');
  assert.equal(r.stderr, '', 'no EPIPE stack trace');
});

test('--help lists the toolchain commands and their options', () => {
  const r = cli(['--help']);
  assert.equal(r.code, 0);
  for (const cmd of ['asm', 'disasm', 'run', 'test-run']) assert.match(r.out, new RegExp(`^  reuseport ${cmd} `, 'm'));
  for (const opt of ['asm options:', 'disasm options:', 'run options:', 'test-run options:', '--engine E', '--from ADDR:PORT']) assert.ok(r.out.includes(opt), opt);
});
