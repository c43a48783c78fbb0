#!/usr/bin/python3
"""Train the gated Fashion-MNIST fixture: a small CNN whose gates are LeakyReLU(0.1), not ReLU.

    conv 1→8 k3 p1 · LeakyReLU(0.1) · MaxPool 2 · conv 8→16 k3 p1 · LeakyReLU(0.1) · MaxPool 2 ·
    Flatten (784) · Linear 784→64 · LeakyReLU(0.1) · Linear 64→10

pathwise treats every LeakyReLU layer as a path layer (docs/semantics.md "Gates beyond ReLU"); the
research comparison in docs/research.md uses it as its non-ReLU network.

Data: the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, IDX gzip),
normalised (p/255 − 0.2860)/0.3530 as lib/io/datasets.ts does. Seeded (torch.manual_seed(0)), one
thread, CPU float32: 4 epochs of Adam (lr 1e-3, batch 128). Exports ONNX opset 13 with a fixed
[1, 1, 28, 28] input (like fashion_cnn.onnx) and prints the test accuracy on all 10 000 test images.

usage: /usr/bin/python3 tools/reference/train_fashion_leaky.py [OUT.onnx]
       (default test/fixtures/models/fashion_cnn_leaky.onnx)
"""

import gzip
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, dims = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, path
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(prefix):
    images = read_idx(os.path.join(DATA, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA, f"{prefix}-labels-idx1-ubyte.gz"))
    # float32 steps as lib/io/datasets.ts normalise(): float32(p/255), then (t − mean) / std.
    t = (images.astype(np.float32) / np.float32(255.0)).astype(np.float32)
    x = (t - np.float32(MEAN)) / np.float32(STD)
    return torch.from_numpy(x[:, None].astype(np.float32)), torch.from_numpy(labels.astype(np.int64))


def build():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.LeakyReLU(0.1), nn.Linear(64, 10))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/models/fashion_cnn_leaky.onnx"
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x_train, y_train = load("train")
    x_test, y_test = load("t10k")
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(4):
        model.train()
        perm = torch.randperm(len(x_train))
        total = 0.0
        for i in range(0, len(perm), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        model.eval()
        with torch.no_grad():
            acc = float((model(x_test).argmax(1) == y_test).float().mean())
        print(f"epoch {epoch + 1}: train loss {total / len(x_train):.4f}, test accuracy {acc * 100:.2f} %", flush=True)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), out, opset_version=13,
                      input_names=["input"], output_names=["logits"], do_constant_folding=True)
    with torch.no_grad():
        first = model(x_test[:1000]).argmax(1)
    print(f"test accuracy on images 0–999: {float((first == y_test[:1000]).float().mean()) * 100:.1f} %")
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
