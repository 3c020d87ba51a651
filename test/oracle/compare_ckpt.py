#!/usr/bin/env python3
"""Compare a checkpoint written by modsurg (OUT) with a reference (REF), bit for bit.

usage: compare_ckpt.py OUT REF [--out-key DOTPATH] [--ref-key DOTPATH] [--ref-unsafe]
                       [--no-metadata | --metadata-subset] [--strides-any] [--no-sharing] [--mapping-any] [--any-order]
                       [--no-requires-grad] [--identity]
       compare_ckpt.py --batch FILE.jsonl|-

OUT is loaded with torch.load(OUT, map_location='cpu', weights_only=True) -- failing that is a
mismatch (exit 1).  REF is loaded the same way (a .safetensors REF via safetensors.torch.load_file),
or with weights_only=False under --ref-unsafe (whole-model pickles: an nn.Module becomes
model.state_dict(); fixtures/ is on sys.path so models.TinyResNet unpickles).

Checks, recursively: same container types (dict vs OrderedDict unless --mapping-any; list vs tuple;
torch.Size), same keys in the same order (--any-order: same key set), OrderedDict `_metadata` equal when either side has it
(--no-metadata skips; --metadata-subset: every OUT entry is REF's, in REF's order), python scalars equal by type and value (floats bitwise), tensors: same type
(Parameter vs Tensor), dtype, shape, requires_grad, stride and storage_offset (--strides-any skips
these and implies --no-sharing), equal bytes (quantized: qscheme/scales/zero points + int_repr);
storage sharing: tensors that share a storage in REF must share one in OUT and vice versa;
--identity also requires the same tensor-object identity groups (REF {'a': t, 'b': t} -> OUT a is b).

Prints {"ok": true, ...} or {"ok": false, "diffs": [...]}. Exit 0 ok / 1 mismatch / 2 error.
"""

import argparse
import math
import struct
from collections import OrderedDict
from collections.abc import Mapping

import _common as C
from _common import torch

MAX_DIFFS = 50


