"""Writes the .npy/.npz files test/runtime/npy.test.ts reads: NumPy's own output for every dtype
modsurg handles, plus the layouts it must reject. Run with any numpy >= 1.17:
    .oracle/bin/python test/runtime/data/make_npy.py
"""
import json, os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, 'npy')
os.makedirs(out, exist_ok=True)

arrays = {
    'float32': np.array([[0.5, -1.25, 3.0], [1e-8, 65504.0, -0.0]], dtype=np.float32),
    'float64': np.array([[0.1, -2.5, 1e300], [np.pi, -0.0, 7.0]], dtype=np.float64),
    'float16': np.array([[0.5, -1.25, 3.0], [6e-8, 65504.0, -0.0]], dtype=np.float16),
    'int8': np.array([[-128, 127, 0], [1, -1, 5]], dtype=np.int8),
    'int16': np.array([[-32768, 32767, 0], [1, -1, 5]], dtype=np.int16),
    'int32': np.array([[-2**31, 2**31 - 1, 0], [1, -1, 5]], dtype=np.int32),
    'int64': np.array([[-2**62, 2**53, 0], [1, -1, 5]], dtype=np.int64),
    'uint8': np.array([[0, 255, 1], [2, 3, 4]], dtype=np.uint8),
    'uint16': np.array([[0, 65535, 1], [2, 3, 4]], dtype=np.uint16),
    'uint32': np.array([[0, 2**32 - 1, 1], [2, 3, 4]], dtype=np.uint32),
    'uint64': np.array([[0, 2**53, 1], [2, 3, 4]], dtype=np.uint64),
    'bool': np.array([[True, False, True], [False, False, True]]),
}
expected = {}
for name, a in arrays.items():
    np.save(os.path.join(out, f'{name}.npy'), a)
    expected[name] = {'shape': list(a.shape), 'values': [None if np.isnan(v) else (int(v) if a.dtype.kind in 'iub' else float(v)) for v in a.astype(np.float64).ravel().tolist()]}

np.save(os.path.join(out, 'scalar.npy'), np.float32(2.5))
np.save(os.path.join(out, 'empty.npy'), np.zeros((0, 3), dtype=np.float32))
np.save(os.path.join(out, 'big_endian.npy'), np.array([1.5, -2.0, 3.25], dtype='>f4'))
np.save(os.path.join(out, 'big_endian_i64.npy'), np.array([1, -2, 2**40], dtype='>i8'))
with open(os.path.join(out, 'v2.npy'), 'wb') as f:
    np.lib.format.write_array(f, np.arange(6, dtype=np.int32).reshape(2, 3), version=(2, 0))
with open(os.path.join(out, 'v3.npy'), 'wb') as f:
    np.lib.format.write_array(f, np.arange(6, dtype=np.int32).reshape(2, 3), version=(3, 0))
np.save(os.path.join(out, 'fortran.npy'), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save(os.path.join(out, 'object.npy'), np.array([1, 'a', None], dtype=object), allow_pickle=True)
np.save(os.path.join(out, 'structured.npy'), np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]))
np.save(os.path.join(out, 'complex.npy'), np.array([1 + 2j], dtype=np.complex64))
np.save(os.path.join(out, 'unicode.npy'), np.array(['ab', 'c']))
np.save(os.path.join(out, 'unicode_big_endian.npy'), np.array([['héllo', '😀'], ['', 'x']], dtype='>U5'))
np.save(os.path.join(out, 'bytes.npy'), np.array([b'caf\xc3\xa9', b'']))
np.savez(os.path.join(out, 'pair.npz'), x=np.arange(4, dtype=np.float32), y=np.array([[1, 2]], dtype=np.int64))
np.savez_compressed(os.path.join(out, 'pair_compressed.npz'), x=np.arange(4, dtype=np.float32), y=np.array([[1, 2]], dtype=np.int64))

# float16 conversions as NumPy rounds them, for the encoder test
with np.errstate(over='ignore'):
    probe = np.array([0.0, -0.0, 1.0, 0.1, 1/3, 65504.0, 65519.99, 65520.0, 1e-8, 2.98e-8, 5.96e-8, 6.1e-5, 1e5, -2.5, 1.0009765625, 1.00048828125, 1.00146484375], dtype=np.float64)
    expected['float16_from_float64'] = {'inputs': probe.tolist(), 'bits': probe.astype(np.float16).view(np.uint16).tolist()}
with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1)
    f.write('\n')
print('wrote', out)
