#!/usr/bin/env python3
"""Run an ONNX model with onnxruntime (CPU) and compare its outputs with expected .npy files.

usage: run_onnx.py MODEL.onnx [--input NAME=FILE.npy ...] [--expect NAME=FILE.npy ...] [--atol 1e-4]
                   [--rtol 0] [--check] [--input-names A,B] [--output-names A,B] [--no-shape-check]
                   [--ort-opt disable|basic|extended|all]
       run_onnx.py --batch FILE.jsonl|-

--input NAME=FILE.npy   feed FILE (np.load, as is: no dtype cast) to graph input NAME.  A bare FILE.npy is
                        allowed when the model has exactly one (non-initializer) graph input.
                        Every non-initializer graph input must be fed, and every NAME must be a graph input.
--expect NAME=FILE.npy  graph output NAME must have FILE's shape and dtype, and
                        |got - expected| <= atol + rtol * |expected| everywhere (NaN == NaN; NaN vs number
                        fails).  A bare FILE.npy means the first graph output.
--check                 onnx.checker.check_model(model, full_check=True) (strict shape inference); a failure
                        is a mismatch.  Without it "checker" is "skipped".
--input-names/--output-names  the graph's (non-initializer) inputs / outputs must be exactly these, in order.
Shape check (default on; --no-shape-check skips): every output's declared type must agree with what
onnxruntime produced: same elem type, same rank, fixed dims (dim_value) equal; symbolic dims
(dim_param, e.g. 'batch') and missing shapes match anything.
--ort-opt: onnxruntime graph optimization level (default all, as a deployed model would run).
onnxruntime loads MODEL by its path, as a user would: its external data must be where the model says.

All outputs are computed (one session.run); every output is reported, compared or not.
Prints one JSON line:
  {"ok": bool, "checker": "ok" | "skipped" | "<error>", "diffs": [...], "external_data": [data file locations],
   "inputs":  [{"name", "elem_type", "shape": declared dims (ints / dim_param strings / null)}],
   "outputs": {NAME: {"shape", "dtype", "declared": {"elem_type", "shape"}, "expected": FILE | null,
                      "max_abs_diff": float | "nan" | "inf" | null, "ok": bool | null}},
   "output_names": [...]}
Exit 0 ok / 1 mismatch (also: MODEL missing or unloadable, onnxruntime refuses or fails to run it, a
--input NAME the model lacks, an unfed model input) / 2 error (bad arguments, unreadable .npy).
Torch is not imported (fast); --batch runs many checks in one process (see _cli.py).
"""

import argparse
import os

import _cli as C

ORT_LEVELS = ("disable", "basic", "extended", "all")


def parse_pairs(items, what):
    out = []
    for it in items or []:
        if "=" in it and not os.path.exists(it):
            name, path = it.split("=", 1)
            if not name:
                raise C.Usage("%s %r: empty NAME" % (what, it))
            out.append((name, path))
        else:
            out.append((None, it))
    return out


def load_npy(path, what):
    import numpy as np
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise C.Usage("%s %s: cannot read .npy: %s: %s" % (what, path, type(e).__name__, e))


def type_info(vi):
    import onnx
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        return {"elem_type": vi.type.WhichOneof("value"), "shape": None}
    shape = None
    if tt.HasField("shape"):
        shape = [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
                 for d in tt.shape.dim]
    return {"elem_type": onnx.TensorProto.DataType.Name(tt.elem_type), "shape": shape}


def np_elem_name(dtype):
    import onnx
    from onnx import helper
    try:
        return onnx.TensorProto.DataType.Name(helper.np_dtype_to_tensor_dtype(dtype))
    except Exception:  # noqa: BLE001
        return str(dtype)


def compare(got, exp, atol, rtol):
    """(max_abs_diff, within_tolerance); NaN positions must agree."""
    import numpy as np
    if got.dtype.kind in "fc" or exp.dtype.kind in "fc":
        g = got.astype(np.complex128 if "c" in (got.dtype.kind, exp.dtype.kind) else np.float64)
        e = exp.astype(g.dtype)
        gn, en = np.isnan(g), np.isnan(e)
        if np.any(gn != en):
            return float("nan"), False
        g, e = np.where(gn, 0, g), np.where(en, 0, e)
        with np.errstate(invalid="ignore", over="ignore"):
            inf_same = (g == e)  # equal infinities
            d = np.where(inf_same, 0.0, np.abs(g - e))
            tol = atol + rtol * np.abs(e)
        mx = float(np.max(d)) if d.size else 0.0
        return mx, bool(np.all(d <= tol))
    if got.dtype == np.bool_ or exp.dtype == np.bool_:
        d = (got != exp)
        return float(np.max(d)) if d.size else 0.0, not bool(np.any(d))
    d = np.abs(got.astype(np.float64) - exp.astype(np.float64))  # ints: exact unless atol allows
    mx = float(np.max(d)) if d.size else 0.0
    return mx, bool(np.all(d <= atol + rtol * np.abs(exp.astype(np.float64))))


