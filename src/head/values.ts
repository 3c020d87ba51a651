/**
 * The literal values a head spec can hold, written as Python writes them: the spec reads like the
 * `nn.Sequential(OrderedDict(...))` a user would type, and prints back the way torch prints a module.
 */
export type SpecValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'str'; readonly value: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'none' }
  /** `?`: a feature count taken from the model. */
  | { readonly kind: 'infer' }
  /** A tuple or list: `(12,)`, `[12]`. */
  | { readonly kind: 'tuple'; readonly items: readonly SpecValue[] };

export const specValue = {
  int: (value: number): SpecValue => ({ kind: 'int', value }),
  float: (value: number): SpecValue => ({ kind: 'float', value }),
  str: (value: string): SpecValue => ({ kind: 'str', value }),
  bool: (value: boolean): SpecValue => ({ kind: 'bool', value }),
  none: { kind: 'none' } as SpecValue,
  infer: { kind: 'infer' } as SpecValue,
  tuple: (items: readonly SpecValue[]): SpecValue => ({ kind: 'tuple', items }),
};

/** Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents -4..15, else `1e-05`. */
export function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = Math.abs(x).toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const digits = mantissa.replace('.', '');
  const sign = x < 0 ? '-' : '';
  if (exponent < -4 || exponent >= 16) {
    const significand = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${significand}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  if (digits.length <= exponent + 1) return `${sign}${digits}${'0'.repeat(exponent + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
}

/** Python's `repr(str)`: single quotes unless the text holds one and no double quote. */
export function pythonString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    .replace(/\r/g, '\\r')
    .replaceAll(quote, `\\${quote}`);
  return `${quote}${escaped}${quote}`;
}

/** A value as Python source (and as a spec writes it). */
export function pythonRepr(value: SpecValue): string {
  switch (value.kind) {
    case 'int':
      return String(value.value);
    case 'float':
      return pythonFloat(value.value);
    case 'str':
      return pythonString(value.value);
    case 'bool':
      return value.value ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'infer':
      return '?';
    case 'tuple':
      return value.items.length === 1 ? `(${pythonRepr(value.items[0]!)},)` : `(${value.items.map(pythonRepr).join(', ')})`;
  }
}

export function sameValue(a: SpecValue, b: SpecValue): boolean {
  if (a.kind === 'tuple' || b.kind === 'tuple') {
    return a.kind === 'tuple' && b.kind === 'tuple' && a.items.length === b.items.length && a.items.every((item, i) => sameValue(item, b.items[i]!));
  }
  if (a.kind === 'none' || a.kind === 'infer') return a.kind === b.kind;
  // an int argument equals the same float default: Dropout(p=1) and Dropout(p=1.0) are one layer
  const numeric = (v: SpecValue): number | undefined => (v.kind === 'int' || v.kind === 'float' ? v.value : undefined);
  if (numeric(a) !== undefined) return numeric(a) === numeric(b);
  return a.kind === b.kind && 'value' in b && a.value === b.value;
}
