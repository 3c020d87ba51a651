#!/usr/bin/env bash
# The main job on bundled fixtures: a DataParallel checkpoint made usable, checked and converted.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { echo "\$ modsurg $*"; node bin/run.js "$@"; echo; }

run inspect fixtures/resnet_dp.pth --depth 1
run strip-prefix fixtures/resnet_dp.pth -o "$out/model.pth"
run diff "$out/model.pth" fixtures/resnet_sd.pth
run convert "$out/model.pth" --dtype float16 -o "$out/model_fp16.safetensors"
run inspect "$out/model_fp16.safetensors" --depth 0
echo "\$ modsurg strip-prefix fixtures/resnet_dp_model.pth -o - | modsurg inspect - --depth 1"
node bin/run.js strip-prefix fixtures/resnet_dp_model.pth -o - -q | node bin/run.js inspect - --depth 1
