"""Shared helpers for the oracle scripts in test/oracle/ (run with .oracle/bin/python).

Every script prints exactly one JSON line per check on stdout and exits
0 = ok, 1 = mismatch (the thing under test is wrong), 2 = error (bad args, unreadable REF, ...).

Exit codes, JSON output and batch mode are implemented in _cli.py (torch-free, shared with the ONNX scripts).
Batch mode (torch import costs ~2 s, so use it when running many checks):
    python test/oracle/<script>.py --batch CHECKS.jsonl      (or --batch - for stdin)
each input line is a JSON array of that script's CLI arguments, e.g. ["out.pth", "fixtures/resnet_sd.pth"];
each output line is that check's JSON object plus "args" and "exit"; the process exits with the
largest exit code seen.  Blank lines and lines starting with '#' are skipped.

Dot paths (--key/--out-key/--ref-key): segments separated by '.'; at a dict the longest run of
segments that equals a key wins (so state-dict keys containing dots work), non-str keys match by
str(key) (e.g. optimizer_state_dict.state.0.exp_avg); list/tuple segments are indices; an
nn.Module segment is an attribute.
"""

import io
import json
import os
import sys
import traceback
from collections import OrderedDict
from collections.abc import Mapping

sys.dont_write_bytecode = True
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "fixtures")
if FIXTURES not in sys.path:
    sys.path.insert(0, FIXTURES)  # whole-model pickles reference the top-level module 'models'

import warnings  # noqa: E402

warnings.filterwarnings("ignore")  # deprecation chatter from torch.load of exotic dtypes / TorchScript

import torch  # noqa: E402

from _cli import Mismatch, Usage, emit, main, run_one  # noqa: E402,F401  (torch-free plumbing, re-exported)

torch.set_num_threads(1)


def dtype_name(dt):
    return str(dt).replace("torch.", "")


def fmt_path(path):
    return ".".join(str(k) for k in path) if path else "<root>"


def descend(obj, dotpath):
    if not dotpath:
        return obj
    parts = dotpath.split(".")
    i = 0
    while i < len(parts):
        if isinstance(obj, Mapping):
            hit = None
            for j in range(len(parts), i, -1):
                cand = ".".join(parts[i:j])
                for k in obj.keys():
                    if k == cand or (not isinstance(k, str) and str(k) == cand):
                        hit = (k, j)
                        break
                if hit:
                    break
            if hit is None:
                raise KeyError("dot path %r: no key %r (have %s)" % (
                    dotpath, parts[i], [str(k) for k in list(obj.keys())[:20]]))
            obj, i = obj[hit[0]], hit[1]
        elif isinstance(obj, (list, tuple)):
            obj, i = obj[int(parts[i])], i + 1
        elif isinstance(obj, torch.nn.Module):
            obj, i = getattr(obj, parts[i]), i + 1
        else:
            raise KeyError("dot path %r: cannot descend into %s at %r" % (dotpath, type(obj).__name__, parts[i]))
    return obj


def detect_format(path):
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        import zipfile
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
            if any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in names):
                return "torchscript"
        except Exception:
            pass
        return "torch-zip"
    if head[:2] == b"\x80\x02" and head[2:3] == b"\x8a":
        return "torch-legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    return "unknown"


def load_torch(path, unsafe=False, key=None, module_to_state_dict=True):
    """torch.load(map_location='cpu'); weights_only unless unsafe. Optional dot-path descent;
    an nn.Module result becomes its state_dict() (unsafe whole-model / TorchScript refs)."""
    obj = torch.load(path, map_location="cpu", weights_only=not unsafe)
    if key:
        obj = descend(obj, key)
    if module_to_state_dict and isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    return obj


def load_any(path, unsafe=False, key=None):
    """safetensors files via safetensors.torch.load_file, everything else via load_torch."""
    if detect_format(path) == "safetensors":
        from safetensors.torch import load_file
        obj = load_file(path)
        return descend(obj, key) if key else obj
    return load_torch(path, unsafe=unsafe, key=key)


def as_uint8(t):
    """The tensor's logical elements, C-contiguous, as a flat uint8 tensor (works for every dtype,
    including float8/float4/bits/complex32 and quantized (int_repr))."""
    t = t.detach()
    if t.is_quantized:
        t = t.int_repr()
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    t = t.contiguous()
    nbytes = t.numel() * t.element_size()
    if nbytes == 0:
        return torch.empty(0, dtype=torch.uint8)
    st = torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage())
    start = t.storage_offset() * t.element_size()
    return st[start:start + nbytes]


def sha256_tensor(t):
    import hashlib
    return hashlib.sha256(as_uint8(t).numpy().tobytes()).hexdigest()


def walk_tensors(obj, path=()):
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from walk_tensors(v, path + (k,))
    elif isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        for i, v in enumerate(obj):
            yield from walk_tensors(v, path + (i,))


def jsonable(v, depth=0):
    """Best-effort JSON for python leaves (for describe / diff messages)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if abs(v) < 2 ** 53 else str(v)
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else repr(v)
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, torch.Size):
        return {"Size": list(v)}
    if isinstance(v, (torch.dtype, torch.device)):
        return str(v)
    if isinstance(v, (set, frozenset)):
        return {"set": sorted((jsonable(x) for x in v), key=repr)}
    if isinstance(v, tuple) and depth < 4:
        return {"tuple": [jsonable(x, depth + 1) for x in v]}
    if isinstance(v, list) and depth < 4:
        return [jsonable(x, depth + 1) for x in v]
    return repr(v)[:200]


def load_error_line(e):
    """The informative line of a (long, multi-line) torch.load exception."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for needle in ("Unsupported", "unsupported", "Cannot use", "persistent", "blocked", "not allowed",
                   "does not match", "Expected", "rror"):
        for ln in lines:
            if needle in ln and not ln.startswith("(2)"):
                return "%s: %s" % (type(e).__name__, ln[:500])
    return "%s: %s" % (type(e).__name__, lines[0][:500] if lines else "")
