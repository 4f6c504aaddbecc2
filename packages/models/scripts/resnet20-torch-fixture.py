#!/usr/bin/env python3
"""Regenerates src/__fixtures__/resnet20-torch-logits.json: the logits of the PyTorch benchmark
ResNet-20 (shared/bench/torch_advprop_step.py) with formula-generated weights, eval mode, on both
BN routes. Usage (from the repository root): python3 packages/models/scripts/resnet20-torch-fixture.py
"""
import json, math, os, sys
import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "../../../../shared/bench"))
sys.argv = sys.argv[:1]
import torch_advprop_step as t  # noqa: E402


def fill(n, seed, amp, offset=0.0, absval=False):
    v = [math.sin(seed * 1.7 + i * 0.37) for i in range(n)]
    if absval:
        v = [abs(a) for a in v]
    return torch.tensor([offset + amp * a for a in v], dtype=torch.float32)


net = t.ResNet20().eval()
keys = []
with torch.no_grad():
    entries = [(n, p) for n, p in net.state_dict().items() if "num_batches" not in n]
    for k, (name, p) in enumerate(entries):
        n = p.numel()
        if p.dim() in (2, 4):
            v = fill(n, k, 1 / math.sqrt(n / p.shape[0]))
        elif name.endswith("running_var"):
            v = fill(n, k, 0.5, 1.0, True)
        elif name.endswith("weight"):
            v = fill(n, k, 0.3, 1.0)
        else:
            v = fill(n, k, 0.1)
        p.copy_(v.reshape(p.shape))
        keys.append(name)
    x = torch.tensor([(math.sin(i * 0.11) + 1) / 2 for i in range(2 * 32 * 32 * 3)], dtype=torch.float32)
    x = x.reshape(2, 32, 32, 3).permute(0, 3, 1, 2)
    net.route("main"); y = net(x)
    net.route("aux"); ya = net(x)

r = lambda y: [[round(float(a), 6) for a in row] for row in y]
out = os.path.join(ROOT, "../src/__fixtures__/resnet20-torch-logits.json")
json.dump({"source": "shared/bench/torch_advprop_step.py ResNet20 (torch " + torch.__version__ + "), eval mode; "
           "weights filled by formula, see resnet20-torch.test.ts", "keys": keys, "main": r(y), "aux": r(ya)}, open(out, "w"))
print("wrote", out)
