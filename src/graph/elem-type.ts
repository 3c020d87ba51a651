/** ONNX tensor element types (TensorProto.DataType) with their names and sizes. */
export interface ElemTypeInfo {
  readonly code: number;
  readonly name: string;
  /** Bytes per element; 0 for strings and sub-byte types. */
  readonly size: number;
}

const table: ElemTypeInfo[] = [
  { code: 1, name: 'float32', size: 4 },
  { code: 2, name: 'uint8', size: 1 },
  { code: 3, name: 'int8', size: 1 },
  { code: 4, name: 'uint16', size: 2 },
  { code: 5, name: 'int16', size: 2 },
  { code: 6, name: 'int32', size: 4 },
  { code: 7, name: 'int64', size: 8 },
  { code: 8, name: 'string', size: 0 },
  { code: 9, name: 'bool', size: 1 },
  { code: 10, name: 'float16', size: 2 },
  { code: 11, name: 'float64', size: 8 },
  { code: 12, name: 'uint32', size: 4 },
  { code: 13, name: 'uint64', size: 8 },
  { code: 14, name: 'complex64', size: 8 },
  { code: 15, name: 'complex128', size: 16 },
  { code: 16, name: 'bfloat16', size: 2 },
  { code: 17, name: 'float8_e4m3fn', size: 1 },
  { code: 18, name: 'float8_e4m3fnuz', size: 1 },
  { code: 19, name: 'float8_e5m2', size: 1 },
  { code: 20, name: 'float8_e5m2fnuz', size: 1 },
  { code: 21, name: 'uint4', size: 0 },
  { code: 22, name: 'int4', size: 0 },
  { code: 23, name: 'float4_e2m1', size: 0 },
  { code: 24, name: 'float8_e8m0fnu', size: 1 },
  { code: 25, name: 'uint2', size: 0 },
  { code: 26, name: 'int2', size: 0 },
];

const byCode = new Map(table.map((t) => [t.code, t]));
const byName = new Map(table.map((t) => [t.name, t]));

export const FLOAT = 1;
export const INT64 = 7;

export function elemTypeInfo(code: number): ElemTypeInfo {
  return byCode.get(code) ?? { code, name: `type${code}`, size: 0 };
}

export function elemTypeByName(name: string): ElemTypeInfo | undefined {
  return byName.get(name);
}
