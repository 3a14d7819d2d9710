/**
 * What the toolchain commands (asm, disasm, run, test-run) share: reading a file or stdin, the
 * hex and number formats they accept, bpf_conformance `.data` files, and the one error type
 * that carries an exit code (2 = the command line is wrong, 1 = the input or the program is).
 */
import { readFileSync } from 'node:fs';
import { AssemblerError, DecodeError, EbpfError, assemble, formatAssemblerError } from '../ebpf/index.js';
import { VmError } from '../vm/index.js';
import type { Out } from './output.js';

export interface ToolIo {
  out: Out;
  err: Out;
}

/** A failure the command reports as one line (plus `detail` lines) and exits with `code`. */
export class ToolError extends Error {
  readonly code: 1 | 2;
  readonly detail: string | undefined;
  constructor(code: 1 | 2, message: string, detail?: string) {
    super(message);
    this.name = 'ToolError';
    this.code = code;
    this.detail = detail;
  }
}

export const usage = (message: string): ToolError => new ToolError(2, message);
export const failed = (message: string, detail?: string): ToolError => new ToolError(1, message, detail);

/**
 * Parse a command's options with node:util parseArgs (strict, positionals allowed): its
 * ERR_PARSE_ARGS_* errors and extra positionals become usage errors.
 */
export function parseToolArgs<T extends { positionals: string[] }>(parse: () => T, maxPositionals: number): T {
  let parsed: T;
  try {
    parsed = parse();
  } catch (err) {
    throw usage((err as Error).message.split('\n')[0]!.split('. ')[0]!);
  }
  if (parsed.positionals.length > maxPositionals) throw usage(`unexpected argument '${parsed.positionals[maxPositionals]}'`);
  return parsed;
}

export interface Input {
  /** Name used in messages: the path, or `<stdin>`. */
  name: string;
  bytes: Uint8Array;
}

