import { ALL_DTYPES, dtypeFromOnnx, dtypeInfo, type DType } from '../checkpoint/dtype.js';

/**
 * ONNX tensor element types (TensorProto.DataType) with their names and sizes: the dtypes of the one
 * dtype table (checkpoint/dtype.ts) that ONNX has, named as torch names them, and the types only ONNX
 * has (strings, the sub-byte integers and float4).
 */
export interface ElemTypeInfo {
  readonly code: number;
  readonly name: string;
  /** Bytes per element; 0 for strings and sub-byte types. */
  readonly size: number;
}

const onnxOnly: ElemTypeInfo[] = [
  { code: 8, name: 'string', size: 0 },
  { code: 21, name: 'uint4', size: 0 },
  { code: 22, name: 'int4', size: 0 },
  { code: 23, name: 'float4_e2m1', size: 0 },
  { code: 25, name: 'uint2', size: 0 },
  { code: 26, name: 'int2', size: 0 },
];

const table: ElemTypeInfo[] = [
  ...ALL_DTYPES.filter((info) => info.onnx !== undefined).map((info) => ({ code: info.onnx!, name: info.name, size: info.size })),
  ...onnxOnly,
].sort((a, b) => a.code - b.code);

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

/** The checkpoint dtype of an ONNX element type; undefined for those torch has no 1:1 dtype for. */
export function dtypeOfElemType(elemType: number): DType | undefined {
  return dtypeFromOnnx(elemType);
}

/** The ONNX element type of a checkpoint dtype; undefined for complex32, float4_e2m1fn_x2 and bits*. */
export function elemTypeOfDtype(dtype: DType): number | undefined {
  return dtypeInfo(dtype).onnx;
}
