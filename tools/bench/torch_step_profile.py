#!/usr/bin/env python3
"""Where PyTorch's ResNet-20 step spends its time, per operator, to set beside
`npm run bench -- --profile` (our kernels): the reference's network from
../shared/bench/torch_advprop_step.py (imported, so it cannot drift), the same AdvProp step
(targeted PGD-K through the aux BN in eval mode, then one SGD momentum update on
CE(clean, main) + CE(adv, aux)) or, with --k 0, the vanilla step.

Prints the unprofiled ms per step, then torch.autograd.profiler's table for --profiled steps,
with each operator's time per step (the profiler itself slows the step; compare shares, not sums).
Usage: torch_step_profile.py [--k 1] [--batch 128] [--threads 2] [--steps 5] [--profiled 3]
       [--rows 20] [--reference PATH]
"""
import argparse, os, time
import torch
import torch.nn.functional as F

from torch_vanilla_step import load_reference  # the same loader, so the two cannot drift apart


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument("--k", type=int, default=1); p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2); p.add_argument("--steps", type=int, default=5)
    p.add_argument("--profiled", type=int, default=3); p.add_argument("--rows", type=int, default=20)
    p.add_argument("--reference", default=os.path.join(here, "..", "..", "..", "shared", "bench", "torch_advprop_step.py"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = load_reference(a.reference).ResNet20()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    eps = alpha = 1 / 255.0
    x = torch.rand(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        adv = None
        if a.k > 0:
            net.eval(); net.route("aux")
            target = (y + torch.randint(1, 10, y.shape)) % 10
            adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1).detach()
            for _ in range(a.k):
                adv.requires_grad_(True)
                g, = torch.autograd.grad(F.cross_entropy(net(adv), target), adv)
                adv = torch.min(torch.max(adv.detach() - alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
        net.train(); opt.zero_grad(set_to_none=True)
        net.route("main"); loss = F.cross_entropy(net(x), y)
        if adv is not None:
            net.route("aux"); loss = loss + F.cross_entropy(net(adv.detach()), y)
        loss.backward(); opt.step()

    for _ in range(2):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    ms = (time.perf_counter() - t) / a.steps * 1000
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, k {a.k}: {ms:.1f} ms per step (unprofiled)")
    with torch.autograd.profiler.profile() as prof:
        for _ in range(a.profiled):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows)
    print(f"profiled: {total / 1000 / a.profiled:.1f} ms of operator time per step")
    for e in rows[: a.rows]:
        share = 100 * e.self_cpu_time_total / total
        print(f"  {e.key:<40} {e.self_cpu_time_total / 1000 / a.profiled:8.1f} ms {share:5.1f}%  {e.count // a.profiled} calls")


if __name__ == "__main__":
    main()
