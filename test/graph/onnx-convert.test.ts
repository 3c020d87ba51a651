import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { contiguousBytes, readStorage, type Tensor } from '../../src/checkpoint/tensor.js';
import {
  alignedOffset,
  checkLocation,
  checkModelSize,
  defaultDataFileName,
  ExternalDataFiles,
  planDataLayout,
  requestedLayout,
  dataFilePieces,
} from '../../src/graph/external-data.js';
import type { Initializer, TensorProto } from '../../src/graph/graph.js';
import { dtypeOfElemType, elemTypeOfDtype } from '../../src/graph/elem-type.js';
import {
  initializerTensor,
  initializerTensors,
  initializerWithExternalData,
  initializerWithRawData,
  readTensorFields,
  tensorToInitializer,
} from '../../src/graph/initializers.js';
import { PROTOBUF_LIMIT, readOnnxModel } from '../../src/graph/model.js';
import { onnxTypes } from '../../src/graph/onnx-schema.js';
import { lengthDelimited, varintField } from '../../src/graph/wire.js';
import { MemorySink } from '../../src/io/byte-sink.js';
import { FileSource } from '../../src/io/byte-source.js';
import { materialize, writePieces } from '../../src/io/pieces.js';
import { fixture, scratchDir } from '../helpers/cli.js';

const open = (name: string) => readOnnxModel(new FileSource(name, fixture(name)), fixture(name));

/** An initializer item as a model holds one: the GraphProto field's bytes and the decoded proto. */
function item(proto: TensorProto): Initializer {
  const payload = onnxTypes.TensorProto.encode(onnxTypes.TensorProto.fromObject(proto)).finish();
  return { proto, raw: [Buffer.concat(lengthDelimited(5, payload))] };
}

/** An item from hand-made TensorProto fields (for 64-bit values protobufjs numbers cannot hold). */
function wireItem(name: string, dataType: number, dims: number[], dataFields: Uint8Array[]): Initializer {
  const payload = Buffer.concat([
    ...lengthDelimited(1, Buffer.from(dims.flatMap((d) => varint(BigInt(d))))),
    varintField(2, dataType),
    ...lengthDelimited(8, Buffer.from(name)),
    ...dataFields,
  ]);
  return { proto: { name, data_type: dataType, dims }, raw: [Buffer.concat(lengthDelimited(5, payload))] };
}

