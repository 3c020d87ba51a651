#!/usr/bin/env python3
"""Judge a replace-head --classes N result against the state dict it came from, as torch sees both.

usage: check_head_swap.py OUT IN --head PATH --classes N --in-features F --keys KEYS.json

OUT and IN are loaded as torch would (safetensors.torch.load_file, or torch.load(weights_only=True)).
KEYS.json is the list of keys torch's own model.state_dict() has once `PATH = nn.Linear(F, N)`
(fixtures/realworld/manifest.json records it for each hub fixture: keys_after_classes10).

Checks: OUT has exactly those keys (in that order for a torch file; as a set for safetensors, which
stores keys sorted); PATH.weight is [N, F] and PATH.bias [N], in IN's dtype; every other tensor equals
IN's bit for bit (dtype, shape, bytes). Prints {"ok": true, ...}; exit 0 ok / 1 mismatch / 2 error.
"""

import argparse
import json

import _common as C
from _common import torch


def run(argv):
    ap = argparse.ArgumentParser(prog="check_head_swap.py")
    ap.add_argument("out")
    ap.add_argument("inp")
    ap.add_argument("--head", required=True)
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--in-features", type=int, required=True)
    ap.add_argument("--keys", required=True)
    a = ap.parse_args(argv)
    with open(a.keys) as f:
        expected = json.load(f)
    try:
        out = C.load_any(a.out)
    except Exception as e:  # noqa: BLE001
        raise C.Mismatch("OUT does not load: " + C.load_error_line(e))
    inp = C.load_any(a.inp)
    sorted_file = C.detect_format(a.out) == "safetensors"
    diffs = []
    got = list(out.keys())
    if sorted_file:
        if set(got) != set(expected):
            diffs.append("keys: missing %s, unexpected %s" % (sorted(set(expected) - set(got))[:8], sorted(set(got) - set(expected))[:8]))
    elif got != expected:
        diffs.append("keys differ from torch's state_dict() order: %s != %s" % (got[-6:], expected[-6:]))
    under = lambda k: k == a.head or k.startswith(a.head + ".")  # noqa: E731
    dtype = next(v.dtype for k, v in inp.items() if under(k) and v.is_floating_point())
    for name, shape in (("weight", [a.classes, a.in_features]), ("bias", [a.classes])):
        t = out.get(a.head + "." + name)
        if t is None:
            diffs.append("no %s.%s" % (a.head, name))
        elif list(t.shape) != shape or t.dtype != dtype:
            diffs.append("%s.%s is %s %s, not %s %s" % (a.head, name, C.dtype_name(t.dtype), list(t.shape), C.dtype_name(dtype), shape))
    kept = 0
    for k, v in out.items():
        if under(k):
            continue
        r = inp.get(k)
        if r is None:
            diffs.append("%s is not in IN" % k)
        elif r.dtype != v.dtype or r.shape != v.shape or C.sha256_tensor(r) != C.sha256_tensor(v):
            diffs.append("%s differs from IN" % k)
        else:
            kept += 1
    return {"ok": not diffs, "diffs": diffs, "kept": kept, "keys": len(got)}


if __name__ == "__main__":
    C.main(run)
