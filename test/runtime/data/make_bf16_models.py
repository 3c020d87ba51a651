"""Writes the bfloat16 models test/runtime/bfloat16.test.ts runs, with their inputs and NumPy's answers.
    .oracle/bin/python test/runtime/data/make_bf16_models.py OUT_DIR

NumPy has no bfloat16, so the answers are float32 arrays holding bfloat16 values: a float32 is rounded to
bfloat16 (round to nearest, ties to even, as onnxruntime's Cast does) with integer arithmetic on its bits.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def bf16(a):
    """float32 -> the nearest bfloat16, as a float32 (ties to even; NaN stays NaN)."""
    a = np.asarray(a, np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    r = (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(a), a, r).astype(np.float32)


def bf16_initializer(name, values):
    bits = (bf16(values).view(np.uint32) >> 16).astype(np.uint16)
    t = onnx.TensorProto()
    t.name = name
    t.data_type = T.BFLOAT16
    t.dims.extend(bits.shape)
    t.raw_data = bits.tobytes()
    return t


def save(nodes, inputs, outputs, name, initializers=(), external=False):
    graph = h.make_graph(nodes, name.replace('.onnx', ''), inputs, outputs, list(initializers))
    model = h.make_model(graph, opset_imports=[h.make_opsetid('', 17)])
    model.ir_version = 8  # onnxruntime 1.30 reads IR <= 13; onnx 1.23 writes 14
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(out, name)
    if external:
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=name + '.data', size_threshold=0)
    else:
        onnx.save(model, path)


def npy(name, a):
    np.save(os.path.join(out, name), a)


vi = h.make_tensor_value_info
two = h.make_tensor('two', T.FLOAT, [], [2.0])
one = h.make_tensor('one', T.FLOAT, [], [1.0])

# mul2.onnx: x (bfloat16) -> float -> *2 -> bfloat16 -> y (bfloat16); its float32 twin has the same math.
save(
    [h.make_node('Cast', ['x'], ['xf'], to=T.FLOAT), h.make_node('Mul', ['xf', 'two'], ['yf']), h.make_node('Cast', ['yf'], ['y'], to=T.BFLOAT16)],
    [vi('x', T.BFLOAT16, ['batch', 3])],
    [vi('y', T.BFLOAT16, ['batch', 3])],
    'mul2.onnx',
    [two],
)
save([h.make_node('Mul', ['x', 'two'], ['y'])], [vi('x', T.FLOAT, ['batch', 3])], [vi('y', T.FLOAT, ['batch', 3])], 'mul2_f32.onnx', [two])

# Values that round: ties to even both ways, just above a tie, float32 precision, overflow to inf,
# a float32 subnormal, -0, NaN.
x = np.array(
    [
        [1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20],
        [np.pi, -0.1, 3.3e38],
        [1e-40, -0.0, np.nan],
        [-123.456, 65504.0, 1e-3],
    ],
    np.float32,
)
npy('x.npy', x)
with np.errstate(over="ignore"):
    npy("y_expected.npy", bf16(bf16(x) * np.float32(2)))

# Values exact in bfloat16, float16 and float64 alike: the same answer whatever the file's dtype.
exact = np.array([[1.0, -2.5, 0.375], [4.0, 0.0078125, -96.0]], np.float32)
npy('exact.npy', exact)
npy('exact64.npy', exact.astype(np.float64))
npy('exact16.npy', exact.astype(np.float16))
npy('exact_int.npy', exact.astype(np.int32))
npy('exact_y.npy', exact * 2)

# weights.onnx: bfloat16 weights in external data; y (bfloat16) = x*w + b, also read inside: z = y + 1 (float32).
rng = np.random.default_rng(0)
w = bf16(rng.standard_normal(3).astype(np.float32))
b = bf16(rng.standard_normal(3).astype(np.float32))
save(
    [
        h.make_node('Cast', ['x'], ['xf'], to=T.FLOAT),
        h.make_node('Cast', ['w'], ['wf'], to=T.FLOAT),
        h.make_node('Cast', ['b'], ['bf'], to=T.FLOAT),
        h.make_node('Mul', ['xf', 'wf'], ['xw']),
        h.make_node('Add', ['xw', 'bf'], ['yf']),
        h.make_node('Cast', ['yf'], ['y'], to=T.BFLOAT16),
        h.make_node('Cast', ['y'], ['y32'], to=T.FLOAT),
        h.make_node('Add', ['y32', 'one'], ['z']),
    ],
    [vi('x', T.BFLOAT16, [2, 3])],
    [vi('y', T.BFLOAT16, [2, 3]), vi('z', T.FLOAT, [2, 3])],
    'weights.onnx',
    [bf16_initializer('w', w), bf16_initializer('b', b), one],
    external=True,
)
xw = rng.uniform(-4, 4, (2, 3)).astype(np.float32)
npy('xw.npy', xw)
yw = bf16(bf16(xw) * w + b)
np.savez(os.path.join(out, 'weights_expected.npz'), y=yw, z=yw + np.float32(1))

# if.onnx: the branches read the bfloat16 input x from the outer scope.
then_branch = h.make_graph([h.make_node('Cast', ['x'], ['t'], to=T.FLOAT)], 'then', [], [vi('t', T.FLOAT, [3])])
else_branch = h.make_graph([h.make_node('Cast', ['x'], ['e0'], to=T.FLOAT), h.make_node('Neg', ['e0'], ['e'])], 'else', [], [vi('e', T.FLOAT, [3])])
save(
    [h.make_node('If', ['c'], ['y'], then_branch=then_branch, else_branch=else_branch)],
    [vi('x', T.BFLOAT16, [3]), vi('c', T.BOOL, [])],
    [vi('y', T.FLOAT, [3])],
    'if.onnx',
)
xi = np.array([1 + 2**-8, -0.3, 7.77], np.float32)
np.savez(os.path.join(out, 'if_true.npz'), x=xi, c=np.array(True))
np.savez(os.path.join(out, 'if_false.npz'), x=xi, c=np.array(False))
npy('if_true_y.npy', bf16(xi))
npy('if_false_y.npy', -bf16(xi))

# const.onnx: a bfloat16 output that is an initializer, next to a float32 one.
k = bf16(np.array([0.1, 1e5, -7.3], np.float32))
save(
    [h.make_node('Add', ['x', 'one'], ['z'])],
    [vi('x', T.FLOAT, [3])],
    [vi('k', T.BFLOAT16, [3]), vi('z', T.FLOAT, [3])],
    'const.onnx',
    [bf16_initializer('k', k), one],
)
npy('k_expected.npy', k)
