#!/usr/bin/env python3
"""The ONNX project's own backend test suite, made ready for modsurg's tests (generated, never committed).

usage: backend_suite.py OUT_DIR

Writes OUT_DIR/<kind>/<case>/ for every case: the node tests, written by onnx's own test-data writer
(onnx.backend.test.cmd_tools.generate_data over onnx.backend.test.case.node's cases), and the simple,
pytorch-converted and pytorch-operator cases the onnx wheel ships. For each data set, inputs_N.npz and
expected_N.npz hold its input_*.pb / output_*.pb as numpy arrays named after the graph's inputs and outputs
(float8 as float32, the values exact; strings as unicode). Then Python onnxruntime runs every data set and
is judged with the suite's own tolerance (rtol 1e-3, atol 1e-7).

Prints one JSON line: {"ok": true, "cases": [{"kind", "name", "dir", "io": "tensor" | "sequence" | ...,
"ort_loads": bool, "datasets": [{"inputs", "expected", "ort": "pass" | "fail: …" | "error: …"}]}]}.
"""

import argparse
import glob
import json
import os
import shutil
import warnings

import _cli as C

RTOL, ATOL = 1e-3, 1e-7
FLOAT8 = ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "FLOAT8E8M0")


def write_node_cases(out):
    import onnx.backend.test.case.model as model_test
    import onnx.backend.test.case.node as node_test
    import onnx.backend.test.cmd_tools as tools

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node_test.collect_testcases(None)
        # the wheel's writer writes what collect_testcases gives it: the node cases instead of its models
        saved = model_test.collect_testcases
        model_test.collect_testcases = lambda: cases
        try:
            tools.generate_data(argparse.Namespace(output=out))
        finally:
            model_test.collect_testcases = saved


def io_kind(model):
    """'tensor' when every graph input and output is a tensor, else the first other kind found."""
    inits = {t.name for t in model.graph.initializer}
    for vi in [v for v in model.graph.input if v.name not in inits] + list(model.graph.output):
        kind = vi.type.WhichOneof("value")
        if kind != "tensor_type":
            return kind.replace("_type", "") if kind else "untyped"
    return "tensor"