def run(argv):
    ap = argparse.ArgumentParser(prog="run_onnx.py")
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=0.0)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--input-names")
    ap.add_argument("--output-names")
    ap.add_argument("--no-shape-check", action="store_true")
    ap.add_argument("--ort-opt", choices=ORT_LEVELS, default="all")
    a = ap.parse_args(argv)

    import numpy as np
    import onnx

    feeds_spec = parse_pairs(a.input, "--input")
    exp_spec = parse_pairs(a.expect, "--expect")
    feeds_np = [(n, p, load_npy(p, "--input")) for n, p in feeds_spec]
    exp_np = [(n, p, load_npy(p, "--expect")) for n, p in exp_spec]

    if not os.path.exists(a.model):
        raise C.Mismatch("MODEL %s does not exist" % a.model)
    try:
        mdl = onnx.load(a.model, load_external_data=False)
        external = sorted({e.value for t in mdl.graph.initializer for e in t.external_data if e.key == "location"})
        onnx.load_external_data_for_model(mdl, os.path.dirname(os.path.abspath(a.model)))
    except Exception as e:  # noqa: BLE001
        raise C.Mismatch("onnx.load(%s) failed: %s: %s" % (a.model, type(e).__name__, str(e)[:300]))

    res = {"ok": True, "model": a.model, "checker": "skipped", "diffs": []}
    diffs = res["diffs"]
    if a.check:
        try:
            onnx.checker.check_model(mdl, full_check=True)
            res["checker"] = "ok"
        except Exception as e:  # noqa: BLE001
            msg = " | ".join(ln.strip() for ln in str(e).strip().splitlines() if ln.strip())
            res["checker"] = "%s: %s" % (type(e).__name__, msg[:500])
            diffs.append("checker: " + res["checker"])

    inits = {t.name for t in mdl.graph.initializer}
    res["external_data"] = external
    graph_inputs = [vi for vi in mdl.graph.input if vi.name not in inits]
    in_names = [vi.name for vi in graph_inputs]
    out_names = [vi.name for vi in mdl.graph.output]
    res["inputs"] = [dict(name=vi.name, **type_info(vi)) for vi in graph_inputs]
    res["output_names"] = out_names
    if a.input_names is not None:
        want = [s for s in a.input_names.split(",") if s]
        if want != in_names:
            diffs.append("graph inputs %s != --input-names %s" % (in_names, want))
    if a.output_names is not None:
        want = [s for s in a.output_names.split(",") if s]
        if want != out_names:
            diffs.append("graph outputs %s != --output-names %s" % (out_names, want))

    feeds = {}
    for name, path, arr in feeds_np:
        if name is None:
            if len(in_names) != 1:
                raise C.Usage("bare --input %s needs a model with exactly one input (it has %s); use NAME=FILE"
                              % (path, in_names))
            name = in_names[0]
        if name not in in_names:
            diffs.append("--input %s: the model has no input %r (inputs: %s)" % (path, name, in_names))
            continue
        feeds[name] = arr
    unfed = [n for n in in_names if n not in feeds]
    if unfed:
        diffs.append("model inputs without --input: %s" % unfed)

    expects = []
    for name, path, arr in exp_np:
        if name is None:
            if not out_names:
                diffs.append("--expect %s: the model has no outputs" % path)
                continue
            name = out_names[0]
        expects.append((name, path, arr))
        if name not in out_names:
            diffs.append("--expect %s: the model has no output %r (outputs: %s)" % (path, name, out_names))

    outputs = {}
    res["outputs"] = outputs
    if unfed or any(d.startswith("--input") for d in diffs):
        res["ok"] = False
        return res

    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[a.ort_opt]
    try:
        # by path, as a user loads it: external data must be where the model says, relative to its folder
        sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        diffs.append("onnxruntime cannot load the model: %s: %s" % (type(e).__name__, str(e).strip()[:500]))
        res["ok"] = False
        return res
    try:
        got = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001
        diffs.append("onnxruntime run failed: %s: %s" % (type(e).__name__, str(e).strip()[:500]))
        res["ok"] = False
        return res
    ort_names = [o.name for o in sess.get_outputs()]
    values = dict(zip(ort_names, got))
    declared = {vi.name: type_info(vi) for vi in mdl.graph.output}

    for name in out_names:
        v = np.asarray(values[name])
        e = {"shape": list(v.shape), "dtype": str(v.dtype), "declared": declared[name], "expected": None,
             "max_abs_diff": None, "ok": None}
        outputs[name] = e
        if not a.no_shape_check:
            d = declared[name]
            et = np_elem_name(v.dtype)
            if d["elem_type"] != et:
                diffs.append("output %s: declared elem_type %s, onnxruntime produced %s" % (name, d["elem_type"], et))
            if d["shape"] is not None:
                if len(d["shape"]) != v.ndim:
                    diffs.append("output %s: declared rank %d %s, got shape %s"
                                 % (name, len(d["shape"]), d["shape"], list(v.shape)))
                else:
                    for i, (dd, n) in enumerate(zip(d["shape"], v.shape)):
                        if isinstance(dd, int) and dd != n:
                            diffs.append("output %s: declared dim %d = %d, got %d (shape %s)"
                                         % (name, i, dd, n, list(v.shape)))
    for name, path, exp in expects:
        if name not in outputs:
            continue
        e = outputs[name]
        v = np.asarray(values[name])
        e["expected"] = path
        if list(v.shape) != list(exp.shape):
            e["ok"] = False
            diffs.append("output %s: shape %s != expected %s (%s)" % (name, list(v.shape), list(exp.shape), path))
            continue
        if v.dtype != exp.dtype:
            diffs.append("output %s: dtype %s != expected %s (%s)" % (name, v.dtype, exp.dtype, path))
            e["ok"] = False
        mx, within = compare(v, exp, a.atol, a.rtol)
        e["max_abs_diff"] = C.finite(mx)
        if not within:
            e["ok"] = False
            diffs.append("output %s: max|diff| %s > atol %g + rtol %g*|expected| (%s)"
                         % (name, C.finite(mx), a.atol, a.rtol, path))
        elif e["ok"] is None:
            e["ok"] = True
    res["ok"] = not diffs
    return res


if __name__ == "__main__":
    C.main(run)
