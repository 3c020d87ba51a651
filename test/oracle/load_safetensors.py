#!/usr/bin/env python3
"""Check a .safetensors file written by modsurg against a reference, bit for bit.

usage: load_safetensors.py OUT REF [--ref-key DOTPATH] [--ref-unsafe] [--no-format-check]
       load_safetensors.py --batch FILE.jsonl|-

OUT is read with safetensors.torch.load_file (the library's own validation: header, offsets,
sizes) and its __metadata__ must contain format=pt (transformers refuses files without it) unless
--no-format-check.  REF is a .safetensors file or a torch checkpoint (torch.load weights_only=True,
or weights_only=False with --ref-unsafe; --ref-key picks a nested state dict; an nn.Module becomes
its state_dict()).  REF must then be a flat name -> tensor mapping.

Same tensor names (order ignored: safetensors orders by dtype alignment), and per tensor the same
dtype, shape and bytes (REF views are compared by their logical, C-contiguous contents).
Prints {"ok": true, "num_tensors": N, "metadata": {...}} or {"ok": false, "diffs": [...]}.
"""

import argparse
import json
import struct
from collections.abc import Mapping

import _common as C
from _common import torch


def run(argv):
    ap = argparse.ArgumentParser(prog="load_safetensors.py")
    ap.add_argument("out")
    ap.add_argument("ref")
    ap.add_argument("--ref-key")
    ap.add_argument("--ref-unsafe", action="store_true")
    ap.add_argument("--no-format-check", action="store_true")
    a = ap.parse_args(argv)

    try:
        ref = C.load_any(a.ref, unsafe=a.ref_unsafe, key=a.ref_key)
    except Exception as e:  # noqa: BLE001
        raise C.Usage("cannot load REF %s: %s" % (a.ref, C.load_error_line(e)))
    if not isinstance(ref, Mapping):
        raise C.Usage("REF is a %s, not a name -> tensor mapping (use --ref-key)" % type(ref).__name__)
    bad = [k for k, v in ref.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise C.Usage("REF has non-tensor entries %s (use --ref-key)" % [str(k) for k in bad[:10]])

    from safetensors import safe_open
    from safetensors.torch import load_file
    try:
        out = load_file(a.out)
        with safe_open(a.out, framework="pt") as f:
            meta = f.metadata()
        with open(a.out, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
    except Exception as e:  # noqa: BLE001
        raise C.Mismatch("safetensors cannot read OUT: %s: %s" % (type(e).__name__, str(e)[:500]))

    diffs = []
    if not a.no_format_check and (meta or {}).get("format") != "pt":
        diffs.append("__metadata__ lacks format=pt (got %s)" % json.dumps(meta))
    if n % 8 != 0:
        diffs.append("header length %d is not a multiple of 8" % n)
    rk = [str(k) for k in ref.keys()]
    missing = [k for k in rk if k not in out]
    extra = [k for k in out if k not in set(rk)]
    if missing:
        diffs.append("missing tensors (%d): %s" % (len(missing), missing[:10]))
    if extra:
        diffs.append("unexpected tensors (%d): %s" % (len(extra), extra[:10]))
    for k, r in ref.items():
        k = str(k)
        if k not in out:
            continue
        o = out[k]
        if o.dtype != r.dtype:
            diffs.append("%s: dtype %s != ref %s" % (k, C.dtype_name(o.dtype), C.dtype_name(r.dtype)))
            continue
        if tuple(o.shape) != tuple(r.shape):
            diffs.append("%s: shape %s != ref %s" % (k, list(o.shape), list(r.shape)))
            continue
        if not torch.equal(C.as_uint8(o), C.as_uint8(r)):
            diffs.append("%s: data differs" % k)
    res = {"ok": not diffs, "num_tensors": len(out), "metadata": meta,
           "header_order": [k for k in header if k != "__metadata__"][:5]}
    if diffs:
        res["n_diffs"] = len(diffs)
        res["diffs"] = diffs[:50]
    return res


if __name__ == "__main__":
    C.main(run)
