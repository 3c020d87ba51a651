import { ModsurgError } from '../errors.js';
import type { SpecValue } from './values.js';

/**
 * The grammar of a head spec, read into a syntax tree that keeps where each piece was written, so
 * later checks (unknown layer, wrong type) can point at it too:
 *
 *   spec  := item (',' item)*
 *   item  := [name '='] Layer ['(' [arg (',' arg)* [',']] ')']
 *   arg   := [keyword '='] value
 *   value := int | float | 'str' | "str" | True | False | None | '?' | '(' tuple ')' | '[' list ']'
 */

/** Something written at a character offset of the spec. */
export interface Located<T> {
  readonly value: T;
  readonly at: number;
}

export interface ArgumentSyntax {
  readonly keyword?: Located<string>;
  readonly value: Located<SpecValue>;
}

export interface ItemSyntax {
  readonly name?: Located<string>;
  readonly layer: Located<string>;
  readonly args: readonly ArgumentSyntax[];
  /** Where the argument list ends (its `)`, or the end of the layer name): where a missing argument is reported. */
  readonly end: number;
}

/** An error about a spec, pointing at a character in one line: `--head: expected ')' at character 19: fc1=Linear(2048,12 ⟨here⟩`. */
export class SpecError extends ModsurgError {
  override name = 'SpecError';

  constructor(
    readonly origin: string,
    readonly reason: string,
    readonly text: string,
    /** 0-based offset; shown 1-based. */
    readonly at: number,
  ) {
    super(`${origin}: ${reason} at character ${at + 1}: ${pointAt(text, at)}`);
  }
}

const CONTEXT = 60;

/** The spec on one line with a marker at `at`, shortened around it when long. */
export function pointAt(text: string, at: number): string {
  const flat = text.replace(/[\r\n\t]/g, ' ');
  const before = flat.slice(0, at);
  const after = flat.slice(at);
  const head = before.length > CONTEXT ? `…${before.slice(-CONTEXT)}` : before;
  const tail = after.length > CONTEXT ? `${after.slice(0, CONTEXT)}…` : after;
  return `${head.trimEnd()} ⟨here⟩ ${tail.trimStart()}`.trim();
}

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const DIGITS = /[0-9]+/y;
const NUMBER = /[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

class Reader {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly origin: string,
  ) {}

  fail(reason: string, at: number = this.pos): never {
    throw new SpecError(this.origin, reason, this.text, at);
  }

  get position(): number {
    return this.pos;
  }

  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length;
  }

  /** The next non-space character, not consumed. */
  peek(): string | undefined {
    this.skipSpace();
    return this.text[this.pos];
  }

  /** Consumes `char` if it comes next. */
  accept(char: string): boolean {
    if (this.peek() !== char) return false;
    this.pos++;
    return true;
  }

  match(pattern: RegExp): Located<string> | undefined {
    this.skipSpace();
    pattern.lastIndex = this.pos;
    const found = pattern.exec(this.text);
    if (!found) return undefined;
    const at = this.pos;
    this.pos += found[0].length;
    return { value: found[0], at };
  }

  /** `=` as an assignment, not the start of `==`. */
  acceptEquals(): boolean {
    if (this.peek() !== '=' || this.text[this.pos + 1] === '=') return false;
    this.pos++;
    return true;
  }

  /** Looks ahead: an identifier followed by `=` (a keyword argument or a layer name). */
  identifierThenEquals(pattern: RegExp = IDENTIFIER): boolean {
    const start = this.pos;
    const ok = this.match(pattern) !== undefined && this.acceptEquals();
    this.pos = start;
    return ok;
  }

  quoted(): Located<string> {
    const at = this.pos;
    const quote = this.text[this.pos++]!;
    let value = '';
    while (this.pos < this.text.length && this.text[this.pos] !== quote) {
      const char = this.text[this.pos++]!;
      if (char === '\\' && this.pos < this.text.length) {
        const escaped = this.text[this.pos++]!;
        value += ESCAPES[escaped] ?? `\\${escaped}`;
      } else value += char;
    }
    if (this.pos >= this.text.length) this.fail(`unterminated string (no closing ${quote})`, at);
    this.pos++;
    return { value, at };
  }
}

