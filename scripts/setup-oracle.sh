#!/usr/bin/env bash
# Set up the Python "oracle" used by modsurg's tests and fixture generator (idempotent).
#
#   bash scripts/setup-oracle.sh                  # .oracle/ venv: torch 2.13 (+cpu), safetensors, numpy, onnx, onnxruntime, onnxscript
#   bash scripts/setup-oracle.sh --with-torch113  # also Debian's python3-torch (torch 1.13) for /usr/bin/python3
#   bash scripts/setup-oracle.sh --with-hub       # also .oracle/hub: timm, transformers and torchvision's Python
#                                                 # code, to regenerate fixtures/realworld/hub_* (tests do not need it)
#
# 1. If .oracle/bin/python imports torch (>= 2.6), safetensors, onnx, onnxruntime and numpy: nothing to do.
# 2. Else: python3 -m venv .oracle && pip install the pinned set (needs the local pip mirror).
# 3. If pip fails (no mirror): apt-get install python3-torch python3-onnx python3-numpy and make
#    .oracle/bin/python a wrapper exec-ing /usr/bin/python3 (torch 1.13: older, safetensors and
#    onnxruntime probably missing -> warnings; tests needing them will fail).
# --with-hub: pip install --target .oracle/hub transformers (with its dependencies, none of them torch), then
#    timm, pillow and torchvision without theirs. torchvision from the mirror is a CUDA build whose C extension
#    cannot load beside the CPU torch; fixtures/realworld.py imports its model code without it.
# --with-torch113: apt-get install -y python3-torch (only if /usr/bin/python3 cannot import torch yet),
#    so fixtures/make_fixtures.py can also write the *_t113 fixtures.  Timed; skipped on failure,
#    or after TORCH113_TIMEOUT seconds (default 600).
# The last line printed is: "oracle: <python path> torch <version>".
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT=$(pwd)
VENV="$ROOT/.oracle"
PY="$VENV/bin/python"
WITH113=0
WITHHUB=0
for arg in "$@"; do
  case "$arg" in
    --with-torch113) WITH113=1 ;;
    --with-hub) WITHHUB=1 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "setup-oracle: unknown argument $arg" >&2; exit 2 ;;
  esac
done

log() { echo "setup-oracle: $*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="NONE"; fi
fi
apt_get() {
  if [ "$SUDO" = NONE ]; then log "apt-get needs root (no passwordless sudo)"; return 1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get "$@"
}

oracle_ok() {
  [ -x "$PY" ] && "$PY" - >/dev/null 2>&1 <<'EOF'
import sys
import torch, safetensors, onnx, onnxruntime, numpy  # noqa: F401
v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
sys.exit(0 if v >= (2, 6) else 1)
EOF
}

if oracle_ok; then
  log "oracle venv already complete ($PY)"
else
  if [ -f "$VENV/.apt-fallback" ]; then
    log "previous run used the apt fallback; retrying the pip install first"
    rm -rf "$VENV"
  fi
  log "creating venv .oracle and installing the pinned packages"
  t0=$(date +%s)
  if python3 -m venv .oracle && .oracle/bin/pip install --retries 0 --timeout 2 "torch==2.13.0+cpu" safetensors numpy onnx onnxruntime onnxscript; then
    log "pip install done in $(( $(date +%s) - t0 ))s"
  else
    log "WARNING: pip install failed (no local mirror?) -> falling back to Debian packages (torch 1.13)"
    rm -rf "$VENV"
    if apt_get update && apt_get install -y python3-torch python3-onnx python3-numpy; then
      mkdir -p "$VENV/bin"
      printf '#!/bin/sh\nexec /usr/bin/python3 "$@"\n' > "$PY"
      chmod +x "$PY"
      touch "$VENV/.apt-fallback"
      for mod in safetensors onnxruntime onnxscript; do
        "$PY" -c "import $mod" >/dev/null 2>&1 || log "WARNING: fallback python lacks '$mod' (tests/fixtures needing it will fail)"
      done
      log "WARNING: fallback torch is $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null) (< 2.6: weights_only defaults differ)"
    else
      log "ERROR: apt fallback failed too; no oracle python"
      exit 1
    fi
  fi
fi

if [ "$WITHHUB" = 1 ]; then
  HUB="$VENV/hub"
  if [ -f "$HUB/.complete" ]; then
    log "hub packages already in $HUB"
  else
    log "installing timm, transformers and torchvision's model code into $HUB"
    t0=$(date +%s)
    rm -rf "$HUB"
    if "$PY" -m pip install -q --retries 0 --timeout 2 --target "$HUB" "transformers==5.18.0" \
       && "$PY" -m pip install -q --retries 0 --timeout 2 --no-deps --target "$HUB" "timm==1.0.29" "torchvision==0.28.0" pillow; then
      touch "$HUB/.complete"
      log "hub packages installed in $(( $(date +%s) - t0 ))s"
    else
      log "WARNING: hub packages could not be installed; fixtures/realworld/hub_* will not be regenerated"
    fi
  fi
fi

T113=""
if [ "$WITH113" = 1 ]; then
  if v=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    log "torch113: /usr/bin/python3 already has torch $v (nothing installed)"
    T113="$v"
  else
    log "torch113: installing Debian python3-torch (timeout ${TORCH113_TIMEOUT:-600}s)"
    t0=$(date +%s)
    TO=${TORCH113_TIMEOUT:-600}
    S=""; [ "$SUDO" != NONE ] && S="$SUDO"
    if [ "$SUDO" != NONE ] \
       && timeout "$TO" $S env DEBIAN_FRONTEND=noninteractive apt-get update \
       && timeout "$TO" $S env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch; then
      T113=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
      log "torch113: apt-get took $(( $(date +%s) - t0 ))s -> torch ${T113:-<import failed>}"
    else
      log "torch113: apt-get failed or timed out after $(( $(date +%s) - t0 ))s; skipped (*_t113 fixtures will not be regenerated)"
    fi
  fi
fi

ver=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "<torch import failed>")
echo "oracle: $PY torch $ver${T113:+ (torch113: /usr/bin/python3 torch $T113)}"
