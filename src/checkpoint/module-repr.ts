import { dictGet, keyText, None, pyRepr, type PyObject, type PyValue } from './pickle/value.js';
import { isModuleObject, moduleClassName, objectState } from './state-dict.js';

/**
 * `print(model)` of a whole-model pickle, character for character as PyTorch prints it, from the
 * attributes the pickle holds (`in_channels`, `kernel_size`, `eps`, `inplace`, …) and its `_modules`
 * order — without the model's code. Each standard layer's `extra_repr` is torch's own (torch 2.x, read
 * from its source); a class this table does not know prints as a module without `extra_repr`:
 * `ClassName(` and its children `)`.
 */
export function moduleRepr(module: PyObject): string {
  // iterative: a model may nest modules deeper than the call stack (a generated 10,000-layer chain)
  const done = new Map<PyObject, string>();
  const stack: { module: PyObject; children: [string, PyValue][]; next: number }[] = [{ module, children: childrenOf(module), next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next < top.children.length) {
      const child = top.children[top.next++]![1];
      if (isModuleObject(child) && !done.has(child) && !stack.some((s) => s.module === child)) stack.push({ module: child, children: childrenOf(child), next: 0 });
      continue;
    }
    stack.pop();
    const reprOf = (value: PyValue): string => (isModuleObject(value) ? (done.get(value) ?? `${className(value)}(...)`) : 'None');
    done.set(top.module, reprNow(top.module, top.children, reprOf));
  }
  return done.get(module)!;
}

/** `named_modules()`: every module's dotted path, each shared module once, the root (`''`) first. */
export function namedModules(module: PyObject): string[] {
  const names: string[] = [];
  const seen = new Set<PyObject>();
  const stack: { module: PyObject; path: string }[] = [{ module, path: '' }];
  while (stack.length > 0) {
    const { module: next, path } = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    names.push(path);
    const children = childrenOf(next).filter((entry): entry is [string, PyObject] => isModuleObject(entry[1]));
    for (let i = children.length - 1; i >= 0; i--) stack.push({ module: children[i]![1], path: path === '' ? children[i]![0] : `${path}.${children[i]![0]}` });
  }
  return names;
}

function childrenOf(module: PyObject): [string, PyValue][] {
  const modules = dictGet(objectState(module)!, '_modules');
  return modules?.kind === 'dict' ? modules.entries.map(([k, v]) => [keyText(k), v]) : [];
}

function className(module: PyObject): string {
  return moduleClassName(module).split('.').pop()!;
}

/** Module.__repr__ (or ModuleList's, which folds runs of equal children), given its children's reprs. */
function reprNow(module: PyObject, children: [string, PyValue][], reprOf: (value: PyValue) => string): string {
  const name = className(module);
  if (moduleClassName(module) === 'timm.layers.adaptive_avgmax_pool.SelectAdaptivePool2d') {
    // its own __repr__: 'pool_type=' + self.pool_type + ', flatten=' + str(self.flatten)
    const flatten = children.find(([key]) => key === 'flatten')?.[1];
    return `${name}(pool_type=${pyStr(dictGet(objectState(module)!, 'pool_type'))}, flatten=${flatten ? reprOf(flatten) : 'None'})`;
  }
  if (isTorchClass(module, 'ModuleList')) {
    if (children.length === 0) return `${name}()`;
    const blocks: { start: number; end: number; repr: string }[] = [];
    children.forEach(([, child], i) => {
      const repr = reprOf(child);
      const last = blocks.at(-1);
      if (last && last.repr === repr) last.end = i;
      else blocks.push({ start: i, end: i, repr });
    });
    const lines = blocks.map((b) => addIndent(b.start === b.end ? `(${b.start}): ${b.repr}` : `(${b.start}-${b.end}): ${b.end - b.start + 1} x ${b.repr}`, 2));
    return `${name}(\n  ${lines.join('\n  ')}\n)`;
  }
  const extra = extraRepr(module);
  const extraLines = extra ? extra.split('\n') : [];
  const childLines = children.map(([key, child]) => `(${key}): ${addIndent(reprOf(child), 2)}`);
  const lines = [...extraLines, ...childLines];
  if (lines.length === 0) return `${name}()`;
  if (extraLines.length === 1 && childLines.length === 0) return `${name}(${extraLines[0]})`;
  return `${name}(\n  ${lines.join('\n  ')}\n)`;
}