def as_numpy(tensor):
    """A TensorProto as the array modsurg gets it: float8 as float32 (exactly), strings as unicode."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    array = numpy_helper.to_array(tensor)
    if TensorProto.DataType.Name(tensor.data_type) in FLOAT8:
        array = array.astype(np.float32)
    elif tensor.data_type == TensorProto.STRING:
        array = np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]).reshape(array.shape)
        if array.size == 0:
            array = array.astype("<U1")
    return array


def allclose(got, expected):
    import numpy as np
    if got.dtype.kind in "US" or expected.dtype.kind in "US" or got.dtype == object:
        return got.shape == expected.shape and [str(x) for x in got.reshape(-1)] == [str(x) for x in expected.reshape(-1)]
    if got.shape != expected.shape:
        return False
    return bool(np.allclose(got.astype(np.float64), expected.astype(np.float64), rtol=RTOL, atol=ATOL, equal_nan=True))


def judge_ort(model_path, inputs, expected, output_names):
    """Python onnxruntime on the suite's inputs, against its outputs. float8 tensors have no numpy type onnxruntime
    takes: they go in as OrtValues of their ONNX type, and come out through a Cast to float32."""
    import ml_dtypes
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, numpy_helper

    float8 = {TensorProto.FLOAT8E4M3FN: ml_dtypes.float8_e4m3fn, TensorProto.FLOAT8E4M3FNUZ: ml_dtypes.float8_e4m3fnuz,
              TensorProto.FLOAT8E5M2: ml_dtypes.float8_e5m2, TensorProto.FLOAT8E5M2FNUZ: ml_dtypes.float8_e5m2fnuz}
    try:
        import onnx
        model = onnx.load(model_path)
        # float8 outputs: onnxruntime's Python API has no numpy type for most of them; a Cast to float32 (exact)
        for output in model.graph.output:
            if output.type.tensor_type.elem_type in float8:
                inner = output.name + "__float8"
                for node in model.graph.node:
                    node.output[:] = [inner if o == output.name else o for o in node.output]
                    node.input[:] = [inner if i == output.name else i for i in node.input]
                model.graph.node.append(onnx.helper.make_node("Cast", [inner], [output.name], to=TensorProto.FLOAT))
                output.type.tensor_type.elem_type = TensorProto.FLOAT
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        if any(t.data_type in float8 for t in inputs.values()):
            feeds = {}
            for name, tensor in inputs.items():
                array = numpy_helper.to_array(tensor)
                if tensor.data_type in float8:
                    feeds[name] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(np.ascontiguousarray(array).view(np.uint8), tensor.data_type)
                else:
                    feeds[name] = ort.OrtValue.ortvalue_from_numpy(array)
            got = [value.numpy() for value in session.run_with_ort_values(None, feeds)]
        else:
            got = session.run(None, {name: numpy_helper.to_array(tensor) for name, tensor in inputs.items()})
    except Exception as e:  # noqa: BLE001
        return "error: %s" % str(e).strip().splitlines()[0][:200]
    for name, value, ref in zip(output_names, got, expected):
        value = np.asarray(value)
        if value.dtype != object and ref.dtype.kind == "f" and value.dtype.kind != "f":
            value = value.astype(ref.dtype)
        if not allclose(value, ref):
            return "fail: output %s" % name
    return "pass"


def ort_loads(model_path):
    """Whether Python onnxruntime can make a session of the model at all."""
    import onnxruntime as ort
    try:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
        return True
    except Exception:  # noqa: BLE001
        return False


def prepare(case_dir, kind, out_root):
    import numpy as np
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    inits = {t.name for t in model.graph.initializer}
    in_names = [v.name for v in model.graph.input if v.name not in inits]
    out_names = [v.name for v in model.graph.output]
    entry = {"kind": kind, "name": os.path.basename(case_dir), "dir": case_dir, "io": io_kind(model),
             "float8": any(TensorProto.DataType.Name(v.type.tensor_type.elem_type) in FLOAT8
                           for v in list(model.graph.input) + list(model.graph.output) if v.type.HasField("tensor_type")),
             "datasets": []}
    entry["ort_loads"] = ort_loads(os.path.join(case_dir, "model.onnx"))
    for i, data_dir in enumerate(sorted(glob.glob(os.path.join(case_dir, "test_data_set_*")))):
        dataset = {"ort": "not run"}
        entry["datasets"].append(dataset)
        if entry["io"] != "tensor":
            continue
        def load(prefix, count):
            values = []
            for j in range(count):
                path = os.path.join(data_dir, "%s_%d.pb" % (prefix, j))
                if not os.path.exists(path):
                    break
                t = TensorProto()
                with open(path, "rb") as f:
                    t.ParseFromString(f.read())
                values.append(t)
            return values
        inputs = load("input", len(in_names))
        outputs = load("output", len(out_names))
        raw_expected = [as_numpy(t) for t in outputs]
        dataset["ort"] = judge_ort(os.path.join(case_dir, "model.onnx"), dict(zip(in_names, inputs)), raw_expected, out_names[:len(outputs)])
        dataset["inputs"] = os.path.join(data_dir, "inputs.npz")
        dataset["expected"] = os.path.join(data_dir, "expected.npz")
        np.savez(dataset["inputs"], **{name: as_numpy(t) for name, t in zip(in_names, inputs)})
        np.savez(dataset["expected"], **{name: arr for name, arr in zip(out_names, raw_expected)})
    return entry


def run(argv):
    ap = argparse.ArgumentParser(prog="backend_suite.py")
    ap.add_argument("out")
    a = ap.parse_args(argv)
    import onnx
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    write_node_cases(a.out)
    shipped = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    for kind in ("simple", "pytorch-converted", "pytorch-operator"):
        shutil.copytree(os.path.join(shipped, kind), os.path.join(a.out, kind))
    cases = []
    for kind in ("node", "simple", "pytorch-converted", "pytorch-operator"):
        for case_dir in sorted(glob.glob(os.path.join(a.out, kind, "*"))):
            if os.path.exists(os.path.join(case_dir, "model.onnx")):
                cases.append(prepare(case_dir, kind, a.out))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(cases, f)
    return {"ok": True, "cases": len(cases), "manifest": os.path.join(a.out, "cases.json")}


if __name__ == "__main__":
    C.main(run)