class Comparer:
    def __init__(self, opts):
        self.o = opts
        self.diffs = []
        self.n_tensors = 0
        self.pairs = []  # (path, out_tensor, ref_tensor)

    def diff(self, path, msg):
        self.diffs.append("%s: %s" % (C.fmt_path(path), msg))

    def cmp(self, o, r, path=()):
        if isinstance(r, torch.Tensor):
            if not isinstance(o, torch.Tensor):
                return self.diff(path, "expected tensor, got %s" % type(o).__name__)
            return self.cmp_tensor(o, r, path)
        if isinstance(r, Mapping):
            return self.cmp_mapping(o, r, path)
        if isinstance(r, (list, tuple)):  # includes torch.Size (exact type check below)
            if type(o) is not type(r):
                return self.diff(path, "type %s != ref %s" % (type(o).__name__, type(r).__name__))
            if len(o) != len(r):
                return self.diff(path, "length %d != ref %d" % (len(o), len(r)))
            for i, (a, b) in enumerate(zip(o, r)):
                self.cmp(a, b, path + (i,))
            return
        if type(o) is not type(r):
            return self.diff(path, "type %s != ref %s (%s vs %s)" % (
                type(o).__name__, type(r).__name__, C.jsonable(o), C.jsonable(r)))
        if isinstance(r, float):
            if struct.pack("<d", o) != struct.pack("<d", r) and not (math.isnan(o) and math.isnan(r)):
                self.diff(path, "float %r != ref %r" % (o, r))
            return
        if isinstance(r, (set, frozenset)):
            if o != r:
                self.diff(path, "set %s != ref %s" % (C.jsonable(o), C.jsonable(r)))
            return
        try:
            eq = bool(o == r)
        except Exception as e:  # noqa: BLE001
            return self.diff(path, "cannot compare %s: %s" % (type(r).__name__, e))
        if not eq:
            self.diff(path, "value %s != ref %s" % (C.jsonable(o), C.jsonable(r)))

    def cmp_mapping(self, o, r, path):
        if not isinstance(o, Mapping):
            return self.diff(path, "expected %s, got %s" % (type(r).__name__, type(o).__name__))
        if type(o) is not type(r) and not self.o.mapping_any:
            self.diff(path, "type %s != ref %s" % (type(o).__name__, type(r).__name__))
        ok, rk = list(o.keys()), list(r.keys())
        if ok != rk:
            oset, rset = set(ok), set(rk)
            missing = [k for k in rk if k not in oset]
            extra = [k for k in ok if k not in rset]
            if missing:
                self.diff(path, "missing keys (%d): %s" % (len(missing), missing[:10]))
            if extra:
                self.diff(path, "unexpected keys (%d): %s" % (len(extra), extra[:10]))
            if not missing and not extra and not self.o.any_order:
                i = next(i for i, (a, b) in enumerate(zip(ok, rk)) if a != b)
                self.diff(path, "key order differs at index %d: %r vs ref %r" % (i, ok[i], rk[i]))
        for k in rk:
            if k in o:
                self.cmp(o[k], r[k], path + (k,))
        if not self.o.no_metadata:
            rm, om = getattr(r, "_metadata", None), getattr(o, "_metadata", None)
            if rm is not None and om is None:
                self.diff(path, "_metadata missing (ref has %d entries)" % len(rm))
            elif rm is None and om is not None:
                self.diff(path, "unexpected _metadata (ref has none)")
            elif rm is not None and self.o.metadata_subset:
                # parameter-free modules (ReLU, Dropout, Softmax) leave no keys, so nothing on a file can know them
                missing = [k for k in om if k not in rm]
                if missing:
                    self.diff(path, "_metadata entries the reference does not have: %s" % missing[:10])
                elif [k for k in rm if k in om] != list(om):
                    self.diff(path, "_metadata order differs from the reference's")
                for k in om:
                    if k in rm:
                        self.cmp(om[k], rm[k], path + ("_metadata", k))
            elif rm is not None:
                self.cmp(om, rm, path + ("_metadata",))

    def cmp_tensor(self, o, r, path):
        self.n_tensors += 1
        self.pairs.append((path, o, r))
        if type(o) is not type(r):
            self.diff(path, "type %s != ref %s" % (type(o).__name__, type(r).__name__))
        if o.dtype != r.dtype:
            return self.diff(path, "dtype %s != ref %s" % (C.dtype_name(o.dtype), C.dtype_name(r.dtype)))
        if tuple(o.shape) != tuple(r.shape):
            return self.diff(path, "shape %s != ref %s" % (list(o.shape), list(r.shape)))
        if not self.o.no_requires_grad and o.requires_grad != r.requires_grad:
            self.diff(path, "requires_grad %s != ref %s" % (o.requires_grad, r.requires_grad))
        if o.device.type != "cpu":
            self.diff(path, "device %s" % o.device)
        if not self.o.strides_any:
            if tuple(o.stride()) != tuple(r.stride()):
                self.diff(path, "stride %s != ref %s" % (list(o.stride()), list(r.stride())))
            if o.storage_offset() != r.storage_offset():
                self.diff(path, "storage_offset %d != ref %d" % (o.storage_offset(), r.storage_offset()))
        if r.is_quantized or o.is_quantized:
            if o.is_quantized != r.is_quantized:
                return self.diff(path, "quantized %s != ref %s" % (o.is_quantized, r.is_quantized))
            if o.qscheme() != r.qscheme():
                return self.diff(path, "qscheme %s != ref %s" % (o.qscheme(), r.qscheme()))
            if r.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                if (o.q_scale(), o.q_zero_point()) != (r.q_scale(), r.q_zero_point()):
                    self.diff(path, "q_scale/zero_point (%r, %r) != ref (%r, %r)" % (
                        o.q_scale(), o.q_zero_point(), r.q_scale(), r.q_zero_point()))
            else:
                if not (torch.equal(o.q_per_channel_scales(), r.q_per_channel_scales())
                        and torch.equal(o.q_per_channel_zero_points(), r.q_per_channel_zero_points())
                        and o.q_per_channel_axis() == r.q_per_channel_axis()):
                    self.diff(path, "per-channel quantization params differ")
        a, b = C.as_uint8(o), C.as_uint8(r)
        if not torch.equal(a, b):
            nd = int((a != b).sum())
            msg = "data differs (%d of %d bytes)" % (nd, b.numel())
            if r.is_floating_point() and not r.is_quantized and r.dtype in (
                    torch.float64, torch.float32, torch.float16, torch.bfloat16):
                d = (o.detach().double() - r.detach().double()).abs()
                d = d[~torch.isnan(d)]
                if d.numel():
                    msg += ", max |diff| %.3g" % float(d.max())
            self.diff(path, msg)

    def check_sharing(self):
        def groups(idx):
            g = OrderedDict()
            for path, *ts in self.pairs:
                t = ts[idx]
                st = t.untyped_storage()
                if st.nbytes() == 0:
                    continue
                g.setdefault(st.data_ptr(), []).append(C.fmt_path(path))
            return sorted(sorted(v) for v in g.values())
        if self.o.identity:
            def idgroups(idx):
                g = OrderedDict()
                for path, *ts in self.pairs:
                    g.setdefault(id(ts[idx]), []).append(C.fmt_path(path))
                return sorted(sorted(v) for v in g.values())
            io_, ir = idgroups(0), idgroups(1)
            if io_ != ir:
                self.diffs.append("object identity differs: ref same-object groups %s, out %s" % (
                    [g for g in ir if len(g) > 1][:5], [g for g in io_ if len(g) > 1][:5]))
        go, gr = groups(0), groups(1)
        if go != gr:
            shared_r = [g for g in gr if len(g) > 1]
            shared_o = [g for g in go if len(g) > 1]
            self.diffs.append("storage sharing differs: ref shares %s, out shares %s" % (shared_r[:5], shared_o[:5]))


