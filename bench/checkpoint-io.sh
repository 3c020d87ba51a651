#!/usr/bin/env bash
# Throughput and peak memory of checkpoint rewriting on a large torch-made checkpoint: the storages are
# copied range by range, so peak memory should stay far below the file size.
#   bash bench/checkpoint-io.sh [SIZE_MB]      (needs the oracle: bash scripts/setup-oracle.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
.oracle/bin/python - "$dir/big_dp.pth" "$size_mb" <<'PY'
import sys, torch
path, size_mb = sys.argv[1], int(sys.argv[2])
n = size_mb * (1 << 20) // 4 // 16
sd = {f"module.layer{i}.weight": torch.randn(n) for i in range(16)}
torch.save(sd, path)
PY
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$dir/time" "$@" > /dev/null
  read -r seconds kb < "$dir/time"
  printf '| %s | %s | %.2f | %d |\n' "$label" "$size_mb" "$seconds" "$((kb / 1024))"
}
echo "| command | file MB | seconds | peak RSS MB |"
echo "| --- | --- | --- | --- |"
measure "inspect" node bin/run.js inspect "$dir/big_dp.pth" -q
measure "strip-prefix (zip → zip)" node bin/run.js strip-prefix "$dir/big_dp.pth" -o "$dir/out.pth" -q
measure "convert → safetensors" node bin/run.js convert "$dir/big_dp.pth" -o "$dir/out.safetensors" -q
measure "convert → legacy" node bin/run.js convert "$dir/big_dp.pth" --format torch-legacy -o "$dir/out_legacy.pth" -q
measure "convert --dtype float16" node bin/run.js convert "$dir/big_dp.pth" --dtype float16 -o "$dir/out16.pth" -q
measure "diff (equal files)" node bin/run.js diff "$dir/big_dp.pth" "$dir/out_legacy.pth" -q
