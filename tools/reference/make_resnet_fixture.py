#!/usr/bin/python3
"""Export a tiny residual CNN from PyTorch, as a loader fixture for test/onnx-cnn.test.ts.

The network is small and random (not trained), but exported the way real models are, so the
loader meets PyTorch's own op patterns:
  - BatchNormalization nodes kept (TrainingMode.PRESERVE on an eval-mode model; the default
    export would fold them into the convolutions);
  - residual Adds, identity and projection shortcuts; the projection is ResNet-D style,
    AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) then a 1×1 conv, on an odd size so
    the last pooling window overhangs the input;
  - MaxPool2d(3, 2, 1, ceil_mode=True), a depthwise 3×3 conv, AdaptiveAvgPool2d(1) (exported as
    GlobalAveragePool), and x.view(x.size(0), -1) (exported as Shape → Gather → Unsqueeze →
    Concat → Reshape with a dynamic batch);
  - a symbolic batch dimension.

Writes OUT_DIR/models/tiny_resnet.onnx and OUT_DIR/tiny_resnet/{inputs,logits}.npy (4 random
inputs of shape [1, 13, 13], and PyTorch's float32 logits for them).

usage: /usr/bin/python3 tools/reference/make_resnet_fixture.py [OUT_DIR]   (default test/fixtures)
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        if stride == 1 and cin == cout:
            self.down = None
        else:
            self.down = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(cin, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            )

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, 1, 1)
        self.pool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.layer1 = Block(4, 4, 1)
        self.dw = nn.Conv2d(4, 4, 3, 1, 1, groups=4)
        self.layer2 = Block(4, 8, 2)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.stem(x)))
        x = self.layer1(x)
        x = torch.relu(self.dw(x))
        x = self.layer2(x)
        x = self.avg(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures"
    torch.manual_seed(2024)
    torch.set_num_threads(1)
    model = TinyResNet().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    x = torch.randn(4, 1, 13, 13)
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    os.makedirs(os.path.join(out, "tiny_resnet"), exist_ok=True)
    path = os.path.join(out, "models", "tiny_resnet.onnx")
    torch.onnx.export(
        model,
        x[:1],
        path,
        opset_version=13,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    with torch.no_grad():
        logits = model(x)
    np.save(os.path.join(out, "tiny_resnet", "inputs.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out, "tiny_resnet", "logits.npy"), logits.numpy().astype(np.float32))
    import onnx

    print(path, [n.op_type for n in onnx.load(path).graph.node])


if __name__ == "__main__":
    main()