def run(argv):
    ap = argparse.ArgumentParser(prog="compare_ckpt.py")
    ap.add_argument("out")
    ap.add_argument("ref")
    ap.add_argument("--out-key")
    ap.add_argument("--ref-key")
    ap.add_argument("--ref-unsafe", action="store_true")
    ap.add_argument("--no-metadata", action="store_true")
    ap.add_argument("--metadata-subset", action="store_true",
                    help="OUT's _metadata entries must be REF's, equal and in REF's order; REF may have more")
    ap.add_argument("--strides-any", action="store_true")
    ap.add_argument("--no-sharing", action="store_true")
    ap.add_argument("--mapping-any", action="store_true", help="dict and OrderedDict compare equal")
    ap.add_argument("--any-order", action="store_true", help="mapping key order may differ")
    ap.add_argument("--no-requires-grad", action="store_true")
    ap.add_argument("--identity", action="store_true", help="also compare tensor object identity groups")
    a = ap.parse_args(argv)

    try:
        ref = C.load_any(a.ref, unsafe=a.ref_unsafe, key=a.ref_key)
    except Exception as e:  # noqa: BLE001
        raise C.Usage("cannot load REF %s: %s" % (a.ref, C.load_error_line(e)))
    try:
        out = torch.load(a.out, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise C.Mismatch("OUT failed torch.load(weights_only=True): " + C.load_error_line(e))
    if a.out_key:
        try:
            out = C.descend(out, a.out_key)
        except KeyError as e:
            raise C.Mismatch("OUT: %s" % e.args[0])

    c = Comparer(a)
    c.cmp(out, ref)
    if not (a.no_sharing or a.strides_any):
        c.check_sharing()
    res = {"ok": not c.diffs, "tensors": c.n_tensors}
    if c.diffs:
        res["n_diffs"] = len(c.diffs)
        res["diffs"] = c.diffs[:MAX_DIFFS]
    return res


if __name__ == "__main__":
    C.main(run)
