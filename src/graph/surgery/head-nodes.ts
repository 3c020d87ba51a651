import { ModsurgError } from '../../errors.js';
import type { DType } from '../../checkpoint/dtype.js';
import { encodeFloats, type CastTarget } from '../../checkpoint/numeric.js';
import { layersOf, qualify, type ResolvedHead, type ResolvedLayer } from '../../head/layers.js';
import type { HeadParameter } from '../../head/params.js';
import { elemTypeByName } from '../elem-type.js';
import { uniqueName, type AttributeProto, type GraphNode, type Initializer, type NodeProto } from '../graph.js';

/** What a head becomes in ONNX: its nodes, in order, and the initializers they read. */
export interface HeadNodes {
  readonly nodes: GraphNode[];
  readonly initializers: Initializer[];
}

export interface HeadNodeOptions {
  /** The head's input tensor: [batch, features]. */
  readonly input: string;
  /** The name the head's result must have (the graph output it replaces). */
  readonly output: string;
  /** The module path the head lives at (`fc`; `''` for the model's top level): initializers are named
   *  `fc.fc1.weight`, as in the state dict. */
  readonly at: string;
  /** The model's default-domain opset: it decides which ops exist (Gelu 20, LayerNormalization 17). */
  readonly opset: number;
  /** The floating dtype of the head's computation. */
  readonly dtype: DType;
  /** Names already in the graph; new ones are added as they are taken. */
  readonly used: Set<string>;
}

const float = (name: string, value: number): AttributeProto => ({ name, type: 1, f: value });
const int = (name: string, value: number): AttributeProto => ({ name, type: 2, i: value });
const text = (name: string, value: string): AttributeProto => ({ name, type: 3, s: Buffer.from(value) });

/**
 * Builds the ONNX nodes computing a head exactly as torch's modules do at inference (Dropout is the
 * identity, BatchNorm uses its running statistics), named in the classic exporter's scope style
 * (`/fc/fc1/Gemm`) so module scopes find them, with parameters as initializers named like the
 * state-dict keys (so load-weights can fill them later).
 */