/** The bytes of `path`, or of stdin for `-`. A missing or unreadable file is an input error (1). */
export function readInput(path: string): Input {
  if (path === '-') {
    try {
      return { name: '<stdin>', bytes: new Uint8Array(readFileSync(0)) };
    } catch (err) {
      throw failed(`cannot read stdin: ${(err as Error).message}`);
    }
  }
  try {
    return { name: path, bytes: new Uint8Array(readFileSync(path)) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw failed(`cannot read '${path}': ${why}`);
  }
}

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Does this look like hex text rather than raw bytecode? (Raw bytecode always has NUL or non-hex bytes.) */
export function looksLikeHex(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  return /^[\s0-9a-fA-Fx,#]*$/.test(text(bytes).replace(/#[^\n]*/g, '')) && /[0-9a-fA-F]/.test(text(bytes));
}

/**
 * Hex text to bytes. Tokens separated by white space or commas; `#` starts a comment. A token of
 * 16 digits with `0x` is one little-endian 64-bit slot (the bpf_conformance `-- raw` format);
 * any other token is bytes in order (`b7`, `0xb7`, `b701000043000000`).
 */
export function parseHex(src: string, what: string): Uint8Array {
  const out: number[] = [];
  const lines = src.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const body = lines[ln]!.replace(/#.*/, '');
    for (const tok of body.split(/[\s,]+/).filter(Boolean)) {
      const where = lines.length > 1 ? ` (line ${ln + 1})` : '';
      const word = /^0x([0-9a-fA-F]{16})$/.exec(tok);
      if (word) {
        let v = BigInt(`0x${word[1]}`);
        for (let i = 0; i < 8; i++, v >>= 8n) out.push(Number(v & 0xffn));
        continue;
      }
      const digits = tok.replace(/^0x/i, '');
      if (!/^[0-9a-fA-F]+$/.test(digits)) throw new ToolError(2, `${what}: '${tok}' is not hex${where}`);
      if (digits.length % 2 !== 0) throw new ToolError(2, `${what}: '${tok}' has an odd number of hex digits${where}`);
      for (let i = 0; i < digits.length; i += 2) out.push(parseInt(digits.slice(i, i + 2), 16));
    }
  }
  return Uint8Array.from(out);
}

/** Bytecode as hex: one 8-byte slot per line, bytes in memory order. */
export function hexLines(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 8) {
    lines.push([...bytes.subarray(i, i + 8)].map((b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** A whole number option (decimal or 0x hex) within [min, max]. */
export function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const v = /^0x[0-9a-f]+$/i.test(value) ? parseInt(value, 16) : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw usage(`--${name} must be a whole number ${min}..${max}, got '${value}'`);
  return v;
}

/** A bpf_conformance `.data` file: its program (asm or raw) and input memory. */
export interface DataFile {
  asm?: string;
  /** 1-based file line of the first asm line, to report assembler errors at file lines. */
  asmLine: number;
  raw?: Uint8Array;
  mem: Uint8Array;
}

export function isDataFile(name: string): boolean {
  return name.endsWith('.data');
}

export function parseDataFile(name: string, src: string): DataFile {
  const sections: Record<string, { text: string[]; line: number }> = {};
  let cur: { text: string[]; line: number } | undefined;
  src.split(/\r?\n/).forEach((line, i) => {
    const head = /^-- (.+?)\s*$/.exec(line);
    if (head) {
      cur = { text: [], line: i + 2 };
      sections[head[1]!] = cur;
    } else cur?.text.push(line);
  });
  const asm = sections['asm'];
  const raw = sections['raw'];
  const mem = sections['mem'];
  if (!asm && !raw) throw failed(`${name}: no '-- asm' or '-- raw' section (not a bpf_conformance .data file?)`);
  const hexOf = (s: { text: string[]; line: number }, what: string): Uint8Array => {
    try {
      return parseHex(s.text.join('\n'), `${name}: ${what}`);
    } catch (err) {
      throw failed((err as Error).message);
    }
  };
  return {
    asm: asm?.text.join('\n'),
    asmLine: asm?.line ?? 1,
    raw: raw && !asm ? hexOf(raw, '-- raw') : undefined,
    mem: mem ? hexOf(mem, '-- mem') : new Uint8Array(0),
  };
}

/**
 * An AssemblerError as a compiler diagnostic: `file:line:col: reason`, the source line and a
 * caret. `lineBase` shifts lines when the text is a section of a larger file.
 */
export function assemblerDiagnostic(err: AssemblerError, file: string, source: string, lineBase = 1, maps?: Readonly<Record<string, number>>): ToolError {
  const shown = formatAssemblerError(err, source).split('\n').slice(1).join('\n');
  const known = maps && Object.keys(maps).length ? Object.keys(maps).join(', ') : 'none (asm: --map NAME=FD)';
  const why = err.kind === 'unresolved-map' && maps ? `${err.reason}; maps known here: ${known}` : err.reason;
  return failed(`${file}:${err.line + lineBase - 1}:${err.column}: ${why}`, shown || undefined);
}

/** The last 20 lines of a verifier log, indented. */
export function verifierLog(log: string): string {
  return ['verifier log:', ...log.trimEnd().split('\n').slice(-20).map((l) => '  ' + l)].join('\n');
}

/** Run a command body: ToolErrors and toolchain/VM errors become one line and an exit code. */
export async function runTool(cmd: string, io: ToolIo, body: () => number | Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof ToolError) {
      io.err.write(`reuseport ${cmd}: ${err.message}\n${err.detail ? err.detail + '\n' : ''}`);
      return err.code;
    }
    if (err instanceof VmError) {
      io.err.write(`reuseport ${cmd}: error at pc ${err.pc}: ${err.reason}${err.detail ? ` (${err.detail})` : ''}\n`);
      return 1;
    }
    if (err instanceof DecodeError) {
      io.err.write(`reuseport ${cmd}: bad bytecode: instruction ${err.index}: ${err.reason}\n`);
      return 1;
    }
    if (err instanceof EbpfError) {
      io.err.write(`reuseport ${cmd}: ${err.message}\n`);
      return 1;
    }
    const e = err as { message?: string; hint?: string; log?: string };
    io.err.write(`reuseport ${cmd}: ${e.message ?? String(err)}\n`);
    if (e.log) io.err.write(verifierLog(e.log) + '\n');
    return 1;
  }
}

export interface LoadedBytecode {
  name: string;
  bytecode: Uint8Array;
  /** How the file was read. */
  format: 'asm' | 'binary' | 'hex' | 'data';
  /** The `-- mem` section of a `.data` file. */
  mem?: Uint8Array;
}

/** No control bytes other than white space (and ESC): text, not bytecode. */
export const isText = (b: Uint8Array): boolean => !b.some((c) => (c < 9 || (c > 13 && c < 32)) && c !== 27);

/**
 * A program from a file or stdin: `.s`/`.asm` assembly, `.data` bpf_conformance files, and
 * otherwise sniffed: hex text, raw bytecode, or assembly text. Maps named in `lddw ..., map_fd NAME`
 * resolve through `maps`.
 */
export function loadBytecode(path: string, maps: Readonly<Record<string, number>> = {}): LoadedBytecode {
  const input = readInput(path);
  const { name, bytes } = input;
  const assembleText = (src: string, lineBase = 1): Uint8Array => {
    try {
      return assemble(src, { maps });
    } catch (err) {
      if (err instanceof AssemblerError) throw assemblerDiagnostic(err, name, src, lineBase, maps);
      throw err;
    }
  };
  if (isDataFile(name)) {
    const d = parseDataFile(name, text(bytes));
    return { name, format: 'data', mem: d.mem, bytecode: d.asm !== undefined ? assembleText(d.asm, d.asmLine) : d.raw! };
  }
  if (/\.(s|asm)$/i.test(name)) return { name, format: 'asm', bytecode: assembleText(text(bytes)) };
  if (looksLikeHex(bytes)) {
    try {
      return { name, format: 'hex', bytecode: parseHex(text(bytes), name) };
    } catch (err) {
      throw failed((err as Error).message);
    }
  }
  if (!isText(bytes) || /\.(bin|bpf)$/i.test(name)) return { name, format: 'binary', bytecode: bytes };
  return { name, format: 'asm', bytecode: assembleText(text(bytes)) };
}
