"""Whole-model pickles and what print(model) prints for them, for inspect's golden tests.

    .oracle/bin/python test/oracle/print_models.py OUT

For each model writes OUT/NAME.pth (torch.save(model)), OUT/NAME.txt (print(model), by this torch) and
OUT/NAME.names (named_modules(), the root left out).
The models: torchvision's ResNet-50 (real torchvision code), the PyTorch tutorial's Sequential,
OrderedDict, ModuleList and ModuleDict examples, its ResNet-50 with the new `fc` Sequential, its
Model(net) with an extra input, a U-Net, a DataParallel wrapper, every standard layer with settings off
their defaults, and timm models. Prints the names written, one a line.
"""

import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "fixtures"))
import hub  # noqa: E402
import models  # noqa: E402


class MyModuleList(nn.Module):
    """The tutorial's ModuleList example, and a list whose runs of equal layers print folded."""

    def __init__(self):
        super().__init__()
        self.linears = nn.ModuleList([nn.Linear(10, 10) for _ in range(10)])
        self.mixed = nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Linear(10, 4), nn.ReLU(), nn.ModuleList([])])


class MyModuleDict(nn.Module):
    """The tutorial's ModuleDict example."""

    def __init__(self):
        super().__init__()
        self.choices = nn.ModuleDict({"conv": nn.Conv2d(10, 10, 3), "pool": nn.MaxPool2d(3)})
        self.activations = nn.ModuleDict([["lrelu", nn.LeakyReLU()], ["prelu", nn.PReLU()]])


class DoubleConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """A small U-Net as tutorials write it: MaxPool2d down, Upsample and ConvTranspose2d up, Dropout."""

    def __init__(self):
        super().__init__()
        self.inc = DoubleConv(3, 8)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(8, 16))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(16, 32))
        self.drop = nn.Dropout(p=0.3)
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv_up1 = DoubleConv(48, 16)
        self.up2 = nn.ConvTranspose2d(16, 8, kernel_size=2, stride=2)
        self.conv_up2 = DoubleConv(16, 8)
        self.outc = nn.Conv2d(8, 2, kernel_size=1)


def layer_zoo():
    """Every standard layer, its settings off their defaults where it prints them."""
    return nn.Sequential(OrderedDict([
        ("conv_strided", nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=2, groups=1, bias=False, padding_mode="reflect")),
        ("conv_same", nn.Conv2d(8, 8, 3, padding="same", groups=4)),
        ("conv1d", nn.Conv1d(4, 4, 5, stride=1, padding=2)),
        ("conv3d", nn.Conv3d(2, 2, (1, 3, 3))),
        ("deconv", nn.ConvTranspose2d(8, 4, 2, stride=2, output_padding=1, dilation=1)),
        ("bn", nn.BatchNorm2d(4, eps=1e-3, momentum=0.03, affine=False, track_running_stats=False)),
        ("bn_none", nn.BatchNorm1d(4, momentum=None)),
        ("inorm", nn.InstanceNorm2d(4, affine=True)),
        ("ln", nn.LayerNorm([8, 4], eps=1e-6, elementwise_affine=False)),
        ("ln_nobias", nn.LayerNorm(8, bias=False)),
        ("gn", nn.GroupNorm(2, 8)),
        ("rms", nn.RMSNorm(8)),
        ("lrn", nn.LocalResponseNorm(2)),
        ("emb", nn.Embedding(10, 3, padding_idx=0, max_norm=1.0, norm_type=1.5, scale_grad_by_freq=True, sparse=True)),
        ("emb_plain", nn.Embedding(7, 2)),
        ("lstm", nn.LSTM(4, 8, num_layers=2, batch_first=True, bidirectional=True, dropout=0.1)),
        ("gru", nn.GRU(4, 8)),
        ("rnn", nn.RNN(4, 8, bias=False)),
        ("up_scale", nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False)),
        ("up_size", nn.Upsample(size=(4, 4))),
        ("flatten", nn.Flatten()),
        ("unflatten", nn.Unflatten(1, (2, 4))),
        ("gelu", nn.GELU(approximate="tanh")),
        ("gelu_plain", nn.GELU()),
        ("lrelu", nn.LeakyReLU(0.2, inplace=True)),
        ("hardtanh", nn.Hardtanh(-2.0, 2.0)),
        ("elu", nn.ELU(alpha=0.5)),
        ("celu", nn.CELU(inplace=True)),
        ("softplus", nn.Softplus(beta=2, threshold=10)),
        ("prelu", nn.PReLU(3)),
        ("softmax", nn.Softmax(dim=-1)),
        ("logsoftmax", nn.LogSoftmax(dim=1)),
        ("glu", nn.GLU()),
        ("maxpool", nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)),
        ("avgpool", nn.AvgPool2d(2)),
        ("aap", nn.AdaptiveAvgPool2d((1, 1))),
        ("amp", nn.AdaptiveMaxPool1d(4)),
        ("drop2d", nn.Dropout2d(0.1)),
        ("drop_inplace", nn.Dropout(p=0.25, inplace=True)),
        ("identity", nn.Identity()),
        ("shuffle", nn.PixelShuffle(2)),
        ("unshuffle", nn.PixelUnshuffle(2)),
        ("zeropad", nn.ZeroPad2d((1, 1, 2, 0))),
        ("reflect", nn.ReflectionPad2d(1)),
        ("constpad", nn.ConstantPad1d(2, 3.5)),
        ("tanh", nn.Tanh()),
        ("sigmoid", nn.Sigmoid()),
        ("silu", nn.SiLU(inplace=True)),
        ("mish", nn.Mish()),
        ("hardswish", nn.Hardswish()),
        ("relu6", nn.ReLU6(inplace=True)),
        ("threshold", nn.Threshold(0.1, 20)),
        ("hardshrink", nn.Hardshrink(0.25)),
        ("mha", nn.MultiheadAttention(8, 2)),
        ("encoder", nn.TransformerEncoderLayer(8, 2, 16)),
        ("bilinear", nn.Bilinear(3, 4, 5)),
        ("linear_nobias", nn.Linear(4, 2, bias=False)),
    ]))


