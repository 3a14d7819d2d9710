/**
 * Typed errors of the eBPF toolchain. Every failure on bad input (bytes, assembly text, builder
 * calls) is one of these, never a TypeError/RangeError from inside: callers can `instanceof
 * EbpfError` to tell a bad program from a bug.
 */

/** Base class of every toolchain error. */
export class EbpfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EbpfError';
  }
}

export type AssemblerErrorKind =
  | 'syntax' // malformed line or operand
  | 'unknown-mnemonic'
  | 'operand-count'
  | 'bad-register'
  | 'range' // immediate, offset or jump out of range
  | 'undefined-label'
  | 'duplicate-label'
  | 'unknown-helper'
  | 'unresolved-map'
  | 'empty-program'
  | 'invalid-instruction'; // encodes to something the ISA refuses (e.g. a non-zero reserved field)

/** Text that is not valid assembly: names the 1-based line and column and the reason. */
export class AssemblerError extends EbpfError {
  readonly line: number;
  readonly column: number;
  readonly reason: string;
  readonly kind: AssemblerErrorKind;
  constructor(kind: AssemblerErrorKind, line: number, column: number, reason: string) {
    super(`line ${line}, column ${column}: ${reason}`);
    this.name = 'AssemblerError';
    this.kind = kind;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

export type BuilderErrorKind =
  | 'bad-register'
  | 'range'
  | 'bad-operand'
  | 'unknown-helper'
  | 'duplicate-label'
  | 'undefined-label'
  | 'unresolved-map'
  | 'jump-out-of-range'
  | 'empty-program';

/**
 * A program builder misuse (bad operand at the call) or a link failure (unknown label,
 * unresolved map, jump that does not fit or leaves the program). `index` is the instruction
 * slot concerned, when there is one.
 */
export class LinkError extends EbpfError {
  readonly kind: BuilderErrorKind;
  readonly index: number | undefined;
  readonly reason: string;
  constructor(kind: BuilderErrorKind, reason: string, index?: number) {
    super(index === undefined ? reason : `instruction ${index}: ${reason}`);
    this.name = 'LinkError';
    this.kind = kind;
    this.index = index;
    this.reason = reason;
  }
}

/**
 * An AssemblerError as a compiler-style diagnostic with the source line and a caret, e.g.
 *
 *   line 1, column 12: immediate 2147483648 is out of range for 32 bits (...)
 *     mov32 %r0, 2147483648
 *                ^
 */
export function formatAssemblerError(err: AssemblerError, source: string): string {
  const text = source.split(/\r\n|\n|\r/)[err.line - 1];
  if (text === undefined) return err.message;
  const pad = text.slice(0, Math.max(0, err.column - 1)).replace(/[^\t]/g, ' ');
  return `${err.message}\n  ${text}\n  ${pad}^`;
}