/** torch's `_addindent`: every line after the first indented, blank lines left empty. */
function addIndent(text: string, spaces: number): string {
  const lines = text.split('\n');
  if (lines.length === 1) return text;
  return [lines[0], ...lines.slice(1).map((line) => (line.trim() ? ' '.repeat(spaces) + line : ''))].join('\n');
}

function isTorchClass(module: PyObject, name: string): boolean {
  const qualified = moduleClassName(module);
  return qualified.startsWith('torch.nn.') && qualified.endsWith(`.${name}`);
}

/** An attribute as Python's `str()` shows it inside a format string. */
type Attr = (name: string) => string;

/**
 * `extra_repr` of torch.nn's layers, by class name: what each prints from its attributes. Classes of
 * other packages are not guessed at (a subclass may print anything).
 */
function extraRepr(module: PyObject): string {
  const qualified = moduleClassName(module);
  const state = objectState(module)!;
  if (qualified === 'timm.layers.drop.DropPath') {
    // f'drop_prob={round(self.drop_prob, 3):0.3f}'
    const p = dictGet(state, 'drop_prob');
    return `drop_prob=${(p?.kind === 'float' ? p.value : p?.kind === 'int' ? Number(p.value) : 0).toFixed(3)}`;
  }
  const base = qualified.startsWith('torch.nn.modules.') ? qualified.split('.').pop()! : INHERITED_EXTRA_REPR[qualified];
  if (base === undefined) return '';
  const value = (name: string): PyValue | undefined => dictGet(state, name);
  const str: Attr = (name) => pyStr(value(name));
  const repr: Attr = (name) => pyRepr(value(name) ?? None);
  const has = (dict: string, name: string): boolean => {
    const d = value(dict);
    const v = d?.kind === 'dict' ? dictGet(d, name) : undefined;
    return v !== undefined && v.kind !== 'none';
  };
  // `self.bias is not None`: a parameter registered as None reads as None
  const bias = has('_parameters', 'bias');
  const truthy = (name: string): boolean => {
    const v = value(name);
    return v !== undefined && !(v.kind === 'bool' && !v.value) && v.kind !== 'none' && !(v.kind === 'int' && v.value === 0n);
  };
  const inplaceAlone = (): string => (truthy('inplace') ? 'inplace=True' : '');
  const inplaceAfter = (): string => (truthy('inplace') ? ', inplace=True' : '');
  const name = base;
  switch (name) {
    case 'Linear':
    case 'LazyLinear':
    case 'NonDynamicallyQuantizableLinear':
      return `in_features=${str('in_features')}, out_features=${str('out_features')}, bias=${bias ? 'True' : 'False'}`;
    case 'Bilinear':
      return `in1_features=${str('in1_features')}, in2_features=${str('in2_features')}, out_features=${str('out_features')}, bias=${bias ? 'True' : 'False'}`;
    case 'Conv1d':
    case 'Conv2d':
    case 'Conv3d':
    case 'ConvTranspose1d':
    case 'ConvTranspose2d':
    case 'ConvTranspose3d': {
      let s = `${str('in_channels')}, ${str('out_channels')}, kernel_size=${str('kernel_size')}, stride=${str('stride')}`;
      if (!allEqual(value('padding'), 0)) s += `, padding=${str('padding')}`;
      if (!allEqual(value('dilation'), 1)) s += `, dilation=${str('dilation')}`;
      if (!allEqual(value('output_padding'), 0)) s += `, output_padding=${str('output_padding')}`;
      if (str('groups') !== '1') s += `, groups=${str('groups')}`;
      if (!bias) s += ', bias=False';
      if (str('padding_mode') !== 'zeros') s += `, padding_mode=${str('padding_mode')}`;
      return s;
    }
    case 'BatchNorm1d':
    case 'BatchNorm2d':
    case 'BatchNorm3d':
    case 'SyncBatchNorm':
    case 'InstanceNorm1d':
    case 'InstanceNorm2d':
    case 'InstanceNorm3d':
      return `${str('num_features')}, eps=${str('eps')}, momentum=${str('momentum')}, affine=${str('affine')}, bias=${bias ? 'True' : 'False'}, track_running_stats=${str('track_running_stats')}`;
    case 'LayerNorm':
      return `${str('normalized_shape')}, eps=${str('eps')}, elementwise_affine=${str('elementwise_affine')}, bias=${bias ? 'True' : 'False'}`;
    case 'GroupNorm':
      return `${str('num_groups')}, ${str('num_channels')}, eps=${str('eps')}, affine=${str('affine')}, bias=${bias ? 'True' : 'False'}`;
    case 'RMSNorm':
      return `${str('normalized_shape')}, eps=${str('eps')}, elementwise_affine=${str('elementwise_affine')}`;
    case 'LocalResponseNorm':
      return `${str('size')}, alpha=${str('alpha')}, beta=${str('beta')}, k=${str('k')}`;
    case 'ReLU':
    case 'ReLU6':
    case 'SiLU':
    case 'Mish':
    case 'Hardswish':
    case 'Hardsigmoid':
      // Hardswish and Hardsigmoid print nothing; the others `inplace=True` when set
      return name === 'Hardswish' || name === 'Hardsigmoid' ? '' : inplaceAlone();
    case 'LeakyReLU':
      return `negative_slope=${str('negative_slope')}${inplaceAfter()}`;
    case 'ELU':
    case 'CELU':
      return `alpha=${str('alpha')}${inplaceAfter()}`;
    case 'Hardtanh':
      return `min_val=${str('min_val')}, max_val=${str('max_val')}${inplaceAfter()}`;
    case 'Threshold':
      return `threshold=${str('threshold')}, value=${str('value')}${inplaceAfter()}`;
    case 'GELU':
      return `approximate=${repr('approximate')}`;
    case 'Softplus':
      return `beta=${str('beta')}, threshold=${str('threshold')}`;
    case 'PReLU':
      return `num_parameters=${str('num_parameters')}`;
    case 'Softmax':
    case 'LogSoftmax':
    case 'Softmin':
    case 'GLU':
      return `dim=${str('dim')}`;
    case 'Hardshrink':
    case 'Softshrink':
      return str('lambd');
    case 'MaxPool1d':
    case 'MaxPool2d':
    case 'MaxPool3d':
      return `kernel_size=${str('kernel_size')}, stride=${str('stride')}, padding=${str('padding')}, dilation=${str('dilation')}, ceil_mode=${str('ceil_mode')}`;
    case 'AvgPool1d':
    case 'AvgPool2d':
    case 'AvgPool3d':
      return `kernel_size=${str('kernel_size')}, stride=${str('stride')}, padding=${str('padding')}`;
    case 'AdaptiveAvgPool1d':
    case 'AdaptiveAvgPool2d':
    case 'AdaptiveAvgPool3d':
    case 'AdaptiveMaxPool1d':
    case 'AdaptiveMaxPool2d':
    case 'AdaptiveMaxPool3d':
      return `output_size=${str('output_size')}`;
    case 'Dropout':
    case 'Dropout1d':
    case 'Dropout2d':
    case 'Dropout3d':
    case 'AlphaDropout':
    case 'FeatureAlphaDropout':
      return `p=${str('p')}, inplace=${str('inplace')}`;
    case 'Upsample':
    case 'UpsamplingNearest2d':
    case 'UpsamplingBilinear2d':
      return `${value('scale_factor')?.kind !== 'none' && value('scale_factor') !== undefined ? `scale_factor=${repr('scale_factor')}` : `size=${repr('size')}`}, mode=${repr('mode')}`;
    case 'Flatten':
      return `start_dim=${str('start_dim')}, end_dim=${str('end_dim')}`;
    case 'Unflatten':
      return `dim=${str('dim')}, unflattened_size=${str('unflattened_size')}`;
    case 'PixelShuffle':
      return `upscale_factor=${str('upscale_factor')}`;
    case 'PixelUnshuffle':
      return `downscale_factor=${str('downscale_factor')}`;
    case 'ChannelShuffle':
      return `groups=${str('groups')}`;
    case 'ZeroPad1d':
    case 'ZeroPad2d':
    case 'ZeroPad3d':
    case 'ConstantPad1d':
    case 'ConstantPad2d':
    case 'ConstantPad3d':
      return name.startsWith('Zero') ? str('padding') : `padding=${str('padding')}, value=${str('value')}`;
    case 'ReflectionPad1d':
    case 'ReflectionPad2d':
    case 'ReflectionPad3d':
    case 'ReplicationPad1d':
    case 'ReplicationPad2d':
    case 'ReplicationPad3d':
      return str('padding');
    case 'Embedding': {
      let s = `${str('num_embeddings')}, ${str('embedding_dim')}`;
      if (value('padding_idx')?.kind !== 'none') s += `, padding_idx=${str('padding_idx')}`;
      if (value('max_norm')?.kind !== 'none') s += `, max_norm=${str('max_norm')}`;
      if (pyNumber(value('norm_type')) !== 2) s += `, norm_type=${str('norm_type')}`;
      if (str('scale_grad_by_freq') !== 'False') s += `, scale_grad_by_freq=${str('scale_grad_by_freq')}`;
      if (truthy('sparse')) s += ', sparse=True';
      return s;
    }
    case 'RNN':
    case 'LSTM':
    case 'GRU': {
      let s = `${str('input_size')}, ${str('hidden_size')}`;
      if (str('proj_size') !== '0' && value('proj_size') !== undefined) s += `, proj_size=${str('proj_size')}`;
      if (str('num_layers') !== '1') s += `, num_layers=${str('num_layers')}`;
      if (str('bias') !== 'True') s += `, bias=${str('bias')}`;
      if (str('batch_first') !== 'False') s += `, batch_first=${str('batch_first')}`;
      if (pyNumber(value('dropout')) !== 0) s += `, dropout=${str('dropout')}`;
      if (str('bidirectional') !== 'False') s += `, bidirectional=${str('bidirectional')}`;
      return s;
    }
    default:
      return '';
  }
}

