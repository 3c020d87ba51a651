"""Torch-free CLI plumbing shared by every oracle script (re-exported by _common.py).

Every script prints exactly one JSON line per check on stdout and exits
0 = ok, 1 = mismatch (the thing under test is wrong), 2 = error (bad args, unreadable REF, ...).

Batch mode (imports cost seconds, so use it when running many checks):
    python test/oracle/<script>.py --batch CHECKS.jsonl      (or --batch - for stdin)
each input line is a JSON array of that script's CLI arguments, e.g. ["out.pth", "fixtures/resnet_sd.pth"];
each output line is that check's JSON object plus "args" and "exit"; the process exits with the
largest exit code seen.  Blank lines and lines starting with '#' are skipped.

The ONNX scripts (run_onnx.py, onnx_equal_parts.py) import only this module, not torch.
"""

import json
import math
import sys
import traceback

sys.dont_write_bytecode = True


class Mismatch(Exception):
    """Raised for exit code 1 (checked file is wrong) with a JSON-able payload."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.extra = extra


class Usage(Exception):
    """Exit code 2: bad arguments."""


def finite(v):
    """JSON-safe float: NaN / +-inf become the strings 'nan' / 'inf' / '-inf' (JSON.parse rejects NaN)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def emit(obj):
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def run_one(fn, argv):
    """Run fn(argv) -> dict, map exceptions to (payload, exit code)."""
    try:
        res = fn(argv)
        code = 0 if res.get("ok") else 1
        return res, code
    except Mismatch as m:
        res = {"ok": False, "diffs": [str(m)]}
        res.update(m.extra)
        return res, 1
    except SystemExit as e:  # argparse
        if not e.code:
            raise  # --help
        return {"ok": False, "error": "bad arguments (exit %s)" % (e.code,)}, 2
    except Usage as e:
        return {"ok": False, "error": str(e)}, 2
    except Exception as e:  # noqa: BLE001
        tb = traceback.format_exc().strip().splitlines()
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:500] if str(e) else ""),
                "where": tb[-3:]}, 2


def main(fn):
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "--batch":
        src = sys.stdin if argv[1] == "-" else open(argv[1])
        worst = 0
        with src:
            for line in src:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    args = json.loads(line)
                    assert isinstance(args, list) and all(isinstance(a, str) for a in args)
                except Exception:
                    emit({"ok": False, "error": "batch line is not a JSON array of strings", "line": line[:200],
                          "exit": 2})
                    worst = max(worst, 2)
                    continue
                res, code = run_one(fn, args)
                res["args"] = args
                res["exit"] = code
                emit(res)
                worst = max(worst, code)
        sys.exit(worst)
    res, code = run_one(fn, argv)
    emit(res)
    sys.exit(code)