function varint(value: bigint): number[] {
  const out: number[] = [];
  let rest = BigInt.asUintN(64, value);
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const valuesOf = (i: Initializer): string => hex(contiguousBytes(initializerTensor(i)));

describe('ONNX element types ↔ checkpoint dtypes', () => {
  it('maps every type torch has, both ways', () => {
    const pairs: [number, string][] = [
      [1, 'float32'], [2, 'uint8'], [3, 'int8'], [4, 'uint16'], [5, 'int16'], [6, 'int32'], [7, 'int64'], [9, 'bool'],
      [10, 'float16'], [11, 'float64'], [12, 'uint32'], [13, 'uint64'], [14, 'complex64'], [15, 'complex128'], [16, 'bfloat16'],
      [17, 'float8_e4m3fn'], [18, 'float8_e4m3fnuz'], [19, 'float8_e5m2'], [20, 'float8_e5m2fnuz'], [24, 'float8_e8m0fnu'],
    ];
    for (const [code, dtype] of pairs) {
      expect(dtypeOfElemType(code)).toBe(dtype);
      expect(elemTypeOfDtype(dtype as never)).toBe(code);
    }
    for (const code of [8, 21, 22, 23, 25, 26]) expect(dtypeOfElemType(code)).toBeUndefined();
    for (const dtype of ['complex32', 'float4_e2m1fn_x2', 'bits8'] as const) expect(elemTypeOfDtype(dtype)).toBeUndefined();
  });

  it('refuses string, int4, uint4, float4 and 2-bit initializers by name', () => {
    expect(() => initializerTensor(item({ name: 'labels', data_type: 8, dims: [1] }))).toThrow(/initializer 'labels': element type string has no PyTorch dtype/);
    for (const [code, type] of [[21, 'uint4'], [22, 'int4'], [23, 'float4_e2m1'], [25, 'uint2'], [26, 'int2']] as const) {
      expect(() => initializerTensor(item({ name: 'q', data_type: code, dims: [2], raw_data: Uint8Array.of(0x21) }))).toThrow(
        new RegExp(`initializer 'q': element type ${type} has no PyTorch dtype`),
      );
    }
  });
});

describe('typed fields decode by the spec’s packing rules', () => {
  it('float_data: float32 and complex64 (pairs)', () => {
    expect(valuesOf(item({ name: 'f', data_type: 1, dims: [2], float_data: [1, -2.5] }))).toBe(hex(new Uint8Array(Float32Array.of(1, -2.5).buffer)));
    expect(valuesOf(item({ name: 'c', data_type: 14, dims: [1], float_data: [3, 4] }))).toBe(hex(new Uint8Array(Float32Array.of(3, 4).buffer)));
  });

  it('int32_data: narrow integers by value, bool as 0/1, float16/bfloat16/float8 by bit pattern', () => {
    expect(valuesOf(item({ name: 'i8', data_type: 3, dims: [3], int32_data: [-1, 5, -128] }))).toBe('ff0580');
    expect(valuesOf(item({ name: 'u8', data_type: 2, dims: [2], int32_data: [255, 7] }))).toBe('ff07');
    expect(valuesOf(item({ name: 'i16', data_type: 5, dims: [2], int32_data: [-2, 300] }))).toBe('feff2c01');
    expect(valuesOf(item({ name: 'u16', data_type: 4, dims: [1], int32_data: [65535] }))).toBe('ffff');
    expect(valuesOf(item({ name: 'i32', data_type: 6, dims: [2], int32_data: [-1, 2147483647] }))).toBe('ffffffffffffff7f');
    expect(valuesOf(item({ name: 'b', data_type: 9, dims: [3], int32_data: [0, 1, 1] }))).toBe('000101');
    expect(valuesOf(item({ name: 'h', data_type: 10, dims: [2], int32_data: [0x3c00, 0xc000] }))).toBe('003c00c0');
    expect(valuesOf(item({ name: 'bf', data_type: 16, dims: [1], int32_data: [0x3f80] }))).toBe('803f');
    expect(valuesOf(item({ name: 'f8', data_type: 17, dims: [2], int32_data: [0x38, 0xb8] }))).toBe('38b8');
  });

  it('int64_data and uint64_data keep all 64 bits (read from the wire, not as JS numbers)', () => {
    const packed = (field: number, values: bigint[]) => Buffer.concat(lengthDelimited(field, Buffer.from(values.flatMap(varint))));
    const i64 = wireItem('i64', 7, [3], [packed(7, [-1n, 2n ** 63n - 1n, -(2n ** 63n)])]);
    expect(valuesOf(i64)).toBe('ffffffffffffffff' + 'ffffffffffffff7f' + '0000000000000080');
    const u64 = wireItem('u64', 13, [1], [packed(11, [2n ** 64n - 1n])]);
    expect(valuesOf(u64)).toBe('ffffffffffffffff');
    const u32 = wireItem('u32', 12, [2], [packed(11, [4294967295n, 1n])]);
    expect(valuesOf(u32)).toBe('ffffffff01000000');
    // unpacked repeated values (one field per value) are accepted as protobuf requires
    const unpacked = wireItem('i64u', 7, [2], [Uint8Array.of(0x38, ...varint(5n)), Uint8Array.of(0x38, ...varint(-3n))]);
    expect(valuesOf(unpacked)).toBe('0500000000000000fdffffffffffffff');
  });

  it('double_data: float64 and complex128', () => {
    expect(valuesOf(item({ name: 'd', data_type: 11, dims: [1], double_data: [0.1] }))).toBe(hex(new Uint8Array(Float64Array.of(0.1).buffer)));
    expect(valuesOf(item({ name: 'z', data_type: 15, dims: [1], double_data: [1, -1] }))).toBe(hex(new Uint8Array(Float64Array.of(1, -1).buffer)));
  });

  it('refuses a field that does not fit the type, and a wrong count, naming the initializer', () => {
    expect(() => initializerTensor(item({ name: 'w', data_type: 6, dims: [1], float_data: [1] }))).toThrow(/initializer 'w': float_data of a int32 tensor cannot be decoded/);
    expect(() => initializerTensor(item({ name: 'w', data_type: 1, dims: [3], float_data: [1, 2] }))).toThrow(/initializer 'w': float_data holds 2 values for 3 float32 elements/);
    expect(() => initializerTensor(item({ name: 'w', data_type: 1, dims: [2, 2], raw_data: new Uint8Array(12) }))).toThrow(/initializer 'w': holds 12 bytes, but float32\[2, 2\] needs 16/);
    expect(() => initializerTensor(item({ name: 'w', data_type: 1, dims: [2] }))).toThrow(/initializer 'w': holds no data for 2 elements/);
  });

  it('scalars and empty tensors', () => {
    const scalar = initializerTensor(item({ name: 's', data_type: 7, dims: [], int64_data: [42] }));
    expect(scalar.shape).toEqual([]);
    expect(hex(contiguousBytes(scalar))).toBe('2a00000000000000');
    const empty = initializerTensor(item({ name: 'e', data_type: 1, dims: [0, 3] }));
    expect(empty.shape).toEqual([0, 3]);
    expect(contiguousBytes(empty).length).toBe(0);
  });
});

describe('raw_data initializers', () => {
  it('are tensors over the model’s own bytes, not copies', () => {
    const model = open('resnet.onnx');
    const first = model.graph.initializers[0]!;
    const tensor = initializerTensor(first);
    expect(tensor).toMatchObject({ dtype: 'float32', shape: [10, 8], stride: [8, 1], storageOffset: 0, parameter: false, requiresGrad: false });
    expect(tensor.storage.data.kind).toBe('range');
    expect(contiguousBytes(tensor).buffer).toBe((first.raw![0] as Uint8Array).buffer);
  });

  it('every fixture initializer reads, in graph order', () => {
    for (const name of ['resnet.onnx', 'resnet_dynamo.onnx', 'unet.onnx']) {
      const model = open(name);
      const tensors = initializerTensors(model.graph.initializers);
      expect(tensors.map(([n]) => n)).toEqual(model.graph.initializers.map((i) => i.proto.name));
      for (const [n, t] of tensors) expect(contiguousBytes(t), n).toEqual(model.graph.initializers.find((i) => i.proto.name === n)!.proto.raw_data);
    }
  });

  it('duplicate names are an error', () => {
    const one = item({ name: 'w', data_type: 1, dims: [1], raw_data: new Uint8Array(4) });
    expect(() => initializerTensors([one, one])).toThrow(/two initializers are named 'w'/);
  });
});

describe('tensor → initializer', () => {
  const tensor = (dtype: Tensor['dtype'], shape: number[], stride: number[], bytes: Uint8Array, storageOffset = 0): Tensor => ({
    dtype,
    shape,
    stride,
    storageOffset,
    storage: { key: '0', dtype, numel: bytes.length / (dtype === 'float32' ? 4 : 1), location: 'cpu', data: { kind: 'bytes', bytes } },
    requiresGrad: false,
    parameter: true,
  });

  it('writes raw_data little-endian and contiguous, and reads back the same', () => {
    const values = new Uint8Array(Float32Array.of(1, 2, 3, 4, 5, 6).buffer);
    const proto = tensorToInitializer('w', tensor('float32', [2, 3], [3, 1], values));
    expect(proto).toMatchObject({ name: 'w', dims: [2, 3], data_type: 1 });
    expect(hex(contiguousBytes(initializerTensor(item(proto))))).toBe(hex(values));
  });

  it('gathers strided views in row-major order', () => {
    const values = new Uint8Array(Float32Array.of(1, 2, 3, 4, 5, 6).buffer);
    const transposed = tensorToInitializer('t', tensor('float32', [3, 2], [1, 3], values));
    expect(Array.from(new Float32Array(Uint8Array.from(transposed.raw_data!).buffer))).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('refuses dtypes ONNX has no element type for', () => {
    expect(() => tensorToInitializer('c', tensor('bits8', [1], [1], new Uint8Array(1)))).toThrow(/tensor 'c': ONNX has no element type for bits8/);
  });
});

describe('external data', () => {
  const dir = scratchDir();
  const data = Buffer.from([0, 1, 2, 3, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
  writeFileSync(join(dir, 'w.bin'), data);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'v.bin'), data);
  const external = (location: string, offset?: number, length?: number): Initializer => {
    const entries = [['location', location], ...(offset === undefined ? [] : [['offset', String(offset)]]), ...(length === undefined ? [] : [['length', String(length)]])];
    return item({ name: 'w', data_type: 1, dims: [2], data_location: 1, external_data: entries.map(([key, value]) => ({ key, value })) });
  };

  it('reads a range of the data file, relative to the model’s folder', () => {
    const files = new ExternalDataFiles(dir, 'model.onnx');
    try {
      const tensor = initializerTensor(external('w.bin', 4, 8), { external: files.opener });
      expect(tensor.storage.data.kind).toBe('range');
      expect(Array.from(new Float32Array(Uint8Array.from(readStorage(tensor.storage)).buffer))).toEqual([1, 2]);
      expect(hex(contiguousBytes(initializerTensor(external('sub/v.bin', 4, 8), { external: files.opener })))).toBe(hex(data.subarray(4)));
      // no length: to the end of the file
      expect(hex(contiguousBytes(initializerTensor(external('./w.bin', 4), { external: files.opener })))).toBe(hex(data.subarray(4)));
    } finally {
      files.close();
    }
  });

  it('refuses what onnxruntime refuses, and ranges past the end', () => {
    const files = new ExternalDataFiles(dir, 'model.onnx');
    const read = (i: Initializer) => () => initializerTensor(i, { external: files.opener });
    expect(read(external('/etc/passwd', 0, 8))).toThrow(/external data location '\/etc\/passwd' is absolute/);
    expect(read(external('../w.bin', 0, 8))).toThrow(/external data location '..\/w.bin' escapes the model's folder/);
    expect(read(external('sub/../../w.bin', 0, 8))).toThrow(/escapes the model's folder/);
    expect(read(external('w.bin', 8, 8))).toThrow(/initializer 'w': external data \(offset 8, length 8\) runs past the end of w.bin \(12 bytes\)/);
    expect(read(external('nope.bin', 0, 8))).toThrow(/initializer 'w': external data file .*nope.bin: no such file/);
    expect(() => initializerTensor(external('w.bin', 0, 8))).toThrow(/its data is in the external file 'w.bin', and no folder/);
    const stdin = new ExternalDataFiles(undefined, '-');
    expect(() => initializerTensor(external('w.bin', 0, 8), { external: stdin.opener })).toThrow(/cannot be found for a model read from stdin/);
    files.close();
  });

  it('checks data file names given by the user', () => {
    expect(checkLocation('weights/model.data', 'x')).toBe('weights/model.data');
    expect(() => checkLocation('C:\\w.data', 'x')).toThrow(/absolute/);
    expect(() => checkLocation('..', 'x')).toThrow(/escapes/);
    expect(() => checkLocation('', 'x')).toThrow(/empty/);
    expect(defaultDataFileName('model.onnx')).toBe('model.onnx.data');
  });

  it('turns the output flags into a layout that loads where the model is written', () => {
    const ask = { output: 'out/m.onnx', inline: false, externalData: false };
    const inlineModel = { hasExternal: false, replacedExternal: false, mayKeepData: false };
    const copy = { ...inlineModel, hasExternal: true };
    const editBeside = { ...copy, mayKeepData: true };
    expect(requestedLayout(ask, inlineModel)).toBeUndefined();
    expect(requestedLayout(ask, copy)).toEqual({ kind: 'relocate', location: 'm.onnx.data' });
    expect(requestedLayout(ask, editBeside)).toBeUndefined();
    expect(requestedLayout({ ...ask, dataFile: 'x.bin' }, editBeside)).toEqual({ kind: 'relocate', location: 'x.bin' });
    expect(requestedLayout(ask, { ...editBeside, replacedExternal: true })).toEqual({ kind: 'external', location: 'm.onnx.data', threshold: 1024 });
    expect(requestedLayout({ ...ask, externalData: true }, inlineModel)).toEqual({ kind: 'external', location: 'm.onnx.data', threshold: 1024 });
    expect(requestedLayout({ ...ask, externalData: true, dataFile: 'w/x.bin', sizeThreshold: 0 }, inlineModel)).toEqual({ kind: 'external', location: 'w/x.bin', threshold: 0 });
    expect(requestedLayout({ ...ask, inline: true }, copy)).toEqual({ kind: 'inline' });
    expect(requestedLayout({ ...ask, output: '-', inline: true }, copy)).toEqual({ kind: 'inline' });
    expect(requestedLayout({ ...ask, output: '-' }, inlineModel)).toBeUndefined();
    expect(requestedLayout({ ...ask, output: '-' }, copy)).toEqual({ kind: 'inline' });
    expect(requestedLayout({ ...ask, output: '-' }, { ...copy, replacedExternal: true })).toEqual({ kind: 'inline' });
    expect(() => requestedLayout({ ...ask, output: '-', externalData: true }, copy)).toThrow(/stdout cannot carry external data/);
    expect(() => requestedLayout({ ...ask, inline: true, externalData: true }, copy)).toThrow(/contradict/);
    expect(() => requestedLayout({ ...ask, sizeThreshold: 5 }, copy)).toThrow(/--size-threshold needs --external-data/);
    expect(() => requestedLayout({ ...ask, dataFile: 'x' }, inlineModel)).toThrow(/--data-file needs --external-data \(the model has no external data\)/);
    expect(requestedLayout({ ...ask, dataFile: 'x.bin' }, copy)).toEqual({ kind: 'relocate', location: 'x.bin' });
  });

  it('aligns tensors over 1 MiB to 64 KiB and packs smaller ones, as torch.onnx does', () => {
    expect(alignedOffset(100, 1000)).toBe(100);
    expect(alignedOffset(100, 1 << 20)).toBe(100);
    expect(alignedOffset(100, (1 << 20) + 1)).toBe(65536);
    expect(alignedOffset(65536, 2 << 20)).toBe(65536);
  });
});

describe('moving initializer data', () => {
  it('out and back in gives the original initializer bytes, field for field', () => {
    for (const name of ['resnet.onnx', 'resnet_dynamo.onnx', 'unet.onnx']) {
      for (const original of open(name).graph.initializers) {
        const fields = readTensorFields(original);
        const bytes = fields.data.kind === 'raw' ? fields.data.bytes : new Uint8Array(0);
        const out = initializerWithExternalData(original, { location: 'm.data', offset: 4096, length: bytes.length });
        expect(out.proto).toMatchObject({ name: original.proto.name, dims: original.proto.dims, data_location: 1 });
        expect(out.proto.external_data).toEqual([
          { key: 'location', value: 'm.data' },
          { key: 'offset', value: '4096' },
          { key: 'length', value: String(bytes.length) },
        ]);
        expect(out.proto.raw_data).toBeUndefined();
        const back = initializerWithRawData(out, bytes);
        expect(materialize(back.raw!).equals(materialize(original.raw!)), original.proto.name).toBe(true);
      }
    }
  });

  it('keeps other fields (doc_string, metadata) where they were', () => {
    const original = item({ name: 'w', data_type: 1, dims: [1], raw_data: new Uint8Array(4), doc_string: 'kept', metadata_props: [{ key: 'k', value: 'v' }] });
    const out = initializerWithExternalData(original, { location: 'd', offset: 0, length: 4 });
    expect(out.proto).toMatchObject({ doc_string: 'kept', metadata_props: [{ key: 'k', value: 'v' }] });
    expect(materialize(initializerWithRawData(out, new Uint8Array(4)).raw!).equals(materialize(original.raw!))).toBe(true);
  });

  it('plans a data file: threshold, offsets, and what stays inline', () => {
    const { graph } = open('resnet.onnx');
    const plan = planDataLayout(graph.initializers, { kind: 'external', location: 'm.data', threshold: 500 }, {});
    const big = graph.initializers.filter((i) => (i.proto.raw_data?.length ?? 0) >= 500);
    expect(plan.pieces.map((p) => p.name)).toEqual(big.map((i) => i.proto.name));
    expect(plan.external).toBe(big.length);
    let end = 0;
    for (const piece of plan.pieces) {
      expect(piece.offset).toBe(end); // all under 1 MiB: packed
      end += piece.bytes.length;
    }
    expect(plan.dataSize).toBe(end);
    const sink = new MemorySink();
    writePieces(sink, dataFilePieces(plan.pieces));
    expect(sink.toBuffer().equals(Buffer.concat(big.map((i) => i.proto.raw_data!)))).toBe(true);
    // small ones untouched, byte for byte
    plan.initializers.forEach((after, i) => {
      if ((graph.initializers[i]!.proto.raw_data?.length ?? 0) < 500) expect(after).toBe(graph.initializers[i]);
    });
  });

  it('a tensor over 1 MiB starts on a 64 KiB boundary, with zeros before it', () => {
    const small = item({ name: 'small', data_type: 2, dims: [3], raw_data: Uint8Array.of(1, 2, 3) });
    const large = item({ name: 'large', data_type: 2, dims: [(1 << 20) + 5], raw_data: new Uint8Array((1 << 20) + 5).fill(7) });
    const plan = planDataLayout([small, large], { kind: 'external', location: 'm.data', threshold: 0 }, {});
    expect(plan.pieces.map((p) => [p.name, p.offset])).toEqual([['small', 0], ['large', 65536]]);
    const sink = new MemorySink();
    writePieces(sink, dataFilePieces(plan.pieces));
    const bytes = sink.toBuffer();
    expect(bytes.length).toBe(65536 + (1 << 20) + 5);
    expect(hex(bytes.subarray(0, 4))).toBe('01020300');
    expect(bytes.subarray(3, 65536).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(65536).every((b) => b === 7)).toBe(true);
  });

  it('refuses to inline past protobuf’s 2 GiB limit before reading anything', () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(64));
    const ext = item({ name: 'w', data_type: 1, dims: [16], data_location: 1, external_data: [{ key: 'location', value: 'w.bin' }, { key: 'length', value: '64' }] });
    const files = new ExternalDataFiles(dir, 'model.onnx');
    expect(() => planDataLayout([ext], { kind: 'inline' }, { external: files.opener, inlineBudget: 63 })).toThrow(/past protobuf's 2 GiB limit; keep them external \(--external-data\)/);
    expect(() => planDataLayout([ext], { kind: 'inline' }, { external: files.opener, inlineBudget: 63, toStdout: true })).toThrow(
      /past protobuf's 2 GiB limit; stdout can only carry a model whole: write it to a file \(-o FILE\), which keeps them external/,
    );
    const plan = planDataLayout([ext], { kind: 'inline' }, { external: files.opener, inlineBudget: 64 });
    expect(plan.inlined).toBe(1);
    expect(plan.initializers[0]!.proto.raw_data?.length).toBe(64);
    expect(plan.initializers[0]!.proto.data_location).toBeUndefined();
    files.close();
    expect(() => checkModelSize([{ length: PROTOBUF_LIMIT + 1 } as Uint8Array], 'out.onnx')).toThrow(/out.onnx would be 2,147,483,648 bytes, over protobuf's 2 GiB limit/);
  });
});
