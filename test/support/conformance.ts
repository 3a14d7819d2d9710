/**
 * Reader for the bpf_conformance `.data` files (FORMAT.md): sections `-- asm`, `-- raw`,
 * `-- mem`, `-- result`, `-- error`, `-- c` and markers. Shared by the assembler tests
 * (test/ebpf) and the VM conformance run (test/vm).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assembleInsns } from '../../src/ebpf/assembler.js';
import { decode, type Insn } from '../../src/ebpf/insn.js';
import { groupsOf, type ConformanceGroup } from '../../src/ebpf/groups.js';

/** The project root: the nearest directory above this file holding package.json. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The suite's root: `../shared/bpf_conformance` beside the project; override with BPF_CONFORMANCE_DIR. */
export const CONFORMANCE_ROOT = process.env['BPF_CONFORMANCE_DIR'] ?? join(projectRoot(), '..', 'shared', 'bpf_conformance');
export const CONFORMANCE_TESTS = join(CONFORMANCE_ROOT, 'tests');
export const CONFORMANCE_NEGATIVE = join(CONFORMANCE_ROOT, 'negative');

export interface ConformanceFile {
  /** File name, e.g. 'add.data'. */
  name: string;
  path: string;
  /** The `-- asm` section text (comments kept; the assembler strips them). */
  asm?: string;
  /** 1-based line of the first asm line in the file (to turn assembler lines into file lines). */
  asmLine?: number;
  /** The `-- raw` section as bytes. */
  raw?: Uint8Array;
  /** Input memory (empty when the test has none). */
  mem: Uint8Array;
  /** Expected r0 as an unsigned 64-bit value. */
  result?: bigint;
  /** Present when the file has an `-- error` section (the reference's message, maybe empty). */
  error?: string;
  /**
   * Main conformance group of the program (most demanding group it uses), or 'unknown' when
   * the file has no program or its program does not assemble/decode (negative tests).
   */
  group: ConformanceGroup | 'unknown';
  /** Every group the program uses, most demanding first. */
  groups: ConformanceGroup[];
  /** Every section by name (including `c`, `no register offset` and unknown ones), raw text. */
  sections: Record<string, string>;
}

/** A malformed `.data` file (not the program inside it). */
export class ConformanceFormatError extends Error {
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'ConformanceFormatError';
  }
}

/** Parse hex bytes separated by white space; a 16-digit `0x` word is one little-endian slot. */
function parseHexBytes(file: string, text: string, what: string): Uint8Array {
  const out: number[] = [];
  for (const tok of text.split(/\s+/).filter(Boolean)) {
    const word = /^0x([0-9a-f]{16})$/i.exec(tok);
    if (word) {
      let v = BigInt(`0x${word[1]}`);
      for (let i = 0; i < 8; i++, v >>= 8n) out.push(Number(v & 0xffn));
      continue;
    }
    const byte = /^(?:0x)?([0-9a-f]{1,2})$/i.exec(tok);
    if (!byte) throw new ConformanceFormatError(file, `bad ${what} byte '${tok}'`);
    out.push(parseInt(byte[1]!, 16));
  }
  return Uint8Array.from(out);
}

function parseResult(file: string, text: string): bigint {
  const t = text.trim();
  if (!/^-?(0x[0-9a-f]+|[0-9]+)$/i.test(t)) throw new ConformanceFormatError(file, `bad result '${t}'`);
  const neg = t.startsWith('-');
  const v = BigInt(neg ? t.slice(1) : t);
  return BigInt.asUintN(64, neg ? -v : v);
}

/** Parse one `.data` file's text. */
export function parseConformanceData(name: string, text: string, path = name): ConformanceFile {
  const sections: Record<string, string> = {};
  const sectionLine: Record<string, number> = {};
  let current: string | undefined;
  let body: string[] = [];
  const flush = (): void => {
    if (current !== undefined) sections[current] = body.join('\n');
  };
  text.split(/\r?\n/).forEach((line, i) => {
    const header = /^--\s*(.*?)\s*$/.exec(line);
    if (header) {
      flush();
      current = header[1]!;
      sectionLine[current] = i + 2;
      body = [];
      return;
    }
    // comments outside asm belong to nobody; inside asm the assembler strips them
    if (current === undefined) return;
    if (current !== 'asm' && current !== 'c' && /^\s*#/.test(line)) return;
    body.push(line);
  });
  flush();

  const f: ConformanceFile = {
    name,
    path,
    mem: sections['mem'] !== undefined ? parseHexBytes(name, sections['mem'], 'mem') : new Uint8Array(0),
    group: 'unknown',
    groups: [],
    sections,
  };
  if (sections['asm'] !== undefined) {
    f.asm = sections['asm'];
    f.asmLine = sectionLine['asm'];
  }
  if (sections['raw'] !== undefined) f.raw = parseHexBytes(name, sections['raw'], 'raw');
  if (sections['result'] !== undefined && sections['result'].trim() !== '') f.result = parseResult(name, sections['result']);
  if (sections['error'] !== undefined) f.error = sections['error'].trim();

  let insns: Insn[] | undefined;
  try {
    insns = f.raw !== undefined ? decode(f.raw) : f.asm !== undefined ? assembleInsns(f.asm) : undefined;
  } catch {
    insns = undefined; // negative tests: the group stays 'unknown'
  }
  if (insns) {
    f.groups = groupsOf(insns);
    f.group = f.groups[0] ?? 'unknown';
  }
  return f;
}

/** Every `*.data` file of a directory, sorted by name. */
export function loadConformanceFiles(dir: string = CONFORMANCE_TESTS): ConformanceFile[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.data'))
    .sort()
    .map((n) => {
      const path = join(dir, n);
      return parseConformanceData(n, readFileSync(path, 'utf8'), path);
    });
}

/** Count files per main group, e.g. for a summary line. */
export function countByGroup(files: readonly ConformanceFile[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of files) out[f.group] = (out[f.group] ?? 0) + 1;
  return out;
}
