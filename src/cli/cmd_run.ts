/**
 * `reuseport run <file> [--mem HEX] [--budget N] [--engine interpreter|compiled]`: run a program
 * in the VM under the bpf_conformance contract (r1 = address of the input memory, r2 = its
 * length, helper 5 = identity) and print r0 and the instruction count.
 */
import { parseArgs } from 'node:util';
import { decode, type Insn } from '../ebpf/index.js';
import { defaultHelpers, loadProgram, Memory } from '../vm/index.js';
import { hexLines, intOption, loadBytecode, parseHex, parseToolArgs, runTool, usage, type ToolIo } from './tool_input.js';

export const RUN_USAGE = `run options:
      --mem HEX           input memory (r1 = its address, r2 = its length); a .data file's -- mem by default
      --budget N          most instructions to execute (default 1000000)
      --engine E          interpreter (default, exact instruction count) | compiled
`;

const hex64 = (v: bigint): string => `0x${v.toString(16)}`;

export function cmdRun(argv: string[], io: ToolIo): Promise<number> {
  return runTool('run', io, () => {
    const { values, positionals } = parseToolArgs(() => parseArgs({ args: argv, allowPositionals: true, strict: true, options: {
      mem: { type: 'string' },
      budget: { type: 'string' },
      engine: { type: 'string' },
    } }), 1);
    const file = positionals[0];
    if (file === undefined) throw usage('missing the program file: reuseport run prog.s [--mem HEX]');
    const engine = values.engine ?? 'interpreter';
    if (engine !== 'interpreter' && engine !== 'compiled') throw usage(`--engine must be interpreter or compiled, got '${engine}'`);
    const budget = intOption(values.budget, 'budget', 1, Number.MAX_SAFE_INTEGER);
    const memArg = values.mem === undefined ? undefined : parseHex(values.mem, '--mem');
    const prog = loadBytecode(file);
    const insns: Insn[] = decode(prog.bytecode);
    const vm = loadProgram(insns, { helpers: defaultHelpers, budget, mode: engine });
    // the conformance contract (runProgram's, as the suite runs it): the input memory, maybe
    // empty, is mapped writable, is the packet for ld_abs/ld_ind, and r1/r2 point at it
    const input = memArg ?? prog.mem ?? new Uint8Array(0);
    const mem = new Memory();
    const region = mem.map(new Uint8Array(input), { name: 'mem' });
    mem.packet = region;
    vm.run(mem, region.base, input.length);
    const r0 = vm.r0();
    const signed = BigInt.asIntN(64, r0);
    io.out.write(`r0 = ${hex64(r0)} (${r0}${signed < 0n ? `, signed ${signed}` : ''})\n`);
    io.out.write(vm.insnCount >= 0 ? `instructions: ${vm.insnCount}\n` : `instructions: not counted by the ${vm.mode} engine (use --engine interpreter)\n`);
    if (region.bytes.some((b, i) => b !== input[i])) io.out.write(`mem after the run:\n${hexLines(region.bytes)}`);
    return 0;
  });
}
