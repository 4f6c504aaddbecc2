#!/usr/bin/env python3
"""The vanilla counterpart of ../shared/bench/torch_advprop_step.py, for `npm run bench -- --k 0`:
the same ResNet-20 (imported from that script, so the two cannot drift apart), its main BNs only,
one SGD(momentum 0.9) update on CE(clean) per step, inputs in [0, 1], batch B, 10 classes.
Prints one JSON line like the reference. Usage: torch_vanilla_step.py [--device cpu|cuda]
[--batch 128] [--steps 10] [--threads N] [--reference PATH]
"""
import argparse, importlib.util, json, os, time
import torch
import torch.nn.functional as F


def load_reference(path):
    spec = importlib.util.spec_from_file_location("torch_advprop_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu"); p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10); p.add_argument("--threads", type=int, default=0)
    p.add_argument("--reference", default=os.path.join(here, "..", "..", "..", "shared", "bench", "torch_advprop_step.py"))
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    net = load_reference(a.reference).ResNet20().to(dev)
    net.route("main")
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = torch.rand(a.batch, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(2):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t) / a.steps * 1000
    print(json.dumps({"impl": "torch", "torch": torch.__version__, "device": a.device, "mode": "vanilla",
                      "threads": torch.get_num_threads(), "batch": a.batch, "k": 0,
                      "ms_per_step": round(ms, 2), "img_per_s": round(a.batch * 1000 / ms, 1)}))


if __name__ == "__main__":
    main()
