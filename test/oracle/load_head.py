#!/usr/bin/env python3
"""Strict-load a checkpoint into a model whose module AT was replaced by a new head, as in PyTorch.

usage: load_head.py OUT MODEL (--head SPEC | --classes N) [--at PATH] [--key DOTPATH]
                    [--num-classes N] [--width W] [--no-layout]
                    [--forward INPUT.npy] [--expect OUTPUT.npy] [--atol 1e-5]
       load_head.py --batch FILE.jsonl|-

MODEL is built as in load_strict.py (TinyResNet, DataParallel(TinyResNet), ...). Then, like the
tutorials do it:

  --head SPEC   setattr(model, AT, nn.Sequential(OrderedDict(name -> layer)))   from a modsurg --head spec
  --classes N   setattr(model, AT, nn.Linear(in_features, N))

AT (default fc; module.fc for DataParallel) is a dot path of attributes. In SPEC, '?' is the
in_features of the module replaced, layers may omit '()', and unnamed layers are named by position.

  sd = torch.load(OUT, map_location='cpu', weights_only=True)[--key]
  model.load_state_dict(sd, strict=True)

Unless --no-layout, the file must also have the layout of the model's own state_dict(): the same keys
in the same order and, when the file has _metadata, the same _metadata.
--forward runs the loaded model (eval, float32) on INPUT.npy; with --expect the output must match
within --atol.  The output's shape and sha256 are reported.

Prints {"ok": true, "num_keys": N, ...}; a failing load or layout is exit 1.
"""

import argparse

import _common as C
from _common import torch
from load_strict import build, forward_check, load_into
from models import build_head  # fixtures/ is on sys.path (_common): one spec parser for fixtures and checks

nn = torch.nn

def replace(model, path, make):
    parent, parts = model, path.split(".")
    for p in parts[:-1]:
        parent = getattr(parent, p)
    old = getattr(parent, parts[-1])
    in_features = getattr(old, "in_features", None)
    if in_features is None:
        raise C.Usage("%s is a %s without in_features" % (path, type(old).__name__))
    setattr(parent, parts[-1], make(in_features))


def run(argv):
    ap = argparse.ArgumentParser(prog="load_head.py")
    ap.add_argument("out")
    ap.add_argument("model")
    ap.add_argument("--head")
    ap.add_argument("--classes", type=int)
    ap.add_argument("--at")
    ap.add_argument("--key")
    ap.add_argument("--num-classes", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--no-layout", action="store_true")
    ap.add_argument("--forward")
    ap.add_argument("--expect")
    ap.add_argument("--atol", type=float, default=1e-5)
    a = ap.parse_args(argv)
    if (a.head is None) == (a.classes is None):
        raise C.Usage("give exactly one of --head and --classes")

    model = build(a.model, a)
    at = a.at or ("module.fc" if isinstance(model, nn.DataParallel) else "fc")
    if a.head is not None:
        replace(model, at, lambda n: build_head(a.head, n))
    else:
        replace(model, at, lambda n: nn.Linear(n, a.classes))
    sd = load_into(model, a.out, a.key)

    res = {"ok": True, "model": a.model, "at": at, "num_keys": len(sd), "head": str(C.descend(model, at)),
           "dtypes": sorted({C.dtype_name(v.dtype) for v in sd.values() if isinstance(v, torch.Tensor)})}
    diffs = []
    if not a.no_layout:
        own = model.state_dict()
        if list(sd.keys()) != list(own.keys()):
            diffs.append("key order differs from the model's state_dict(): %s != %s" % (list(sd.keys())[-12:], list(own.keys())[-12:]))
        meta = getattr(sd, "_metadata", None)
        if meta is not None and dict(meta) != dict(own._metadata):
            diffs.append("_metadata differs: %s != %s" % (list(meta.items())[-10:], list(own._metadata.items())[-10:]))
        if meta is not None and list(meta.keys()) != list(own._metadata.keys()):
            diffs.append("_metadata order differs: %s != %s" % (list(meta.keys())[-10:], list(own._metadata.keys())[-10:]))
    diffs += forward_check(model, res, a.forward, a.expect, a.atol)
    if diffs:
        res["ok"] = False
        res["diffs"] = diffs
    return res


if __name__ == "__main__":
    C.main(run)