export function headNodes(head: ResolvedHead, parameters: readonly HeadParameter[], options: HeadNodeOptions): HeadNodes {
  const nodes: GraphNode[] = [];
  const initializers: Initializer[] = [];
  const params = new Map(parameters.map((p) => [p.name, p]));
  const elemType = elemTypeByName(options.dtype)?.code;
  if (elemType === undefined) throw new ModsurgError(`cannot build a head of dtype ${options.dtype}`);
  const layers = layersOf(head);
  const scope = (layer: ResolvedLayer): string => [options.at, layer.name].filter((s) => s !== '').map((s) => `/${s.replace(/\./g, '/')}`).join('');
  const qualified = (name: string): string => (options.at === '' ? name : `${options.at}.${name}`);
  let current = options.input;

  const initializer = (name: string): string => {
    const parameter = params.get(name);
    if (!parameter) throw new ModsurgError(`the head has no parameter ${name}`);
    const full = uniqueName(options.used, qualified(name));
    initializers.push({ proto: { name: full, dims: [...parameter.shape], data_type: elemTypeByName(parameter.dtype)!.code, raw_data: parameter.bytes } });
    return full;
  };
  const constant = (name: string, value: number): string => {
    const full = uniqueName(options.used, qualified(name));
    initializers.push({ proto: { name: full, dims: [], data_type: elemType, raw_data: encodeFloats(options.dtype as CastTarget, Float64Array.of(value)) } });
    return full;
  };
  const op = (layer: ResolvedLayer, opType: string, inputs: string[], attributes: AttributeProto[] = [], last = false): string => {
    const output = last ? options.output : uniqueName(options.used, `${scope(layer)}/${opType}_output_0`);
    const node: NodeProto = { name: uniqueName(options.used, `${scope(layer)}/${opType}`), op_type: opType, input: inputs, output: [output] };
    if (attributes.length > 0) node.attribute = attributes;
    nodes.push({ proto: node });
    return output;
  };

  layers.forEach((layer, index) => {
    const last = index === layers.length - 1;
    const x = current;
    const p = (member: string): string => initializer(qualify(layer.name, member));
    switch (layer.kind) {
      case 'Linear': {
        const inputs = [x, p('weight')];
        if (layer.bias) inputs.push(p('bias'));
        current = op(layer, 'Gemm', inputs, [float('alpha', 1), float('beta', 1), int('transB', 1)], last);
        break;
      }
      case 'ReLU':
        current = op(layer, 'Relu', [x], [], last);
        break;
      case 'LeakyReLU':
        current = op(layer, 'LeakyRelu', [x], [float('alpha', layer.negativeSlope)], last);
        break;
      case 'Sigmoid':
        current = op(layer, 'Sigmoid', [x], [], last);
        break;
      case 'Tanh':
        current = op(layer, 'Tanh', [x], [], last);
        break;
      case 'SiLU':
        current = op(layer, 'Mul', [x, op(layer, 'Sigmoid', [x])], [], last);
        break;
      case 'GELU':
        if (options.opset >= 20) current = op(layer, 'Gelu', [x], [text('approximate', layer.approximate)], last);
        else if (layer.approximate === 'none') {
          // 0.5·x·(1 + erf(x/√2))
          const erf = op(layer, 'Erf', [op(layer, 'Div', [x, constant(`${layer.name}.sqrt2`, Math.SQRT2)])]);
          const onePlus = op(layer, 'Add', [erf, constant(`${layer.name}.one`, 1)]);
          current = op(layer, 'Mul', [op(layer, 'Mul', [x, onePlus]), constant(`${layer.name}.half`, 0.5)], [], last);
        } else {
          // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
          const cube = op(layer, 'Mul', [op(layer, 'Mul', [x, x]), x]);
          const inner = op(layer, 'Add', [x, op(layer, 'Mul', [cube, constant(`${layer.name}.c`, 0.044715)])]);
          const tanh = op(layer, 'Tanh', [op(layer, 'Mul', [inner, constant(`${layer.name}.k`, Math.sqrt(2 / Math.PI))])]);
          const onePlus = op(layer, 'Add', [tanh, constant(`${layer.name}.one`, 1)]);
          current = op(layer, 'Mul', [op(layer, 'Mul', [x, onePlus]), constant(`${layer.name}.half`, 0.5)], [], last);
        }
        break;
      case 'Dropout':
      case 'Identity':
        current = op(layer, 'Identity', [x], [], last);
        break;
      case 'Softmax':
      case 'LogSoftmax':
        // torch's implicit dim for a [batch, features] input is 1; opset < 13 Softmax flattens from the axis, the same on 2-D
        current = op(layer, layer.kind, [x], [int('axis', layer.dim ?? 1)], last);
        break;
      case 'Flatten':
        if (layer.startDim !== 1 || layer.endDim !== -1) {
          throw new ModsurgError(`${layer.name}: only Flatten(1, -1) has an ONNX equivalent in a head (Flatten axis=1)`);
        }
        current = op(layer, 'Flatten', [x], [int('axis', 1)], last);
        break;
      case 'BatchNorm1d': {
        if (!layer.trackRunningStats) throw new ModsurgError(`${layer.name}: BatchNorm1d without running statistics has no inference form in ONNX`);
        const n = layer.numFeatures;
        const scale = layer.affine ? p('weight') : expand(constant(`${layer.name}.ones`, 1), n);
        const bias = layer.affine && layer.bias ? p('bias') : expand(constant(`${layer.name}.zeros`, 0), n);
        current = op(layer, 'BatchNormalization', [x, scale, bias, p('running_mean'), p('running_var')], [float('epsilon', layer.eps)], last);
        break;
      }
      case 'LayerNorm': {
        if (options.opset < 17) throw new ModsurgError(`${layer.name}: LayerNorm needs opset 17 (LayerNormalization); the model has opset ${options.opset}`);
        const inputs = [x, layer.elementwiseAffine ? p('weight') : expand(constant(`${layer.name}.ones`, 1), layer.normalizedShape[0]!)];
        if (layer.elementwiseAffine && layer.bias) inputs.push(p('bias'));
        current = op(layer, 'LayerNormalization', inputs, [int('axis', -1), float('epsilon', layer.eps)], last);
        break;
      }
    }
  });
  return { nodes, initializers };

  /** A scalar constant as a [n] initializer (BatchNormalization wants per-channel inputs). */
  function expand(scalarName: string, n: number): string {
    const scalar = initializers.find((i) => i.proto.name === scalarName)!;
    const one = scalar.proto.raw_data!;
    const bytes = new Uint8Array(one.length * n);
    for (let i = 0; i < n; i++) bytes.set(one, i * one.length);
    initializers.splice(initializers.indexOf(scalar), 1, { proto: { ...scalar.proto, dims: [n], raw_data: bytes } });
    return scalarName;
  }
}