def lighten(model):
    """Every parameter and buffer as one zero broadcast to its shape (stride 0): print(model) reads only
    attributes, so the text is the same, and a ResNet-50 pickle takes kilobytes instead of 100 MB."""
    with torch.no_grad():
        for module in model.modules():
            for name, tensor in list(module._parameters.items()):
                if tensor is not None:
                    module._parameters[name] = nn.Parameter(torch.zeros((), dtype=tensor.dtype).expand(tensor.shape), requires_grad=tensor.requires_grad)
            for name, tensor in list(module._buffers.items()):
                if tensor is not None:
                    module._buffers[name] = torch.zeros((), dtype=tensor.dtype).expand(tensor.shape)
    return model


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    built = {}
    if not hub.import_hub():
        sys.exit("the hub packages are missing: bash scripts/setup-oracle.sh --with-hub")
    from torchvision.models import resnet

    built["torchvision_resnet50"] = resnet.resnet50()
    new_fc = resnet.resnet50()
    new_fc.fc = nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(2048, 128)), ("relu1", nn.ReLU()), ("dropout1", nn.Dropout(0.5)),
        ("fc2", nn.Linear(128, 10)), ("output", nn.Softmax(dim=1)),
    ]))
    built["tutorial_resnet50_new_fc"] = new_fc
    built["tutorial_model_net"] = models.TutorialExtraInput(resnet.resnet50())
    built["tutorial_sequential"] = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())
    built["tutorial_ordereddict"] = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 20, 5)), ("relu1", nn.ReLU()), ("conv2", nn.Conv2d(20, 64, 5)), ("relu2", nn.ReLU()),
    ]))
    built["tutorial_modulelist"] = MyModuleList()
    built["tutorial_moduledict"] = MyModuleDict()
    built["unet"] = UNet()
    built["dataparallel"] = nn.DataParallel(models.TinyResNet())
    built["layer_zoo"] = layer_zoo()
    import timm

    for name in ["resnet10t", "mobilenetv3_small_050", "vit_tiny_patch16_224", "convnext_atto", "efficientnet_b0"]:
        built[f"timm_{name}"] = timm.create_model(name, pretrained=False)
    for name, model in built.items():
        torch.save(lighten(model), os.path.join(out, f"{name}.pth"))
        with open(os.path.join(out, f"{name}.txt"), "w") as f:
            print(model, file=f)
        with open(os.path.join(out, f"{name}.names"), "w") as f:
            f.writelines(f"{path}\n" for path, _ in model.named_modules() if path)
        print(name)


if __name__ == "__main__":
    main()
