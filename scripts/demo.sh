#!/usr/bin/env bash
# The main job on bundled fixtures: a DataParallel checkpoint made usable and given a new head, then
# the exported ONNX model edited and run with onnxruntime against PyTorch's reference outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { echo "\$ modsurg $*"; node bin/run.js "$@"; echo; }
HEAD='fc1=Linear(?,6),relu1=ReLU(),dropout1=Dropout(0.5),fc2=Linear(6,3),output=Softmax(dim=1)'

run inspect fixtures/resnet_dp.pth --depth 1
echo "\$ modsurg strip-prefix fixtures/resnet_dp.pth -o - | modsurg replace-head - --at fc --head '$HEAD' --seed 1 -o $out/model.pth"
node bin/run.js strip-prefix fixtures/resnet_dp.pth -o - | node bin/run.js replace-head - --at fc --head "$HEAD" --seed 1 -o "$out/model.pth"
echo
run diff "$out/model.pth" fixtures/resnet_sd.pth || true
run convert "$out/model.pth" --dtype float16 -o "$out/model_fp16.safetensors"

run inspect fixtures/resnet.onnx --depth 1
run add-output fixtures/resnet.onnx --module layer2 --as layer2 -o "$out/two_outputs.onnx"
run run "$out/two_outputs.onnx" --ep auto -i input=fixtures/resnet_input.npy --compare output=fixtures/resnet_output.npy --compare layer2=fixtures/resnet_layer2.npy --atol 1e-4
run replace-head fixtures/resnet.onnx --at fc --head "$HEAD" --weights fixtures/head_weights.safetensors -o "$out/new_head.onnx"
run run "$out/new_head.onnx" -i input=fixtures/resnet_input.npy --compare output=fixtures/resnet_head_output.npy --atol 1e-4
run doctor
