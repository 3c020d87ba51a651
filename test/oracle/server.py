#!/usr/bin/env python3
"""One long-lived oracle process for a test worker: torch, onnx and onnxruntime are imported once
instead of once per check (each import costs 1.5-2 s of CPU).

usage: server.py REQUEST_FIFO RESPONSE_FIFO

Reads one JSON object per line from REQUEST_FIFO and writes one JSON line per request to RESPONSE_FIFO:
  {"script": "compare_ckpt.py", "args": [...]}  -> that script's run(argv) as its CLI would print it,
                                                   plus "exit" (0 ok, 1 mismatch, 2 error)
  {"code": "...", "args": [...]}                -> python -c CODE ARGS: {"status", "stdout", "stderr"}
Each request runs in a child forked from the warm process, so no check sees another's state (an
environment variable, torch's serialization config, a random seed). Exits when the writer of
REQUEST_FIFO goes away (the test worker ended).
"""

import importlib
import json
import os
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _cli  # noqa: E402

# what the checks import, imported once here; the parent never runs torch or onnxruntime itself, so
# forking it is safe (no thread pools to inherit)
_scripts = sorted(f[:-3] for f in os.listdir(HERE) if f.endswith(".py") and not f.startswith("_") and f != "server.py")
for _name in ("_common", "numpy", "safetensors.torch", "onnx", "onnxruntime", *_scripts):
    try:
        importlib.import_module(_name)
    except ImportError:
        pass


def run_script(script, args):
    module = importlib.import_module(os.path.splitext(os.path.basename(script))[0])
    # a script prints its one JSON line itself only from main(); run() returns it
    res, code = _cli.run_one(module.run, args)
    res["exit"] = code
    return res


def run_code(code, args):
    """python -c CODE ARGS, in this (forked) process: its stdout and stderr captured at the fd level."""
    captured = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    for fd, f in zip((1, 2), captured):
        os.dup2(f.fileno(), fd)
    sys.argv = ["-c", *args]
    status = 0
    try:
        exec(compile(code, "<test code>", "exec"), {"__name__": "__main__"})
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 (the test sees the traceback, as from python -c)
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    text = []
    for f in captured:
        f.seek(0)
        text.append(f.read().decode("utf-8", "replace"))
    return {"status": status, "stdout": text[0], "stderr": text[1]}


def answer(request):
    if "script" in request:
        return run_script(request["script"], request.get("args", []))
    return run_code(request["code"], request.get("args", []))


def in_child(request):
    """answer(request), computed in a forked child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            data = json.dumps(answer(request), default=str).encode()
        except BaseException as e:  # noqa: BLE001
            data = json.dumps({"ok": False, "exit": 2, "status": 2, "stdout": "", "stderr": traceback.format_exc(),
                               "error": "oracle server: %s: %s" % (type(e).__name__, e)}).encode()
        with os.fdopen(write_end, "wb") as out:
            out.write(data)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        return {"ok": False, "exit": 2, "status": 2, "stdout": "", "stderr": "",
                "error": "oracle server: the check's process died (wait status %d)" % status}
    return json.loads(data)


def main():
    requests_path, responses_path = sys.argv[1:3]
    with open(requests_path, "r", encoding="utf-8") as requests, open(responses_path, "w", encoding="utf-8") as responses:
        for line in requests:
            if not line.strip():
                continue
            try:
                reply = in_child(json.loads(line))
            except Exception as e:  # noqa: BLE001 (one bad request must not end the server)
                reply = {"ok": False, "exit": 2, "status": 2, "stdout": "", "stderr": traceback.format_exc(),
                         "error": "oracle server: %s: %s" % (type(e).__name__, e)}
            responses.write(json.dumps(reply, default=str) + "\n")
            responses.flush()


if __name__ == "__main__":
    main()
