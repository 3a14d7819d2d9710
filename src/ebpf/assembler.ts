/**
 * Text assembler for the ubpf / bpf_conformance assembly syntax:
 *
 *   mov32 %r0, 0            add %r1, -3             lddw %r1, 0x100000000
 *   ldxh %r0, [%r1+2]       stxdw [%r10-8], %r0     stw [%r10-4], 0x11
 *   lock add [%r10-8], %r1  lock fetch add32 ...    lock xchg / lock cmpxchg [%r10-8], %r1
 *   jeq %r1, 5, +2          jne32 %r0, %r1, out     ja out / ja32 out (gotol)
 *   call 5 / call sk_select_reuseport / call local func / call %r2 (callx) / call kfunc 123
 *   be16/le32/bswap64 %r0   neg %r0   sdiv/smod   movsx864 %r0, %r1   ldxsb ...
 *   ldabsw 12 / ldindh %r1, 4          exit          out:   # comment
 *
 * Jump targets are labels or signed offsets (`+2` = skip two slots). `call local L` encodes
 * src_reg 1 (BPF_PSEUDO_CALL) with imm = target - (pc + 1); `call %rN` is callx
 * (BPF_JMP|BPF_CALL|BPF_X with the register in dst, the LLVM / bpf_conformance encoding).
 * ld_imm64 pseudo sources: `lddw %r1, map_fd 3`, `lddw %r1, map_value 3 16`, `btf_id N`,
 * `func LABEL`, `map_idx N`, `map_idx_value N OFF` (the optional last number is the second
 * slot's imm). As in bpf_conformance, `exit` names the first exit when no label of that name exists.
 * Every error is an AssemblerError with line, column and reason.
 */
import * as op from './opcodes.js';
import { type Insn, encode, validate, withImm64 } from './insn.js';
import { AssemblerError, type AssemblerErrorKind } from './errors.js';
import { helperId } from './helpers.js';
import {
  ALU_BINARY, ALU_SIGNED, ATOMICS, INT16_MAX, INT16_MIN, INT32_MAX, INT32_MIN, JUMPS, PSEUDO_KINDS, SIZES,
  UINT32_MAX, type MemSize,
} from './syntax.js';

export interface AssembleOptions {
  /** Map name -> fd, for `lddw %r1, map_fd NAME` and `map_value NAME OFF`. */
  maps?: Readonly<Record<string, number>> | ReadonlyMap<string, number>;
}

interface Tok {
  text: string;
  col: number; // 1-based column in the line
}

interface Line {
  no: number;
  err(kind: AssemblerErrorKind, col: number, reason: string): AssemblerError;
}

interface Fixup {
  index: number;
  kind: 'off' | 'imm';
  label: string;
  line: number;
  col: number;
}

interface Ctx {
  out: Insn[];
  fixups: Fixup[];
  opts: AssembleOptions;
}

type Encoder = (ctx: Ctx, line: Line, ops: Tok[], mn: Tok) => void;

const LABEL_RE = /^[A-Za-z_.$][\w.$]*$/;
const NUM_RE = /^([+-]?)(0x[0-9a-f]+|[0-9]+)$/i;

// --- operand parsers -------------------------------------------------------------------------

function parseRegister(line: Line, t: Tok, what = 'register'): number {
  const m = /^%?r(\d+)$/i.exec(t.text);
  if (!m) {
    if (/^%/.test(t.text)) throw line.err('bad-register', t.col, `invalid register '${t.text}'`);
    throw line.err('bad-register', t.col, `expected a ${what} (%r0..%r10), got '${t.text}'`);
  }
  const n = Number(m[1]);
  if (n > op.MAX_REG) throw line.err('bad-register', t.col, `invalid register '${t.text}' (r0..r10)`);
  return n;
}

const isRegister = (t: Tok): boolean => /^%/.test(t.text) || /^r\d+$/i.test(t.text);

/** Parse an integer literal; undefined when the text is not one. */
function parseNumber(text: string): bigint | undefined {
  const m = NUM_RE.exec(text);
  if (!m) return undefined;
  const v = BigInt(m[2]!);
  return m[1] === '-' ? -v : v;
}
const isHex = (text: string): boolean => /^[+-]?0x/i.test(text);

