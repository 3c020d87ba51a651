"""modsurg scan beside picklescan, modelscan and fickling, on the same files, in one run.

    .oracle/bin/python bench/scanners.py [--sources DIR]

Generates the attack corpus (fixtures/make_attack_corpus.py) in a scratch folder, lists the benign
fixtures as test/e2e/scan.test.ts does, and asks each scanner about every file: flagged (it says the file
is unsafe), clean, or error (it could not say). The other scanners are imported from DIR (their source
trees and their dependencies, one folder each on sys.path: DIR/*/src, DIR/*, DIR/deps) when they are not
installed; a scanner that cannot be imported is reported as such. Prints a markdown table for
docs/security.md, and whether any payload ran (the corpus's marker file).
"""

import argparse
import contextlib
import glob
import io
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# as test/e2e/scan.test.ts: whole-model pickles of the fixtures' own classes and TorchScript run code
# the file names but does not hold; no allowlist can vouch for them, so they are not counted as benign
OWN_CLASSES = {"resnet_model.pth", "resnet_model_t113.pth", "resnet_dp_model.pth", "torchscript.pt"}


def benign_fixtures():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "fixtures", "**", "*"), recursive=True)):
        name = os.path.basename(path)
        if os.path.isfile(path) and name.rsplit(".", 1)[-1] in {"pth", "pt", "bin", "ckpt", "safetensors", "onnx", "npy"}:
            if name != "malicious.pth" and name not in OWN_CLASSES:
                found.append(path)
    return found


def modsurg(paths):
    run = subprocess.run([os.path.join(ROOT, "bin", "run.js"), "scan", "--json", *paths], capture_output=True, text=True)
    reports = json.loads(run.stdout)["files"]
    return {r["file"]: {"dangerous": "flagged", "clean": "clean"}.get(r["verdict"], "error") for r in reports}


def picklescan_verdicts(paths):
    from picklescan.scanner import scan_file_path

    verdicts = {}
    for path in paths:
        try:
            result = scan_file_path(path)
            # a global it calls dangerous, or one outside its safe list (suspicious): either is a warning to its user
            verdicts[path] = "flagged" if result.infected_files > 0 or result.suspicious_count > 0 else "error" if result.scan_err else "clean"
        except Exception:
            verdicts[path] = "error"
    return verdicts


def modelscan_verdicts(paths):
    from modelscan.modelscan import ModelScan

    verdicts = {}
    for path in paths:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                scan = ModelScan()
                result = scan.scan(path)
            issues = result.get("issues", [])
            errors = result.get("errors", [])
            verdicts[path] = "flagged" if issues else "error" if errors else "clean"
        except Exception:
            verdicts[path] = "error"
    return verdicts


def fickling_verdicts(paths):
    import zipfile

    import fickling
    from fickling.analysis import Severity, check_safety
    from fickling.pytorch import PyTorchModelWrapper

    verdicts = {}
    for path in paths:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                # torch zips through its PyTorch wrapper (data.pkl), anything else as a raw pickle
                if zipfile.is_zipfile(path):
                    safe = check_safety(PyTorchModelWrapper(path).pickled).severity == Severity.LIKELY_SAFE
                else:
                    safe = fickling.is_likely_safe(path)
            verdicts[path] = "clean" if safe else "flagged"
        except Exception:
            verdicts[path] = "error"
    return verdicts


def version_of(module):
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", None)
    except Exception:
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", help="folder of the other scanners' source trees and dependencies")
    parser.add_argument("--versions", default="", help="what to call each scanner in the table: picklescan=1.0.5,modelscan=0.8.6,…")
    args = parser.parse_args()
    if args.sources:
        for folder in sorted(glob.glob(os.path.join(args.sources, "*"))):
            sys.path.insert(0, os.path.join(folder, "src") if os.path.isdir(os.path.join(folder, "src")) else folder)
    named = dict(item.split("=", 1) for item in args.versions.split(",") if "=" in item)

    scratch = tempfile.mkdtemp(prefix="modsurg-scanners-")
    marker = os.path.join(scratch, "PAYLOAD-RAN")
    subprocess.run([sys.executable, os.path.join(ROOT, "fixtures", "make_attack_corpus.py"), scratch, marker], check=True, capture_output=True)
    corpus = json.load(open(os.path.join(scratch, "corpus.json")))["malicious"]
    malicious = [os.path.join(scratch, entry["file"]) for entry in corpus]
    benign = benign_fixtures()
    files = malicious + benign

    tools = [("modsurg scan", modsurg)]
    for label, module, scan in [("picklescan", "picklescan", picklescan_verdicts), ("modelscan", "modelscan", modelscan_verdicts), ("fickling", "fickling", fickling_verdicts)]:
        tools.append((f"{label} {named.get(label) or version_of(module) or ''}".strip(), scan))

    rows = []
    details = {}
    for label, scan in tools:
        try:
            verdicts = scan(files)
        except ImportError as error:
            rows.append(f"| {label} | not installed ({error}) | | |")
            continue
        missed = [os.path.relpath(p, scratch) for p in malicious if verdicts[p] != "flagged"]
        false = [os.path.relpath(p, ROOT) for p in benign if verdicts[p] == "flagged"]
        errors_benign = [os.path.relpath(p, ROOT) for p in benign if verdicts[p] == "error"]
        flagged = len(malicious) - len(missed)
        rows.append(f"| {label} | {flagged} | {len(false)} | {len(errors_benign)} |")
        details[label] = {"missed": missed, "benign flagged": false, "benign errors": errors_benign}

    print(f"| tool | malicious flagged (of {len(malicious)}) | benign flagged (of {len(benign)}) | benign it could not read |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print("payload ran:", os.path.exists(marker))
    print(json.dumps(details, indent=1))


if __name__ == "__main__":
    main()
