#!/usr/bin/python3
"""Train the small residual Fashion-MNIST network and export it to ONNX.

Network (NCHW, input [1, 1, 28, 28], normalised (pixel/255 - 0.2860)/0.3530):
  stem   Conv(1->8, k3, pad 1, no bias) - BN - ReLU                               8x28x28
  block1 Conv(8->8, k3, pad 1) - BN - ReLU - Conv(8->8, k3, pad 1) - BN, + identity, ReLU
  block2 Conv(8->16, k3, stride 2, pad 1) - BN - ReLU - Conv(16->16, k3, pad 1) - BN,
         + [Conv(8->16, k1, stride 2) - BN] (downsample skip), ReLU                16x14x14
  head   MaxPool 2x2/2 (16x7x7) - GlobalAveragePool - Flatten - Linear(16->10)
ReLU layers in topological order: stem, block1.relu1, block1.out, block2.relu1, block2.out.

Training: CPU, torch.set_num_threads(1), seed 0, Adam (lr 3e-3, then 1e-3 for the last third),
batch 64, a fixed number of steps over the 60000 training images in a seeded random order
(deterministic; about 2 minutes here). Export: opset 13, eval mode, do_constant_folding=False
(BatchNormalization nodes stay), input `input` [1, 1, 28, 28], output `logits` [1, 10].

After export the script loads the ONNX file with pathwise_ref.load_onnx, checks that its logits
equal the PyTorch model's bit for bit on the first 1000 test images, and reports the test
accuracy on those 1000 images (and on all 10000).

usage: /usr/bin/python3 tools/reference/make_resnet.py [--out test/fixtures/models/fashion_resnet.onnx]
       [--steps 4000] [--seed 0]
"""

import argparse
import gzip
import hashlib
import os
import sys
import time

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pathwise_ref as pw  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.down is None else self.down(x)
        return self.relu2(out + skip)


class FashionResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.block1 = BasicBlock(8, 8, 1)
        self.block2 = BasicBlock(8, 16, 2)
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        return self.fc(self.flatten(self.gap(self.pool(x))))


def load_idx(split):
    d = pw.FASHION_DIR
    with gzip.open(f"{d}/{split}-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    n = int(np.frombuffer(raw[4:8], ">i4")[0])
    imgs = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, 28, 28)
    with gzip.open(f"{d}/{split}-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    x = (imgs.astype(np.float32) / np.float32(255) - np.float32(pw.MEAN)) / np.float32(pw.STD)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(labels)


def accuracy(fn, x, y, batch=500):
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += int((fn(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/models/fashion_resnet.onnx")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    xtr, ytr = load_idx("train")
    xte, yte = load_idx("t10k")

    model = FashionResNet()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(xtr.shape[0], generator=gen)
    pos = 0
    model.train()
    t0 = time.perf_counter()
    for step in range(args.steps):
        if step == (2 * args.steps) // 3:
            for g in opt.param_groups:
                g["lr"] = 1e-3
        if pos + args.batch > xtr.shape[0]:
            order = torch.randperm(xtr.shape[0], generator=gen)
            pos = 0
        idx = order[pos:pos + args.batch]
        pos += args.batch
        loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 500 == 0:
            print(f"step {step + 1}: loss {float(loss):.4f}, {time.perf_counter() - t0:.0f} s", flush=True)
    train_s = time.perf_counter() - t0
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), args.out, opset_version=13,
                      input_names=["input"], output_names=["logits"], do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load(args.out)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    n_bn = ops.count("BatchNormalization")
    if n_bn != 6:
        sys.exit(f"expected 6 BatchNormalization nodes in the ONNX graph, found {n_bn}: {ops}")

    net = pw.load_onnx(args.out)
    with torch.no_grad():
        xs = xte[:1000]
        same = all(torch.equal(net(xs[j:j + 1]), model(xs[j:j + 1])) for j in range(xs.shape[0]))
    if not same:
        sys.exit("the ONNX graph loaded by pathwise_ref does not reproduce the PyTorch logits bit for bit")
    acc1000 = accuracy(model, xte[:1000], yte[:1000])
    acc_all = accuracy(model, xte, yte)
    with open(args.out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"trained {args.steps} steps (batch {args.batch}) in {train_s:.0f} s, 1 thread")
    print(f"ONNX {args.out}: {os.path.getsize(args.out)} bytes, sha256 {digest}")
    print(f"nodes: {' '.join(ops)}")
    print(f"ReLU nodes (GraphNet positions): {pw.relu_positions(net)}")
    print(f"loaded graph reproduces the PyTorch logits bit for bit on test images 0..999")
    print(f"test accuracy: {acc1000:.4f} (test images 0..999), {acc_all:.4f} (all 10000)")


if __name__ == "__main__":
    main()