/** 32-bit immediate: decimal must be a signed int32; hex may be the uint32 bit pattern. */
function parseImm32(line: Line, t: Tok, what = 'immediate'): number {
  const v = parseNumber(t.text);
  if (v === undefined) throw line.err('syntax', t.col, `expected a number for the ${what}, got '${t.text}'`);
  const max = isHex(t.text) ? BigInt(UINT32_MAX) : BigInt(INT32_MAX);
  if (v < BigInt(INT32_MIN) || v > max) {
    throw line.err('range', t.col, `${what} ${t.text} is out of range for 32 bits (${isHex(t.text) ? '-0x80000000..0xffffffff' : '-2147483648..2147483647'})`);
  }
  return Number(BigInt.asIntN(32, v));
}

function parseImm64(line: Line, t: Tok): bigint {
  const v = parseNumber(t.text);
  if (v === undefined) throw line.err('syntax', t.col, `expected a 64-bit number, got '${t.text}'`);
  if (v < -(1n << 63n) || v >= 1n << 64n) throw line.err('range', t.col, `immediate ${t.text} is out of range for 64 bits`);
  return BigInt.asUintN(64, v);
}

function parseOff16(line: Line, col: number, text: string, what: string): number {
  const v = parseNumber(text);
  if (v === undefined) throw line.err('syntax', col, `expected a number for the ${what}, got '${text}'`);
  if (v < BigInt(INT16_MIN) || v > BigInt(INT16_MAX)) {
    throw line.err('range', col, `${what} ${text} is out of range (-32768..32767)`);
  }
  return Number(v);
}

/** `[%rN]`, `[%rN+off]`, `[%rN-off]`. */
function parseMem(line: Line, t: Tok): { reg: number; off: number } {
  const m = /^\[\s*([^\s+\-\]]+)\s*(?:([+-])\s*([^\s\]]+)\s*)?\]$/.exec(t.text);
  if (!m) throw line.err('syntax', t.col, `expected a memory operand like [%r1+8], got '${t.text}'`);
  const regText = m[1]!;
  const reg = parseRegister(line, { text: regText, col: t.col + t.text.indexOf(regText) }, 'base register');
  if (m[2] === undefined) return { reg, off: 0 };
  const offCol = t.col + t.text.indexOf(m[2], 1 + regText.length);
  return { reg, off: parseOff16(line, offCol, m[2] + m[3]!, 'memory offset') };
}

/** A jump target: a signed offset (`+2`, `-1`, `3`) or a label resolved later. */
function jumpTarget(ctx: Ctx, line: Line, t: Tok, kind: 'off' | 'imm', index: number): number {
  if (NUM_RE.test(t.text)) {
    return kind === 'off' ? parseOff16(line, t.col, t.text, 'jump offset') : parseImm32(line, t, 'jump offset');
  }
  if (!LABEL_RE.test(t.text)) throw line.err('syntax', t.col, `expected a label or an offset like +2, got '${t.text}'`);
  ctx.fixups.push({ index, kind, label: t.text, line: line.no, col: t.col });
  return 0;
}

function arity(line: Line, mn: Tok, ops: Tok[], n: number, form: string): void {
  if (ops.length !== n) {
    throw line.err('operand-count', mn.col,
      `'${mn.text}' takes ${n} operand${n === 1 ? '' : 's'} (${form}), got ${ops.length}`);
  }
}

const emit = (ctx: Ctx, opcode: number, dst = 0, src = 0, off = 0, imm = 0): void => {
  ctx.out.push({ opcode, dst, src, off, imm });
};

// --- instruction table -----------------------------------------------------------------------

const TABLE = new Map<string, Encoder>();

function aluEncoder(cls: number, code: number, off: number, name: string): Encoder {
  return (ctx, line, ops, mn) => {
    arity(line, mn, ops, 2, `${name} dst, src|imm`);
    const dst = parseRegister(line, ops[0]!);
    if (isRegister(ops[1]!)) emit(ctx, cls | code | op.BPF_X, dst, parseRegister(line, ops[1]!), off, 0);
    else emit(ctx, cls | code | op.BPF_K, dst, 0, off, parseImm32(line, ops[1]!));
  };
}

