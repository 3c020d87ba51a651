"""Real models' graphs exported as people export them, for view's tests (random weights; the graph is the point).

    .oracle/bin/python test/oracle/export_models.py resnet50 OUT.onnx
    .oracle/bin/python test/oracle/export_models.py bert OUT.onnx

resnet50: torchvision's ResNet-50, its own code: classic exporter, opset 17, input `input` float32
[batch, 3, 224, 224], output `logits` [batch, 1000] (the tutorial's net).
bert: transformers' BertModel (as `bert`) with BERT-base's 12 layers at a tiny width (hidden 32): the classic exporter
writes some 1,000 nodes in deep modules (bert.encoder.layer.N.attention.self.query).
Needs the hub packages (`bash scripts/setup-oracle.sh --with-hub`); exits 3 without them.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fixtures"))
import hub  # noqa: E402


def main(which, out):
    if not hub.import_hub():
        print("the hub packages are missing: bash scripts/setup-oracle.sh --with-hub", file=sys.stderr)
        sys.exit(3)
    torch.manual_seed(0)
    if which == "resnet50":
        from torchvision.models import resnet50

        torch.onnx.export(resnet50().eval(), (torch.randn(1, 3, 224, 224),), out, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    elif which == "bert":
        import transformers as hf

        config = hf.BertConfig(hidden_size=32, num_hidden_layers=12, num_attention_heads=2, intermediate_size=64, vocab_size=100, max_position_embeddings=64)

        class Bert(torch.nn.Module):
            # the hidden states alone, as a task head would read them (BertModel's forward takes keywords)
            def __init__(self):
                super().__init__()
                self.bert = hf.BertModel(config)

            def forward(self, input_ids):
                result = self.bert(input_ids=input_ids)
                return result.last_hidden_state, result.pooler_output

        ids = torch.randint(0, 100, (1, 16))
        torch.onnx.export(Bert().eval(), (ids,), out, dynamo=False, opset_version=17, input_names=["input_ids"], output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}})
    else:
        sys.exit(f"unknown model {which}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
