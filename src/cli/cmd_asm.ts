/**
 * `reuseport asm <file.s|file.data|-> [-o out.bin] [--map NAME=FD ...]`: assemble
 * bpf_conformance-syntax text. With -o the raw bytecode goes to the file; otherwise one 8-byte
 * slot per line in hex goes to stdout (what `reuseport disasm` reads back).
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { assemble, AssemblerError } from '../ebpf/index.js';
import {
  assemblerDiagnostic, failed, hexLines, isDataFile, isText, parseDataFile, parseToolArgs, readInput, runTool, text, usage, type ToolIo,
} from './tool_input.js';

export const ASM_USAGE = `asm options:
  -o, --output FILE       write the raw bytecode to FILE (default: hex on stdout, one slot per line)
      --map NAME=FD       resolve \`lddw %rN, map_fd NAME\` to FD (repeatable)
`;

/** `--map name=fd` pairs. */
export function mapOptions(pairs: readonly string[] | undefined): Record<string, number> {
  const maps: Record<string, number> = {};
  for (const p of pairs ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_.]*)=(\d+)$/.exec(p);
    if (!m) throw usage(`--map must be NAME=FD, got '${p}'`);
    maps[m[1]!] = Number(m[2]);
  }
  return maps;
}

export function cmdAsm(argv: string[], io: ToolIo): Promise<number> {
  return runTool('asm', io, () => {
    const { values, positionals } = parseToolArgs(() => parseArgs({ args: argv, allowPositionals: true, strict: true, options: {
      output: { type: 'string', short: 'o' },
      map: { type: 'string', multiple: true },
    } }), 1);
    const file = positionals[0];
    if (file === undefined) throw usage('missing the source file (or - for stdin): reuseport asm prog.s -o prog.bin');
    const maps = mapOptions(values.map);
    const { name, bytes } = readInput(file);
    if (!isText(bytes)) throw failed(`${name} is binary, not assembly text (reuseport disasm prints bytecode as text)`);
    let src = text(bytes);
    let lineBase = 1;
    if (isDataFile(name)) {
      const d = parseDataFile(name, src);
      if (d.asm === undefined) throw failed(`${name}: no '-- asm' section to assemble`);
      src = d.asm;
      lineBase = d.asmLine;
    }
    let code: Uint8Array;
    try {
      code = assemble(src, { maps });
    } catch (err) {
      if (err instanceof AssemblerError) throw assemblerDiagnostic(err, name, src, lineBase, maps);
      throw err;
    }
    if (values.output === undefined) {
      io.out.write(hexLines(code));
      return 0;
    }
    try {
      writeFileSync(values.output, code);
    } catch (err) {
      throw failed(`cannot write '${values.output}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    io.err.write(`${name}: ${code.length / 8} instructions (${code.length} bytes) -> ${values.output}\n`);
    return 0;
  });
}