for (const [name, code] of Object.entries(ALU_BINARY)) {
  TABLE.set(name, aluEncoder(op.BPF_ALU64, code, 0, name));
  TABLE.set(`${name}64`, aluEncoder(op.BPF_ALU64, code, 0, name));
  TABLE.set(`${name}32`, aluEncoder(op.BPF_ALU, code, 0, `${name}32`));
}
for (const [name, code] of Object.entries(ALU_SIGNED)) {
  TABLE.set(name, aluEncoder(op.BPF_ALU64, code, 1, name));
  TABLE.set(`${name}64`, aluEncoder(op.BPF_ALU64, code, 1, name));
  TABLE.set(`${name}32`, aluEncoder(op.BPF_ALU, code, 1, `${name}32`));
}
// movsx<from><to>: sign-extending register moves (offset = source width)
for (const [name, cls, bits] of [
  ['movsx832', op.BPF_ALU, 8], ['movsx1632', op.BPF_ALU, 16],
  ['movsx864', op.BPF_ALU64, 8], ['movsx1664', op.BPF_ALU64, 16], ['movsx3264', op.BPF_ALU64, 32],
] as const) {
  TABLE.set(name, (ctx, line, ops, mn) => {
    arity(line, mn, ops, 2, `${name} dst, src`);
    const dst = parseRegister(line, ops[0]!);
    emit(ctx, cls | op.BPF_MOV | op.BPF_X, dst, parseRegister(line, ops[1]!, 'source register'), bits, 0);
  });
}
for (const [name, cls] of [['neg', op.BPF_ALU64], ['neg64', op.BPF_ALU64], ['neg32', op.BPF_ALU]] as const) {
  TABLE.set(name, (ctx, line, ops, mn) => {
    arity(line, mn, ops, 1, `${name} dst`);
    emit(ctx, cls | op.BPF_NEG, parseRegister(line, ops[0]!));
  });
}
for (const width of [16, 32, 64]) {
  for (const [prefix, opcode] of [
    ['be', op.BPF_ALU | op.BPF_END | op.BPF_TO_BE], ['le', op.BPF_ALU | op.BPF_END | op.BPF_TO_LE],
    ['bswap', op.BPF_ALU64 | op.BPF_END], ['swap', op.BPF_ALU64 | op.BPF_END],
  ] as const) {
    const name = `${prefix}${width}`;
    TABLE.set(name, (ctx, line, ops, mn) => {
      arity(line, mn, ops, 1, `${name} dst`);
      emit(ctx, opcode, parseRegister(line, ops[0]!), 0, 0, width);
    });
  }
}

for (const [name, code] of Object.entries(JUMPS)) {
  for (const [suffix, cls] of [['', op.BPF_JMP], ['32', op.BPF_JMP32]] as const) {
    TABLE.set(name + suffix, (ctx, line, ops, mn) => {
      arity(line, mn, ops, 3, `${name}${suffix} dst, src|imm, target`);
      const dst = parseRegister(line, ops[0]!);
      const index = ctx.out.length;
      const x = isRegister(ops[1]!);
      const src = x ? parseRegister(line, ops[1]!) : 0;
      const imm = x ? 0 : parseImm32(line, ops[1]!);
      const off = jumpTarget(ctx, line, ops[2]!, 'off', index);
      emit(ctx, cls | code | (x ? op.BPF_X : op.BPF_K), dst, src, off, imm);
    });
  }
}
TABLE.set('ja', (ctx, line, ops, mn) => {
  arity(line, mn, ops, 1, 'ja target');
  emit(ctx, op.BPF_JMP | op.BPF_JA, 0, 0, jumpTarget(ctx, line, ops[0]!, 'off', ctx.out.length), 0);
});
const gotol: Encoder = (ctx, line, ops, mn) => {
  arity(line, mn, ops, 1, `${mn.text} target`);
  emit(ctx, op.BPF_JMP32 | op.BPF_JA, 0, 0, 0, jumpTarget(ctx, line, ops[0]!, 'imm', ctx.out.length));
};
TABLE.set('ja32', gotol);
TABLE.set('gotol', gotol);
TABLE.set('exit', (ctx, line, ops, mn) => {
  arity(line, mn, ops, 0, 'exit');
  emit(ctx, op.BPF_JMP | op.BPF_EXIT);
});

