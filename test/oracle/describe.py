#!/usr/bin/env python3
"""Describe what torch.load(weights_only=True) (or safetensors) sees in a file, as one JSON line.

usage: describe.py FILE [--key DOTPATH] [--unsafe] [--no-values]
       describe.py --batch FILE.jsonl|-

Output: {"ok": true, "format": "torch-zip"|"torch-legacy"|"torchscript"|"safetensors",
         "root_type": ..., "tensors": [{"path": [...], "name": "a.b", "type": "Tensor"|"Parameter",
         "dtype", "shape", "stride", "storage_offset", "requires_grad", "storage": group-id,
         "storage_nbytes", "sha256": of the C-contiguous logical bytes}],
         "metadata_paths": [paths of mappings that carry _metadata],
         "values": [{"path", "type", "value"} for non-tensor leaves]}   (--no-values drops these)
For zips also "records" (entry names); for safetensors "metadata" and "header_order".
--unsafe loads with weights_only=False (TorchScript / whole-model pickles; modules become state_dict()).
A weights_only failure is reported as {"ok": false, "error": ...} with exit 2.
"""

import argparse
import json
import struct
import zipfile
from collections.abc import Mapping

import _common as C
from _common import torch


def leaves(obj, path, out_vals, meta_paths):
    if isinstance(obj, torch.Tensor):
        return
    if isinstance(obj, Mapping):
        if getattr(obj, "_metadata", None) is not None:
            meta_paths.append([C.jsonable(k) for k in path])
        for k, v in obj.items():
            leaves(v, path + (k,), out_vals, meta_paths)
        return
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        if not any(isinstance(v, (torch.Tensor, Mapping, list, tuple)) for v in obj):
            out_vals.append({"path": [C.jsonable(k) for k in path], "type": type(obj).__name__,
                             "value": C.jsonable(obj)})
            return
        for i, v in enumerate(obj):
            leaves(v, path + (i,), out_vals, meta_paths)
        return
    out_vals.append({"path": [C.jsonable(k) for k in path], "type": type(obj).__name__, "value": C.jsonable(obj)})


def run(argv):
    ap = argparse.ArgumentParser(prog="describe.py")
    ap.add_argument("file")
    ap.add_argument("--key")
    ap.add_argument("--unsafe", action="store_true")
    ap.add_argument("--no-values", action="store_true")
    a = ap.parse_args(argv)

    fmt = C.detect_format(a.file)
    res = {"ok": True, "format": fmt}
    if fmt in ("torch-zip", "torchscript"):
        with zipfile.ZipFile(a.file) as z:
            res["records"] = z.namelist()
    if fmt == "safetensors":
        with open(a.file, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        res["metadata"] = header.get("__metadata__")
        res["header_order"] = [k for k in header if k != "__metadata__"]
    try:
        obj = C.load_any(a.file, unsafe=a.unsafe, key=a.key)
    except Exception as e:  # noqa: BLE001
        raise C.Usage("cannot load %s (%s): %s" % (a.file, fmt, C.load_error_line(e)))
    res["root_type"] = type(obj).__name__
    groups = {}
    tensors = []
    for path, t in C.walk_tensors(obj):
        st = t.untyped_storage()
        gkey = st.data_ptr() if st.nbytes() else ("empty", len(groups))
        tensors.append({
            "path": [C.jsonable(k) for k in path],
            "name": ".".join(str(k) for k in path),
            "type": type(t).__name__,
            "dtype": C.dtype_name(t.dtype),
            "shape": list(t.shape),
            "stride": list(t.stride()),
            "storage_offset": t.storage_offset(),
            "requires_grad": t.requires_grad,
            "storage": groups.setdefault(gkey, len(groups)),
            "storage_nbytes": st.nbytes(),
            "sha256": C.sha256_tensor(t),
        })
    res["tensors"] = tensors
    vals, metas = [], []
    leaves(obj, (), vals, metas)
    res["metadata_paths"] = metas
    if not a.no_values:
        res["values"] = vals
    return res


if __name__ == "__main__":
    C.main(run)