/**
 * Classes of model libraries that subclass a torch.nn layer without their own `extra_repr`, so print as
 * it does (found by walking each class's MRO in timm): the torch class whose `extra_repr` they inherit.
 */
const INHERITED_EXTRA_REPR: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, {
  'timm.layers.activations.PReLU': 'PReLU',
  'timm.layers.conv2d_same.Conv2dSame': 'Conv2d',
  'timm.layers.conv2d_same.Conv2dSameExport': 'Conv2d',
  'timm.layers.std_conv.StdConv2d': 'Conv2d',
  'timm.layers.std_conv.StdConv2dSame': 'Conv2d',
  'timm.layers.std_conv.ScaledStdConv2d': 'Conv2d',
  'timm.layers.std_conv.ScaledStdConv2dSame': 'Conv2d',
  'timm.layers.linear.Linear': 'Linear',
  'timm.layers.norm.GroupNorm': 'GroupNorm',
  'timm.layers.norm.GroupNorm1': 'GroupNorm',
  'timm.layers.norm_act.GroupNormAct': 'GroupNorm',
  'timm.layers.norm_act.GroupNorm1Act': 'GroupNorm',
  'timm.models.metaformer.GroupNorm1NoBias': 'GroupNorm',
  'timm.layers.norm.LayerNorm': 'LayerNorm',
  'timm.layers.norm.LayerNorm2d': 'LayerNorm',
  'timm.layers.norm.LayerNormFp32': 'LayerNorm',
  'timm.layers.norm.LayerNorm2dFp32': 'LayerNorm',
  'timm.layers.norm.LayerNormExp2d': 'LayerNorm',
  'timm.layers.norm_act.LayerNormAct': 'LayerNorm',
  'timm.layers.norm_act.LayerNormAct2d': 'LayerNorm',
  'timm.layers.norm_act.LayerNormActFp32': 'LayerNorm',
  'timm.layers.norm_act.LayerNormAct2dFp32': 'LayerNorm',
  'timm.models.metaformer.LayerNormNoBias': 'LayerNorm',
  'timm.models.metaformer.LayerNorm2dNoBias': 'LayerNorm',
  'timm.layers.norm_act.BatchNormAct2d': 'BatchNorm2d',
  'timm.layers.norm_act.SyncBatchNormAct': 'BatchNorm2d',
  'timm.layers.split_batchnorm.SplitBatchNorm2d': 'BatchNorm2d',
  'timm.layers.pool2d_same.AvgPool2dSame': 'AvgPool2d',
  'timm.layers.pool2d_same.MaxPool2dSame': 'MaxPool2d',
});

/** `x != (k,) * len(x)` for a tuple attribute (a string such as 'same' is never all k). */
function allEqual(value: PyValue | undefined, k: number): boolean {
  if (value === undefined) return true;
  if (value.kind !== 'tuple') return false;
  return value.items.every((item) => item.kind === 'int' && item.value === BigInt(k));
}

function pyNumber(value: PyValue | undefined): number | undefined {
  if (value?.kind === 'int') return Number(value.value);
  if (value?.kind === 'float') return value.value;
  return undefined;
}

/** Python's `str()` of an attribute: strings bare, everything else as `repr()`; a missing one as None. */
function pyStr(value: PyValue | undefined): string {
  if (value?.kind === 'str') return value.value;
  return pyRepr(value ?? None);
}