// call [helper|local|runtime|kfunc] target: the mode word arrives as a separate operand
TABLE.set('call', (ctx, line, ops, mn) => {
  const mode = ops.length === 2 ? ops[0]!.text.toLowerCase() : 'helper';
  if (ops.length !== 1 && ops.length !== 2) {
    throw line.err('operand-count', mn.col, `'call' takes a target (call 5, call name, call local L, call %r2), got ${ops.length} operands`);
  }
  const t = ops[ops.length - 1]!;
  const index = ctx.out.length;
  switch (mode) {
    case 'helper':
      if (ops.length === 1 && isRegister(t)) {
        emit(ctx, op.BPF_JMP | op.BPF_CALL | op.BPF_X, parseRegister(line, t));
      } else if (NUM_RE.test(t.text)) {
        emit(ctx, op.BPF_JMP | op.BPF_CALL, 0, 0, 0, parseImm32(line, t, 'helper id'));
      } else {
        let id: number;
        try {
          id = helperId(t.text);
        } catch {
          throw line.err('unknown-helper', t.col, `unknown helper '${t.text}'`);
        }
        emit(ctx, op.BPF_JMP | op.BPF_CALL, 0, 0, 0, id);
      }
      return;
    case 'local':
      emit(ctx, op.BPF_JMP | op.BPF_CALL, 0, op.BPF_PSEUDO_CALL, 0, jumpTarget(ctx, line, t, 'imm', index));
      return;
    case 'runtime':
    case 'kfunc':
      emit(ctx, op.BPF_JMP | op.BPF_CALL, 0, op.BPF_PSEUDO_KFUNC_CALL, 0, parseImm32(line, t, 'kfunc id'));
      return;
    default:
      throw line.err('syntax', ops[0]!.col, `unknown call kind '${ops[0]!.text}' (helper, local, kfunc)`);
  }
});

TABLE.set('lddw', (ctx, line, ops, mn) => {
  arity(line, mn, ops, 2, 'lddw dst, imm64 | lddw dst, map_fd N');
  const dst = parseRegister(line, ops[0]!);
  const t = ops[1]!;
  const index = ctx.out.length;
  const words = splitWords(t);
  const kind = PSEUDO_KINDS.indexOf(words[0]!.text.toLowerCase() as (typeof PSEUDO_KINDS)[number]);
  let src = 0, lo = 0, hi = 0;
  if (kind < 0) {
    if (words.length !== 1) throw line.err('syntax', t.col, `expected a 64-bit number or a pseudo source (${PSEUDO_KINDS.slice(1).join(', ')}), got '${t.text}'`);
    const v = parseImm64(line, t);
    lo = Number(BigInt.asIntN(32, v));
    hi = Number(BigInt.asIntN(32, v >> 32n));
  } else {
    src = kind;
    if (words.length < 2 || words.length > 3) {
      throw line.err('operand-count', words[0]!.col, `'${words[0]!.text}' takes a value and an optional second-slot immediate`);
    }
    const v = words[1]!;
    if (kind === op.BPF_PSEUDO_FUNC) {
      lo = jumpTarget(ctx, line, v, 'imm', index);
    } else if ((kind === op.BPF_PSEUDO_MAP_FD || kind === op.BPF_PSEUDO_MAP_VALUE) && LABEL_RE.test(v.text)) {
      lo = mapFd(ctx, line, v);
    } else {
      lo = parseImm32(line, v, words[0]!.text);
    }
    if (words[2]) hi = parseImm32(line, words[2], 'second-slot immediate');
  }
  emit(ctx, op.BPF_LD | op.BPF_IMM | op.BPF_DW, dst, src, 0, lo);
  ctx.out.push({ opcode: 0, dst: 0, src: 0, off: 0, imm: hi, lddwHi: true });
});

function mapFd(ctx: Ctx, line: Line, t: Tok): number {
  const maps = ctx.opts.maps;
  const fd = maps instanceof Map ? maps.get(t.text)
    : maps && Object.hasOwn(maps, t.text) ? (maps as Record<string, number>)[t.text] : undefined;
  if (fd === undefined) throw line.err('unresolved-map', t.col, `map '${t.text}' is not given in the assembler options`);
  if (!Number.isInteger(fd) || fd < 0 || fd > INT32_MAX) throw line.err('unresolved-map', t.col, `map '${t.text}' has an invalid fd ${fd}`);
  return fd;
}

function splitWords(t: Tok): Tok[] {
  const out: Tok[] = [];
  const re = /\S+/g;
  for (let m = re.exec(t.text); m; m = re.exec(t.text)) out.push({ text: m[0], col: t.col + m.index });
  return out;
}

