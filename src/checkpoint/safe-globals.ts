import { ALL_DTYPES } from './dtype.js';

/**
 * The pickle globals `torch.load(weights_only=True)` accepts by default (torch 2.13's
 * `_get_allowed_globals`), i.e. what a file may reference and still load without running code.
 * Writers only emit names from this set; `inspect` warns about every other.
 */
const rebuildFunctions = [
  '_rebuild_tensor',
  '_rebuild_tensor_v2',
  '_rebuild_tensor_v3',
  '_rebuild_parameter',
  '_rebuild_parameter_with_state',
  '_rebuild_qtensor',
  '_rebuild_sparse_tensor',
  '_rebuild_meta_tensor_no_storage',
  '_rebuild_nested_tensor',
  '_rebuild_wrapper_subclass',
  '_rebuild_device_tensor_from_numpy',
  '_rebuild_device_tensor_from_cpu_tensor',
].map((name) => `torch._utils.${name}`);

const storageClasses = [
  'DoubleStorage', 'FloatStorage', 'HalfStorage', 'BFloat16Storage', 'LongStorage', 'IntStorage', 'ShortStorage',
  'CharStorage', 'ByteStorage', 'BoolStorage', 'ComplexFloatStorage', 'ComplexDoubleStorage', 'QInt8Storage',
  'QUInt8Storage', 'QInt32Storage', 'QUInt4x2Storage', 'QUInt2x4Storage',
];

const exact = new Set<string>([
  'collections.OrderedDict',
  'collections.Counter',
  'builtins.set',
  'builtins.bytearray',
  'builtins.complex',
  '__builtin__.set',
  '__builtin__.bytearray',
  '__builtin__.complex',
  '_codecs.encode',
  'torch.nn.parameter.Parameter',
  'torch.Size',
  'torch.Tensor',
  'torch.device',
  'torch.serialization._get_layout',
  'torch.storage.TypedStorage',
  'torch.storage.UntypedStorage',
  'torch._tensor._rebuild_from_type_v2',
  'torch.per_tensor_affine',
  'torch.per_tensor_symmetric',
  'torch.per_channel_affine',
  'torch.per_channel_symmetric',
  'torch.per_channel_affine_float_qparams',
  ...rebuildFunctions,
  ...storageClasses.flatMap((name) => [`torch.${name}`, `torch.cuda.${name}`]),
  ...ALL_DTYPES.map((info) => `torch.${info.name}`),
  ...['float', 'double', 'half', 'long', 'int', 'short', 'cfloat', 'cdouble', 'chalf', 'qint8', 'quint8', 'qint32'].map(
    (name) => `torch.${name}`,
  ),
  ...Array.from({ length: 7 }, (_, i) => [`torch.int${i + 1}`, `torch.uint${i + 1}`]).flat(),
]);

/** Legacy tensor-type classes (`torch.FloatTensor`, `torch.cuda.sparse.LongTensor`) are allowed too. */
const tensorTypeClass = /^torch(\.cuda)?(\.sparse)?\.(Double|Float|Half|BFloat16|Long|Int|Short|Char|Byte|Bool|ComplexFloat|ComplexDouble)Tensor$/;

export function isSafeGlobal(qualified: string): boolean {
  return exact.has(qualified) || tensorTypeClass.test(qualified);
}

/** A global a written pickle may name: torch.load(weights_only=True) allows it (Python 2's `__builtin__` read as `builtins`). */
export function isWritableGlobal(module: string, name: string): boolean {
  return isSafeGlobal(`${module}.${name}`) || isSafeGlobal(`${module.replace(/^__builtin__$/, 'builtins')}.${name}`);
}

/**
 * Globals that run code the moment an unrestricted unpickler meets them: shells, eval, imports, files,
 * sockets. `inspect` calls these out above every other unsafe global.
 */
const dangerousModules = /^(os|posix|nt|sys|subprocess|shutil|socket|runpy|importlib|pickle|_pickle|marshal|ctypes|pty|webbrowser|code|codeop|asyncio|multiprocessing|requests|urllib|http|ftplib|telnetlib|smtplib)(\.|$)/;
const dangerousBuiltins = new Set(['eval', 'exec', 'compile', 'open', 'getattr', 'setattr', 'delattr', '__import__', 'globals', 'locals', 'vars', 'input', 'breakpoint', 'apply', 'execfile']);

export function isDangerousGlobal(qualified: string): boolean {
  const dot = qualified.lastIndexOf('.');
  const module = qualified.slice(0, dot);
  const name = qualified.slice(dot + 1);
  if ((module === 'builtins' || module === '__builtin__') && dangerousBuiltins.has(name)) return true;
  return dangerousModules.test(module);
}
