"""ResNet-18 (torchvision's architecture, written out here because torchvision does not import next
to the CPU build of torch) and a hand-written translation of it into an engine Network.

The translation walks the module tree directly; it is the engine API used by hand, the way a user
without torch.compile would. The torch.compile backend does the same generically from FX graphs.
"""

from __future__ import annotations

import torch
from torch import nn

import tensorforge as tf


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + identity)


class ResNet18(nn.Module):
    """torchvision.models.resnet18's layout: 7x7 stem, 4 stages of 2 basic blocks, average pool, fc."""

    def __init__(self, num_classes: int = 1000, width: int = 64) -> None:
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], w
        for i, cout in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * w, num_classes)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def random_resnet18(seed: int = 0, **kwargs) -> ResNet18:
    """A ResNet-18 in eval mode with random weights and non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    model = ResNet18(**kwargs).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model


def _conv(net: tf.Network, x, conv: nn.Conv2d, name: str):
    bias = None if conv.bias is None else conv.bias.detach()
    return net.add_convolution(x, conv.weight.detach(), bias, stride=conv.stride, padding=conv.padding,
                               dilation=conv.dilation, groups=conv.groups, name=name)


def _bn(net: tf.Network, x, bn: nn.BatchNorm2d, name: str):
    return net.add_batch_norm(x, bn.running_mean, bn.running_var, bn.weight.detach(), bn.bias.detach(),
                              eps=bn.eps, name=name)


def _block(net: tf.Network, x, block: BasicBlock, name: str):
    y = net.add_activation(_bn(net, _conv(net, x, block.conv1, f"{name}.conv1"), block.bn1, f"{name}.bn1"), "relu",
                           name=f"{name}.relu1")
    y = _bn(net, _conv(net, y, block.conv2, f"{name}.conv2"), block.bn2, f"{name}.bn2")
    identity = x
    if block.downsample is not None:
        identity = _bn(net, _conv(net, x, block.downsample[0], f"{name}.down.conv"), block.downsample[1],
                       f"{name}.down.bn")
    return net.add_activation(net.add_elementwise(y, identity, "add", name=f"{name}.add"), "relu",
                              name=f"{name}.relu2")


def resnet18_network(model: ResNet18, input_shape, dtype=torch.float32) -> tf.Network:
    """The engine network computing `model` on inputs of `input_shape` (N, 3, H, W)."""
    net = tf.Network()
    x = net.add_input("image", dtype, tuple(input_shape))
    if dtype != torch.float32:
        x = net.add_cast(x, torch.float32, name="to_float32")
    y = net.add_activation(_bn(net, _conv(net, x, model.conv1, "conv1"), model.bn1, "bn1"), "relu", name="relu")
    y = net.add_pooling(y, "max", kernel=(3, 3), stride=(2, 2), padding=(1, 1), name="maxpool")
    for i, stage in enumerate((model.layer1, model.layer2, model.layer3, model.layer4), start=1):
        for j, block in enumerate(stage):
            y = _block(net, y, block, f"layer{i}.{j}")
    y = net.add_adaptive_pooling(y, (1, 1), "avg", name="avgpool")
    y = net.add_reshape(y, (input_shape[0], -1), name="flatten")
    y = net.add_matmul(y, model.fc.weight.detach(), transpose_b=True, name="fc")
    y = net.add_elementwise(y, model.fc.bias.detach(), "add", name="fc.bias")
    if dtype != torch.float32:
        y = net.add_cast(y, dtype, name="to_output_dtype")
    net.mark_output(y, "logits")
    return net