for (const size of Object.keys(SIZES) as MemSize[]) {
  TABLE.set(`ldx${size}`, (ctx, line, ops, mn) => {
    arity(line, mn, ops, 2, `ldx${size} dst, [src+off]`);
    const dst = parseRegister(line, ops[0]!);
    const m = parseMem(line, ops[1]!);
    emit(ctx, op.BPF_LDX | op.BPF_MEM | SIZES[size], dst, m.reg, m.off);
  });
  TABLE.set(`st${size}`, (ctx, line, ops, mn) => {
    arity(line, mn, ops, 2, `st${size} [dst+off], imm`);
    const m = parseMem(line, ops[0]!);
    emit(ctx, op.BPF_ST | op.BPF_MEM | SIZES[size], m.reg, 0, m.off, parseImm32(line, ops[1]!));
  });
  TABLE.set(`stx${size}`, (ctx, line, ops, mn) => {
    arity(line, mn, ops, 2, `stx${size} [dst+off], src`);
    const m = parseMem(line, ops[0]!);
    emit(ctx, op.BPF_STX | op.BPF_MEM | SIZES[size], m.reg, parseRegister(line, ops[1]!, 'source register'), m.off);
  });
  if (size === 'dw') continue;
  TABLE.set(`ldxs${size}`, (ctx, line, ops, mn) => {
    arity(line, mn, ops, 2, `ldxs${size} dst, [src+off]`);
    const dst = parseRegister(line, ops[0]!);
    const m = parseMem(line, ops[1]!);
    emit(ctx, op.BPF_LDX | op.BPF_MEMSX | SIZES[size], dst, m.reg, m.off);
  });
  TABLE.set(`ldabs${size}`, (ctx, line, ops, mn) => {
    arity(line, mn, ops, 1, `ldabs${size} imm`);
    emit(ctx, op.BPF_LD | op.BPF_ABS | SIZES[size], 0, 0, 0, parseImm32(line, ops[0]!));
  });
  TABLE.set(`ldind${size}`, (ctx, line, ops, mn) => {
    arity(line, mn, ops, 2, `ldind${size} src, imm`);
    emit(ctx, op.BPF_LD | op.BPF_IND | SIZES[size], 0, parseRegister(line, ops[0]!), 0, parseImm32(line, ops[1]!));
  });
}

/** `lock [fetch] OP[32] [dst+off], src`: the words before the first operand arrive in `words`. */
function encodeLock(ctx: Ctx, line: Line, mn: Tok, words: Tok[], ops: Tok[]): void {
  const form = 'lock [fetch] add|and|or|xor|xchg|cmpxchg[32] [dst+off], src';
  let i = 0;
  let fetch = false;
  if (words[i]?.text.toLowerCase() === 'fetch') {
    fetch = true;
    i++;
  }
  const w = words[i];
  if (!w || words.length !== i + 1) {
    throw line.err('operand-count', mn.col, `Invalid number of operands for lock (${form})`);
  }
  const m = /^(add|and|or|xor|xchg|cmpxchg)(32|64)?$/.exec(w.text.toLowerCase());
  if (!m) throw line.err('unknown-mnemonic', w.col, `unknown atomic operation '${w.text}' (${form})`);
  const name = m[1] as keyof typeof ATOMICS;
  if (fetch && (name === 'xchg' || name === 'cmpxchg')) {
    throw line.err('syntax', words[0]!.col, `'${name}' always fetches; write 'lock ${name}'`);
  }
  if (ops.length !== 2) throw line.err('operand-count', mn.col, `Invalid number of operands for lock (${form}), got ${ops.length}`);
  const mem = parseMem(line, ops[0]!);
  const src = parseRegister(line, ops[1]!, 'source register');
  const size = m[2] === '32' ? op.BPF_W : op.BPF_DW;
  emit(ctx, op.BPF_STX | op.BPF_ATOMIC | size, mem.reg, src, mem.off, ATOMICS[name] | (fetch ? op.BPF_FETCH : 0));
}

// --- driver ----------------------------------------------------------------------------------

