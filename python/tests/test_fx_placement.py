"""Where qat-instrument puts fake-quants, next to where PyTorch's FX graph
mode QAT (prepare_qat_fx, default qconfig mapping) puts them on the same
network: test_instrument.CNN and the torch module below.

Compared: which layers get a weight fake-quant, and which tensors get their
own activation parameters (FX shares one observer among ops that keep their
input's grid, like max pooling; qat-instrument shares parameters the same
way). The differences are the documented ones (docs/Instrumentation.md):
FX quantizes a depthwise conv's output before its ReLU6 and gives ReLU6 the
same parameters, qat-instrument quantizes once after the clamp (same number
of parameter sets, one position later); and FX shares the input's observer
with `mean`, where qat-instrument gives the mean its own parameters.
"""

import re
import warnings

import pytest

from test_instrument import CNN

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.ao.quantization import get_default_qat_qconfig_mapping  # noqa
from torch.ao.quantization.quantize_fx import prepare_qat_fx  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()  # a module, so FX fuses conv-bn-relu
        self.pool = nn.MaxPool2d(2)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.relu6 = nn.ReLU6()
        self.pw = nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        h = self.relu(self.bn(self.conv(x)))
        mp = self.pool(h)
        d = self.relu6(self.dw(mp))
        r = torch.relu(self.pw(d) + mp)
        return self.fc(r.mean(dim=(2, 3)))


# FX node -> our layer or op name.
NAMES = {"x": "image", "conv": "conv_0", "dw": "depthwise_conv_0",
         "pw": "conv_1", "relu_1": "add_0", "fc": "matmul_0"}


def fx_placement():
    """(layers with weight fake-quants, producers of distinct activation
    fake-quants) of the FX-prepared network."""
    torch.manual_seed(0)
    with warnings.catch_warnings():  # torch 1.13's reduce_range notice
        warnings.simplefilter("ignore", UserWarning)
        prepared = prepare_qat_fx(Net().train(),
                                  get_default_qat_qconfig_mapping("fbgemm"),
                                  example_inputs=(torch.randn(2, 3, 8, 8),))
    weights = {name for name, module in prepared.named_modules()
               if hasattr(module, "weight_fake_quant")}
    producers, seen = set(), set()
    for node in prepared.graph.nodes:
        if node.op != "call_module" or "activation_post_process" not in str(
                node.target):
            continue
        module = prepared.get_submodule(node.target)
        if id(module) in seen:
            continue  # shares parameters with an earlier tensor
        seen.add(id(module))
        producers.add(node.args[0].name)
    return weights, producers


def test_placement_matches_pytorch_fx_up_to_documented_differences(qat_opt):
    weights, producers = fx_placement()
    plan = qat_opt(CNN, "--qat-fold-batchnorm", "--qat-instrument=dry-run",
                   "-o", "/dev/null")
    our_weights = set(re.findall(r"layer (\S+) \(\S+\): weight", plan))
    our_groups = set(re.findall(r"parameters (\S+)\.act_\*", plan))

    assert {NAMES[w] for w in weights} == our_weights
    assert "dw" in producers and "relu6" not in producers
    assert {NAMES[p] for p in producers} == our_groups - {"reduce_0"}
    assert "reduce_0" in our_groups  # the mean: own parameters here
