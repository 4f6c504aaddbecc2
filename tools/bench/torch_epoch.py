#!/usr/bin/env python3
"""One training epoch on Fashion-MNIST in PyTorch, with the recipe of tools/bench/epoch-main.ts
(our trainer's train()), so tools/bench/epoch.mjs can print the two throughputs side by side.

Recipe (keep it identical to epoch-main.ts):
  - Data: the Fashion-MNIST training IDX files (default /usr/share/datasets/fashion-mnist), pixels
    scaled to [0, 1], held in memory; each epoch a random permutation of the first --limit images,
    batches of --batch, the remainder dropped (as the trainer does).
  - Model: the small CNN of @advprop/models (small-cnn.ts): 2 stages of [conv3x3 'same' without
    bias - BN - ReLU] x 2 + 2x2 max-pool, with F and 2F channels (F = --filters, 32), global
    average pool, dense -> 10 logits. BN eps 1e-5, momentum 0.1 (tfjs-layers' 0.9). Vanilla: one BN
    per layer; AdvProp: dual BN (main for clean images, auxiliary for adversarial ones).
  - Optimizer: SGD, lr 0.05, momentum 0.9, Nesterov, weight decay 5e-4 (L2 added to the gradient).
  - Vanilla step: CE(f(x), y), one update.
  - AdvProp step (the `advprop` mode with its default `advprop` attacker, eps 1/255): PGD-1 with a
    random start in the eps ball, step 1/255, targeted to a uniformly random wrong class, through the
    auxiliary BN with running statistics (eval mode), clipped to [0, 1]; then one update on
    mean CE(f_main(x), y) + 1 * mean CE(f_aux(x_adv), y) in training mode.
  - Each step reads the loss and the clean accuracy back (the trainer's per-step metrics).

Prints one JSON line: {"impl": "torch", "mode", "threads", "batch", "steps", "images", "seconds",
"img_per_s", "img_per_s_steady" (without the first --warmup-steps steps), ...}.
Usage: torch_epoch.py --mode vanilla|advprop [--batch 128] [--limit N] [--threads N] [--filters 32]
"""
import argparse, gzip, json, os, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def find(dirname, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(dirname, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"torch_epoch.py: {stem}(.gz) not found in {dirname}")


class DualBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.main, self.aux = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1), nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
        self.route = "main"

    def forward(self, x):
        return (self.main if self.route == "main" else self.aux)(x)


class SmallCnn(nn.Module):
    def __init__(self, filters, dual, classes=10):
        super().__init__()
        layers, cin = [], 1
        for width in (filters, 2 * filters):
            for _ in range(2):
                conv = nn.Conv2d(cin, width, 3, 1, 1, bias=False)
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                layers += [conv, DualBN(width) if dual else nn.BatchNorm2d(width, eps=1e-5, momentum=0.1), nn.ReLU()]
                cin = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(2 * filters, classes)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def route(self, r):
        for m in self.modules():
            if isinstance(m, DualBN):
                m.route = r

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["vanilla", "advprop"], default="advprop")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--filters", type=int, default=32)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    images = read_idx(find(a.data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(find(a.data_dir, "train-labels-idx1-ubyte")).long()
    n = min(a.limit, images.shape[0]) if a.limit else images.shape[0]
    xs = (images[:n].float() / 255.0).unsqueeze(1).contiguous()
    ys = labels[:n].contiguous()
    batch = min(a.batch, n)
    steps = n // batch

    dual = a.mode == "advprop"
    net = SmallCnn(a.filters, dual)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    eps, alpha = 1 / 255.0, 1 / 255.0

    def attack(x, y):
        # PGD-1 through the auxiliary BN with running statistics, targeted to a random wrong class.
        net.eval(); net.route("aux")
        target = (y + torch.randint(1, 10, y.shape)) % 10
        adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1).detach().requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(net(adv), target, reduction="sum"), adv)
        return torch.min(torch.max(adv.detach() - alpha * g.sign(), x - eps), x + eps).clamp(0, 1)

    def step(x, y):
        adv = attack(x, y) if dual else None
        net.train()
        opt.zero_grad(set_to_none=True)
        if dual:
            net.route("main")
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        if dual:
            net.route("aux")
            loss = loss + F.cross_entropy(net(adv), y)
        loss.backward()
        opt.step()
        return loss.item(), (logits.argmax(1) == y).sum().item()

    t0 = time.perf_counter()
    t_warm = t0
    order = torch.randperm(n)
    last = float("nan")
    for s in range(steps):
        idx = order[s * batch:(s + 1) * batch]
        last, _ = step(xs.index_select(0, idx), ys.index_select(0, idx))
        if s + 1 == a.warmup_steps:
            t_warm = time.perf_counter()
    seconds = time.perf_counter() - t0
    steady_steps = steps - a.warmup_steps
    steady = steady_steps * batch / (time.perf_counter() - t_warm) if steady_steps > 0 else None
    print(json.dumps({
        "impl": "torch", "torch": torch.__version__, "mode": a.mode, "threads": torch.get_num_threads(),
        "batch": batch, "filters": a.filters, "steps": steps, "images": steps * batch,
        "seconds": round(seconds, 2), "img_per_s": round(steps * batch / seconds, 1),
        "img_per_s_steady": round(steady, 1) if steady else None, "final_loss": round(last, 4),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