/** Assemble to instruction slots (lddw as two slots). */
export function assembleInsns(source: string, opts: AssembleOptions = {}): Insn[] {
  if (typeof source !== 'string') throw new AssemblerError('syntax', 1, 1, 'assembly source must be a string');
  const ctx: Ctx = { out: [], fixups: [], opts };
  const labels = new Map<string, { index: number; line: number }>();
  let firstExit: number | undefined;
  const lines = source.split(/\r\n|\n|\r/);

  for (let li = 0; li < lines.length; li++) {
    const no = li + 1;
    const line: Line = { no, err: (kind, col, reason) => new AssemblerError(kind, no, col, reason) };
    let text = lines[li]!;
    const hash = text.indexOf('#');
    if (hash >= 0) text = text.slice(0, hash);
    const slashes = text.indexOf('//');
    if (slashes >= 0) text = text.slice(0, slashes);
    let pos = 0;
    const skipWs = (): void => {
      while (pos < text.length && /\s/.test(text[pos]!)) pos++;
    };
    skipWs();

    // labels: `name:` (possibly followed by an instruction on the same line)
    for (;;) {
      const m = /^([A-Za-z_.$][\w.$]*)[ \t]*:/.exec(text.slice(pos));
      if (!m) break;
      const name = m[1]!;
      const prev = labels.get(name);
      if (prev) {
        throw line.err('duplicate-label', pos + 1, `duplicate label '${name}' (first defined on line ${prev.line})`);
      }
      labels.set(name, { index: ctx.out.length, line: no });
      pos += m[0].length;
      skipWs();
    }
    if (pos >= text.length) continue;

    const mm = /^[A-Za-z_][\w.]*/.exec(text.slice(pos));
    if (!mm) throw line.err('syntax', pos + 1, `expected a mnemonic or a label, got '${text.slice(pos).trim()}'`);
    const mn: Tok = { text: mm[0].toLowerCase(), col: pos + 1 };
    pos += mm[0].length;
    if (pos < text.length && !/\s/.test(text[pos]!)) {
      throw line.err('syntax', pos + 1, `unexpected '${text[pos]}' after mnemonic '${mm[0]}'`);
    }
    skipWs();

    // leading keywords before the comma-separated operands (lock [fetch] OP, call local|kfunc ...)
    const words: Tok[] = [];
    if (mn.text === 'lock') {
      for (;;) {
        const w = /^[A-Za-z_]\w*(?=\s|$)/.exec(text.slice(pos));
        if (!w) break;
        words.push({ text: w[0], col: pos + 1 });
        pos += w[0].length;
        skipWs();
      }
    } else if (mn.text === 'call') {
      const w = /^(local|helper|runtime|kfunc)\s+(?=\S)/i.exec(text.slice(pos));
      if (w) {
        words.push({ text: w[1]!, col: pos + 1 });
        pos += w[0].length;
      }
    }

    const ops: Tok[] = [];
    const rest = text.slice(pos);
    if (rest.trim().length > 0) {
      let start = 0;
      for (const piece of rest.split(',')) {
        const lead = piece.length - piece.trimStart().length;
        const tok = piece.trim();
        if (tok.length === 0) throw line.err('syntax', pos + start + 1, `empty operand in '${text.trim()}'`);
        ops.push({ text: tok, col: pos + start + lead + 1 });
        start += piece.length + 1;
      }
    }

    const before = ctx.out.length;
    if (mn.text === 'lock') {
      encodeLock(ctx, line, mn, words, ops);
    } else {
      const enc = TABLE.get(mn.text);
      if (!enc) throw line.err('unknown-mnemonic', mn.col, `Invalid mnemonic '${mm[0]}'`);
      enc(ctx, line, [...words, ...ops], mn);
    }
    if (mn.text === 'exit' && firstExit === undefined) firstExit = before;
    const first = ctx.out[before]!;
    const why = validate(first);
    if (why) throw line.err('invalid-instruction', mn.col, why);
  }

  if (ctx.out.length === 0) throw new AssemblerError('empty-program', 1, 1, 'program has no instructions');

  for (const f of ctx.fixups) {
    const dest = labels.get(f.label)?.index ?? (f.label === 'exit' ? firstExit : undefined);
    if (dest === undefined) throw new AssemblerError('undefined-label', f.line, f.col, `undefined label '${f.label}'`);
    const rel = dest - f.index - 1;
    const at = ctx.out[f.index]!;
    if (f.kind === 'off') {
      if (rel < INT16_MIN || rel > INT16_MAX) {
        throw new AssemblerError('range', f.line, f.col, `label '${f.label}' is ${rel} slots away, beyond the 16-bit jump offset (use ja32)`);
      }
      at.off = rel;
    } else {
      at.imm = rel;
    }
  }
  withImm64(ctx.out);
  return ctx.out;
}

/** Assemble ubpf-style text to bytecode. Throws AssemblerError (line, column, reason). */
export function assemble(source: string, opts: AssembleOptions = {}): Uint8Array {
  return encode(assembleInsns(source, opts));
}
