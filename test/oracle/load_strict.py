#!/usr/bin/env python3
"""Strict-load a checkpoint into a model from fixtures/models.py.

usage: load_strict.py OUT MODEL [--key DOTPATH] [--num-classes N] [--width W] [--head JSON]
                      [--forward INPUT.npy] [--expect OUTPUT.npy] [--atol 1e-5]
       load_strict.py --batch FILE.jsonl|-

  sd = torch.load(OUT, map_location='cpu', weights_only=True)[--key]
  MODEL.load_state_dict(sd, strict=True)

MODEL: TinyResNet | TinyUNet | TinyScriptNet, optionally wrapped:
  DataParallel(X)  -> keys 'module.*'     (real nn.DataParallel; CPU-only is fine)
  Compiled(X)      -> keys '_orig_mod.*'  (a plain wrapper module with attribute _orig_mod: same keys
                                           and _metadata as torch.compile, without importing dynamo)
  Lightning(X)     -> keys 'model.*'
  Wrapped(NAME,X)  -> keys 'NAME.*'
  TutorialExtraInput(X), TutorialTwoOutputs(X) -> the tutorial's Model(net): keys 'net.*' plus
                      fc_add.* (Linear(1001, 10)) or fc1.* (Linear(1000, 10)); X needs --num-classes 1000
--num-classes/--width are TinyResNet(num_classes=, width=) arguments.
--head JSON replaces submodules by nn.Linear before loading, e.g. '{"fc": [8, 5]}' (in, out[, bias]).
--forward runs the loaded model (eval, float32) on INPUT.npy; with --expect the output must match
within --atol (else exit 1).  The output's shape and sha256 are reported.

Prints {"ok": true, "num_keys": N, ...}; a failing load (weights_only or strict) is exit 1.
"""

import argparse
import json
import re

import _common as C
from _common import torch

nn = torch.nn


def build(spec, a):
    import models
    spec = spec.replace(" ", "")
    m = re.fullmatch(r"(\w+)\((.*)\)", spec)
    if m:
        wrapper, inner = m.group(1), m.group(2)
        if wrapper == "Wrapped":
            name, inner = inner.split(",", 1)
            return _wrap(name, build(inner, a))
        if wrapper == "DataParallel":
            return nn.DataParallel(build(inner, a))
        if wrapper == "Compiled":
            return _wrap("_orig_mod", build(inner, a))
        if wrapper == "Lightning":
            return models.LightningLike(build(inner, a))
        if wrapper in ("TutorialExtraInput", "TutorialTwoOutputs"):
            return getattr(models, wrapper)(build(inner, a))
        raise C.Usage("unknown wrapper %r" % wrapper)
    if spec == "TinyResNet":
        kw = {}
        if a.num_classes is not None:
            kw["num_classes"] = a.num_classes
        if a.width is not None:
            kw["width"] = a.width
        return models.TinyResNet(**kw)
    if spec == "TinyUNet":
        return models.TinyUNet()
    if spec == "TinyScriptNet":
        return models.TinyScriptNet()
    raise C.Usage("unknown MODEL %r" % spec)


def _wrap(name, inner):
    class Wrapper(nn.Module):
        def forward(self, *x):
            return getattr(self, name)(*x)
    w = Wrapper()
    setattr(w, name, inner)
    return w


def apply_head(model, spec):
    for path, v in json.loads(spec).items():
        parent = model
        parts = path.split(".")
        for p in parts[:-1]:
            parent = getattr(parent, p)
        v = list(v)
        bias = bool(v[2]) if len(v) > 2 else True
        setattr(parent, parts[-1], nn.Linear(int(v[0]), int(v[1]), bias=bias))


def load_into(model, out, key):
    """torch.load(OUT, weights_only=True), descend to KEY, load_state_dict(strict=True); the state dict."""
    try:
        obj = torch.load(out, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise C.Mismatch("OUT failed torch.load(weights_only=True): " + C.load_error_line(e))
    try:
        sd = C.descend(obj, key) if key else obj
    except KeyError as e:
        raise C.Mismatch("OUT: %s" % e.args[0])
    try:
        model.load_state_dict(sd, strict=True)
    except Exception as e:  # noqa: BLE001
        raise C.Mismatch("load_state_dict(strict=True) failed: %s" % " ".join(str(e).split())[:1500])
    return sd


def forward_check(model, res, forward, expect, atol):
    """Runs the loaded model (eval, float32) on FORWARD.npy, records the output in res, and returns the
    differences from EXPECT.npy (beyond atol)."""
    if not forward:
        return []
    import numpy as np
    x = torch.from_numpy(np.load(forward))
    model.float().eval()
    with torch.no_grad():
        y = model(x)
    res["output_shape"] = list(y.shape)
    res["output_sha256"] = C.sha256_tensor(y)
    if not expect:
        return []
    ref = torch.from_numpy(np.load(expect))
    if tuple(ref.shape) != tuple(y.shape):
        return ["forward output shape %s != expected %s" % (list(y.shape), list(ref.shape))]
    d = float((y.double() - ref.double()).abs().max()) if y.numel() else 0.0
    res["max_abs_diff"] = d
    return [] if d <= atol else ["forward output max |diff| %.3g > atol %.3g" % (d, atol)]


def run(argv):
    ap = argparse.ArgumentParser(prog="load_strict.py")
    ap.add_argument("out")
    ap.add_argument("model")
    ap.add_argument("--key")
    ap.add_argument("--num-classes", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--head")
    ap.add_argument("--forward")
    ap.add_argument("--expect")
    ap.add_argument("--atol", type=float, default=1e-5)
    a = ap.parse_args(argv)

    model = build(a.model, a)
    if a.head:
        apply_head(model, a.head)
    sd = load_into(model, a.out, a.key)
    res = {"ok": True, "model": a.model, "num_keys": len(sd),
           "dtypes": sorted({C.dtype_name(v.dtype) for v in sd.values() if isinstance(v, torch.Tensor)})}
    diffs = forward_check(model, res, a.forward, a.expect, a.atol)
    if diffs:
        res["ok"] = False
        res["diffs"] = diffs
    return res


if __name__ == "__main__":
    C.main(run)
