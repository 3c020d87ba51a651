#!/usr/bin/env python3
"""The inputs of `npm run bench`, and the Python each modsurg command replaces (the anchors).

usage: anchors.py COMMAND ARGS...

  make-ckpt OUT SIZE_MIB       a torch.save zip of SIZE_MIB: 16 float32 layers and a 1000-class fc,
                               keys prefixed `module.` (what nn.DataParallel saves)
  make-sparse OUT SIZE_MIB     the same laid out by torch.save under skip_data(): sparse, made in a second
  strip-prefix IN OUT          torch.load(mmap) + consume_prefix_in_state_dict_if_present + torch.save
  add-prefix IN OUT            torch.load(mmap) + a `module.` prefix on every key + torch.save
  replace-head IN OUT          torch.load(mmap) + fc swapped for nn.Linear(in, 10) + torch.save
  to-safetensors IN OUT        torch.load(mmap) + safetensors.torch.save_file
  to-legacy IN OUT             torch.load(mmap) + torch.save(_use_new_zipfile_serialization=False)
  inspect IN                   torch.load(mmap) and every tensor's shape and dtype printed
  make-onnx OUT SIZE_MIB [--external]
                               an ONNX model (a chain of MatMul+Relu over SIZE_MIB of float32 weights)
                               saved by onnx, inline or with its data in OUT.data
  onnx-add-output IN OUT       onnx.load + the first Relu's output made a graph output + onnx.save
                               (external data stays external)

Each anchor does what a user's five lines of Python do, with the library's fast paths (mmap).
"""

import collections
import sys


def state_dict(size_mib):
    import torch

    fc_in = 512
    fc = 1000 * fc_in + 1000
    per_layer = max(1, (size_mib * (1 << 20) // 4 - fc) // 16)
    sd = collections.OrderedDict()
    generator = torch.Generator().manual_seed(0)
    for i in range(16):
        sd[f"module.layer{i}.weight"] = torch.empty(per_layer).uniform_(-1, 1, generator=generator)
    sd["module.fc.weight"] = torch.empty(1000, fc_in).uniform_(-1, 1, generator=generator)
    sd["module.fc.bias"] = torch.zeros(1000)
    return sd


def sparse_state_dict(size_mib):
    import torch

    per_layer = size_mib * (1 << 20) // 4 // 16
    sd = collections.OrderedDict((f"module.layer{i}.weight", torch.empty(per_layer)) for i in range(16))
    sd["module.fc.weight"] = torch.empty(1000, 512)
    sd["module.fc.bias"] = torch.empty(1000)
    return sd


def load(path):
    import torch

    return torch.load(path, mmap=True, weights_only=True, map_location="cpu")


def main(argv):
    command, args = argv[0], argv[1:]
    if command == "make-ckpt":
        import torch

        torch.save(state_dict(int(args[1])), args[0])
    elif command == "make-sparse":
        import torch

        with torch.serialization.skip_data():
            torch.save(sparse_state_dict(int(args[1])), args[0])
    elif command == "strip-prefix":
        import torch
        from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

        sd = load(args[0])
        consume_prefix_in_state_dict_if_present(sd, "module.")
        torch.save(sd, args[1])
    elif command == "add-prefix":
        import torch

        sd = load(args[0])
        torch.save(collections.OrderedDict((f"module.{k}", v) for k, v in sd.items()), args[1])
    elif command == "replace-head":
        import torch

        sd = load(args[0])
        fc = torch.nn.Linear(sd["module.fc.weight"].shape[1], 10)
        sd["module.fc.weight"], sd["module.fc.bias"] = fc.weight.detach(), fc.bias.detach()
        torch.save(sd, args[1])
    elif command == "to-safetensors":
        from safetensors.torch import save_file

        save_file(dict(load(args[0])), args[1])
    elif command == "to-legacy":
        import torch

        torch.save(load(args[0]), args[1], _use_new_zipfile_serialization=False)
    elif command == "inspect":
        sd = load(args[0])
        for k, v in sd.items():
            print(k, v.dtype, tuple(v.shape))
    elif command == "make-onnx":
        make_onnx(args[0], int(args[1]), "--external" in args)
    elif command == "onnx-add-output":
        import onnx

        # asked before loading: onnx.load moves external data into raw_data and forgets it was external
        external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in onnx.load(args[0], load_external_data=False).graph.initializer)
        model = onnx.load(args[0])
        relu = next(n for n in model.graph.node if n.op_type == "Relu")
        model.graph.output.append(onnx.helper.make_tensor_value_info(relu.output[0], onnx.TensorProto.FLOAT, None))
        if external:
            import os

            onnx.save(model, args[1], save_as_external_data=True, location=os.path.basename(args[1]) + ".data")
        else:
            onnx.save(model, args[1])
    else:
        raise SystemExit(f"unknown command {command}")


def make_onnx(out, size_mib, external):
    import os

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    width = 1024
    layers = max(1, size_mib * (1 << 20) // (width * width * 4))
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    x = "input"
    for i in range(layers):
        w = f"layer{i}.weight"
        inits.append(numpy_helper.from_array(rng.standard_normal((width, width), dtype=np.float32), w))
        nodes.append(helper.make_node("MatMul", [x, w], [f"mm{i}"], name=f"/layer{i}/MatMul"))
        nodes.append(helper.make_node("Relu", [f"mm{i}"], [f"relu{i}"], name=f"/layer{i}/Relu"))
        x = f"relu{i}"
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench", ir_version=10)
    if external:
        onnx.save(model, out, save_as_external_data=True, all_tensors_to_one_file=True, location=os.path.basename(out) + ".data")
    else:
        onnx.save(model, out)


if __name__ == "__main__":
    main(sys.argv[1:])
