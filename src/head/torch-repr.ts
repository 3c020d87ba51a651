import type { Features, HeadLayer, HeadSpec, ResolvedHead } from './layers.js';
import { pythonFloat, pythonString } from './values.js';

/**
 * The head as `print(module)` shows it in torch 2.x:
 *
 *   Sequential(
 *     (fc1): Linear(in_features=8, out_features=6, bias=True)
 *     (relu1): ReLU()
 *   )
 *
 * Floats print as Python floats (`p=0.5`, `eps=1e-05`); an int written for a float argument shows as a
 * float here (`Dropout(1)` → `p=1.0`), where torch would keep the int.
 */
export function printHead(head: HeadSpec | ResolvedHead): string {
  if (head.kind === 'single') return layerRepr(head.layer);
  if (head.layers.length === 0) return 'Sequential()';
  return ['Sequential(', ...head.layers.map((layer) => `  (${layer.name}): ${layerRepr(layer)}`), ')'].join('\n');
}

const bool = (value: boolean): string => (value ? 'True' : 'False');
const count = (value: Features): string => String(value);

/** One layer as torch prints it: its class name and `extra_repr()`. */
export function layerRepr(layer: HeadLayer): string {
  return `${layer.kind}(${extraRepr(layer)})`;
}

function extraRepr(layer: HeadLayer): string {
  switch (layer.kind) {
    case 'Linear':
      return `in_features=${count(layer.inFeatures)}, out_features=${layer.outFeatures}, bias=${bool(layer.bias)}`;
    case 'ReLU':
    case 'SiLU':
      return layer.inplace ? 'inplace=True' : '';
    case 'LeakyReLU':
      return `negative_slope=${pythonFloat(layer.negativeSlope)}${layer.inplace ? ', inplace=True' : ''}`;
    case 'GELU':
      return `approximate=${pythonString(layer.approximate)}`;
    case 'Sigmoid':
    case 'Tanh':
    case 'Identity':
      return '';
    case 'Dropout':
      return `p=${pythonFloat(layer.p)}, inplace=${bool(layer.inplace)}`;
    case 'Softmax':
    case 'LogSoftmax':
      return `dim=${layer.dim === null ? 'None' : layer.dim}`;
    case 'Flatten':
      return `start_dim=${layer.startDim}, end_dim=${layer.endDim}`;
    case 'BatchNorm1d':
      return [
        count(layer.numFeatures),
        `eps=${pythonFloat(layer.eps)}`,
        `momentum=${layer.momentum === null ? 'None' : pythonFloat(layer.momentum)}`,
        `affine=${bool(layer.affine)}`,
        `bias=${bool(layer.affine && layer.bias)}`,
        `track_running_stats=${bool(layer.trackRunningStats)}`,
      ].join(', ');
    case 'LayerNorm': {
      const shape = layer.normalizedShape.length === 1 ? `(${count(layer.normalizedShape[0]!)},)` : `(${layer.normalizedShape.map(count).join(', ')})`;
      return `${shape}, eps=${pythonFloat(layer.eps)}, elementwise_affine=${bool(layer.elementwiseAffine)}, bias=${bool(layer.elementwiseAffine && layer.bias)}`;
    }
  }
}
