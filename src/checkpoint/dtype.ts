/**
 * Tensor element types as torch names them, with what each file format calls them.
 * One table so the readers and writers of every format agree.
 */
export type DType =
  | 'float64'
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool'
  | 'complex128'
  | 'complex64'
  | 'complex32'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'float8_e4m3fn'
  | 'float8_e5m2'
  | 'float8_e4m3fnuz'
  | 'float8_e5m2fnuz'
  | 'float8_e8m0fnu'
  | 'float4_e2m1fn_x2'
  | 'bits8'
  | 'bits16'
  | 'bits1x8'
  | 'bits2x4'
  | 'bits4x2';

/** `bits` dtypes are opaque bit patterns: no arithmetic, copied as they are. */
export type DTypeKind = 'float' | 'int' | 'uint' | 'bool' | 'complex' | 'bits';

export interface DTypeInfo {
  readonly name: DType;
  readonly kind: DTypeKind;
  /** Bytes per element. */
  readonly size: number;
  /** The legacy typed-storage class torch pickles for it (`torch.FloatStorage`); absent for the dtypes that
   *  torch saves through `UntypedStorage` + `_rebuild_tensor_v3`. */
  readonly storageClass?: string;
  /** The safetensors dtype code, where safetensors has one. */
  readonly safetensors?: string;
  /** The ONNX element type (TensorProto.DataType), where ONNX has the same type. */
  readonly onnx?: number;
}

const table: DTypeInfo[] = [
  { name: 'float64', kind: 'float', size: 8, storageClass: 'DoubleStorage', safetensors: 'F64', onnx: 11 },
  { name: 'float32', kind: 'float', size: 4, storageClass: 'FloatStorage', safetensors: 'F32', onnx: 1 },
  { name: 'float16', kind: 'float', size: 2, storageClass: 'HalfStorage', safetensors: 'F16', onnx: 10 },
  { name: 'bfloat16', kind: 'float', size: 2, storageClass: 'BFloat16Storage', safetensors: 'BF16', onnx: 16 },
  { name: 'int64', kind: 'int', size: 8, storageClass: 'LongStorage', safetensors: 'I64', onnx: 7 },
  { name: 'int32', kind: 'int', size: 4, storageClass: 'IntStorage', safetensors: 'I32', onnx: 6 },
  { name: 'int16', kind: 'int', size: 2, storageClass: 'ShortStorage', safetensors: 'I16', onnx: 5 },
  { name: 'int8', kind: 'int', size: 1, storageClass: 'CharStorage', safetensors: 'I8', onnx: 3 },
  { name: 'uint8', kind: 'uint', size: 1, storageClass: 'ByteStorage', safetensors: 'U8', onnx: 2 },
  { name: 'bool', kind: 'bool', size: 1, storageClass: 'BoolStorage', safetensors: 'BOOL', onnx: 9 },
  { name: 'complex128', kind: 'complex', size: 16, storageClass: 'ComplexDoubleStorage', onnx: 15 },
  { name: 'complex64', kind: 'complex', size: 8, storageClass: 'ComplexFloatStorage', safetensors: 'C64', onnx: 14 },
  { name: 'complex32', kind: 'complex', size: 4 },
  { name: 'uint16', kind: 'uint', size: 2, safetensors: 'U16', onnx: 4 },
  { name: 'uint32', kind: 'uint', size: 4, safetensors: 'U32', onnx: 12 },
  { name: 'uint64', kind: 'uint', size: 8, safetensors: 'U64', onnx: 13 },
  { name: 'float8_e4m3fn', kind: 'float', size: 1, safetensors: 'F8_E4M3', onnx: 17 },
  { name: 'float8_e5m2', kind: 'float', size: 1, safetensors: 'F8_E5M2', onnx: 19 },
  { name: 'float8_e4m3fnuz', kind: 'float', size: 1, safetensors: 'F8_E4M3FNUZ', onnx: 18 },
  { name: 'float8_e5m2fnuz', kind: 'float', size: 1, safetensors: 'F8_E5M2FNUZ', onnx: 20 },
  { name: 'float8_e8m0fnu', kind: 'float', size: 1, safetensors: 'F8_E8M0', onnx: 24 },
  { name: 'float4_e2m1fn_x2', kind: 'float', size: 1 },
  { name: 'bits8', kind: 'bits', size: 1 },
  { name: 'bits16', kind: 'bits', size: 2 },
  { name: 'bits1x8', kind: 'bits', size: 1 },
  { name: 'bits2x4', kind: 'bits', size: 1 },
  { name: 'bits4x2', kind: 'bits', size: 1 },
];

const byName = new Map<string, DTypeInfo>(table.map((info) => [info.name, info]));
const byStorageClass = new Map<string, DTypeInfo>(
  table.filter((info) => info.storageClass !== undefined).map((info) => [info.storageClass!, info]),
);
const bySafetensors = new Map<string, DTypeInfo>(
  table.filter((info) => info.safetensors !== undefined).map((info) => [info.safetensors!, info]),
);

const byOnnx = new Map<number, DTypeInfo>(table.filter((info) => info.onnx !== undefined).map((info) => [info.onnx!, info]));

/** Other spellings torch accepts for the same dtype (`torch.float` is float32, `torch.half` float16, ...). */
const aliases: Record<string, DType> = {
  float: 'float32',
  double: 'float64',
  half: 'float16',
  long: 'int64',
  int: 'int32',
  short: 'int16',
  cfloat: 'complex64',
  cdouble: 'complex128',
  chalf: 'complex32',
};

export const ALL_DTYPES: readonly DTypeInfo[] = table;

export function dtypeInfo(dtype: DType): DTypeInfo {
  return byName.get(dtype)!;
}

/** The dtype torch calls `name` (`float16`, `half`, ...), or undefined. */
export function dtypeFromTorchName(name: string): DType | undefined {
  if (byName.has(name)) return name as DType;
  return aliases[name];
}

export function dtypeFromStorageClass(storageClass: string): DType | undefined {
  return byStorageClass.get(storageClass)?.name;
}

export function dtypeFromSafetensors(code: string): DType | undefined {
  return bySafetensors.get(code)?.name;
}

/** The dtype of an ONNX element type; undefined for those torch has no 1:1 dtype for (string, int4, …). */
export function dtypeFromOnnx(code: number): DType | undefined {
  return byOnnx.get(code)?.name;
}

export function isFloating(dtype: DType): boolean {
  return dtypeInfo(dtype).kind === 'float';
}