/** Reads a spec's text into items; every syntax error is a SpecError pointing at its character. */
export function parseSyntax(text: string, origin: string): ItemSyntax[] {
  const reader = new Reader(text, origin);
  if (reader.atEnd()) reader.fail('expected a layer, e.g. Linear(?, 10)');
  const items: ItemSyntax[] = [];
  for (;;) {
    items.push(parseItem(reader));
    if (reader.atEnd()) return items;
    if (!reader.accept(',')) reader.fail(`expected ',' or the end of the spec, not '${reader.peek()}'`);
    if (reader.atEnd()) reader.fail("expected a layer after ','");
  }
}

function parseItem(reader: Reader): ItemSyntax {
  let name: Located<string> | undefined;
  if (reader.identifierThenEquals(IDENTIFIER) || reader.identifierThenEquals(DIGITS)) {
    name = reader.match(IDENTIFIER) ?? reader.match(DIGITS)!;
    reader.acceptEquals();
  }
  const layer = reader.match(IDENTIFIER);
  if (!layer) {
    const next = reader.peek();
    reader.fail(next === undefined ? 'expected a layer, e.g. ReLU()' : `expected a layer, e.g. ReLU(), not '${next}'`);
  }
  if (!reader.accept('(')) return { ...(name ? { name } : {}), layer, args: [], end: reader.position };
  const args: ArgumentSyntax[] = [];
  for (;;) {
    if (reader.atEnd()) reader.fail("expected ')'");
    if (reader.peek() === ')') break;
    let keyword: Located<string> | undefined;
    if (reader.identifierThenEquals()) {
      keyword = reader.match(IDENTIFIER)!;
      reader.acceptEquals();
    }
    args.push({ ...(keyword ? { keyword } : {}), value: parseValue(reader) });
    if (reader.atEnd()) reader.fail("expected ')'");
    if (reader.peek() === ')') break;
    if (!reader.accept(',')) reader.fail(`expected ',' or ')', not '${reader.peek()}'`);
  }
  const end = reader.position;
  reader.accept(')');
  return { ...(name ? { name } : {}), layer, args, end };
}

function parseValue(reader: Reader): Located<SpecValue> {
  const next = reader.peek();
  const at = reader.position;
  if (next === undefined) reader.fail('expected a value');
  if (next === '?') {
    reader.accept('?');
    return { value: { kind: 'infer' }, at };
  }
  if (next === "'" || next === '"') {
    const text = reader.quoted();
    return { value: { kind: 'str', value: text.value }, at };
  }
  if (next === '(' || next === '[') return parseSequence(reader, next === '(' ? ')' : ']');
  const number = reader.match(NUMBER);
  if (number) {
    if (reader.match(/[A-Za-z_]/y)) reader.fail(`'${number.value}' followed by letters is not a number`, at);
    if (/^[+-]?[0-9]+$/.test(number.value)) {
      const value = Number(number.value);
      if (!Number.isSafeInteger(value)) reader.fail(`${number.value} is too large`, at);
      return { value: { kind: 'int', value }, at };
    }
    return { value: { kind: 'float', value: Number(number.value) }, at };
  }
  const word = reader.match(IDENTIFIER);
  if (word) {
    if (word.value === 'True' || word.value === 'False') return { value: { kind: 'bool', value: word.value === 'True' }, at };
    if (word.value === 'None') return { value: { kind: 'none' }, at };
    reader.fail(`expected a value, not the name '${word.value}' (quote strings: '${word.value}')`, at);
  }
  reader.fail(`expected a value, not '${next}'`);
}

/** `(…)` or `[…]`: a tuple/list, except `(x)` without a comma, which is just `x` as in Python. */
function parseSequence(reader: Reader, close: ')' | ']'): Located<SpecValue> {
  const at = reader.position;
  reader.accept(close === ')' ? '(' : '[');
  const items: SpecValue[] = [];
  let comma = false;
  for (;;) {
    if (reader.atEnd()) reader.fail(`expected '${close}'`);
    if (reader.peek() === close) break;
    items.push(parseValue(reader).value);
    if (reader.atEnd()) reader.fail(`expected '${close}'`);
    if (reader.peek() === close) break;
    if (!reader.accept(',')) reader.fail(`expected ',' or '${close}', not '${reader.peek()}'`);
    comma = true;
  }
  reader.accept(close);
  if (close === ')' && items.length === 1 && !comma) return { value: items[0]!, at };
  return { value: { kind: 'tuple', items }, at };
}
