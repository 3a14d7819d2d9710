/**
 * `reuseport disasm <file|-> [--hex] [--no-labels]`: print bytecode in the assembler's syntax.
 * Input is raw bytecode or hex text (sniffed; --hex forces hex), or a bpf_conformance `.data` file.
 */
import { parseArgs } from 'node:util';
import { disassemble } from '../ebpf/index.js';
import {
  failed, isDataFile, loadBytecode, looksLikeHex, parseHex, parseToolArgs, readInput, runTool, text, usage, type ToolIo,
} from './tool_input.js';

export const DISASM_USAGE = `disasm options:
      --hex               the input is hex text (default: sniffed; raw bytes otherwise)
      --no-labels         print jump offsets (+3) instead of L<slot>: labels
`;

export function cmdDisasm(argv: string[], io: ToolIo): Promise<number> {
  return runTool('disasm', io, () => {
    const { values, positionals } = parseToolArgs(() => parseArgs({ args: argv, allowPositionals: true, strict: true, options: {
      hex: { type: 'boolean' },
      'no-labels': { type: 'boolean' },
    } }), 1);
    const file = positionals[0];
    if (file === undefined) throw usage('missing the bytecode file (or - for stdin): reuseport disasm prog.bin');
    const { name, bytes } = readInput(file);
    let code: Uint8Array;
    if (isDataFile(name)) code = loadBytecode(file).bytecode;
    else if (values.hex || looksLikeHex(bytes)) {
      try {
        code = parseHex(text(bytes), name);
      } catch (err) {
        throw failed((err as Error).message);
      }
    } else code = bytes;
    if (code.length === 0) throw failed(`${name}: empty (no instructions)`);
    if (code.length % 8 !== 0) throw failed(`${name}: ${code.length} bytes is not a whole number of 8-byte instructions`);
    io.out.write(disassemble(code, { labels: !values['no-labels'] }).replace(/\n?$/, '\n'));
    return 0;
  });
}
