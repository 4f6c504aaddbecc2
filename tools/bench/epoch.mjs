#!/usr/bin/env node
/**
 * Epoch throughput on Fashion-MNIST, our trainer against PyTorch, same recipe, same thread count,
 * in one command:
 *
 *   node tools/bench/epoch.mjs [--modes vanilla,advprop] [--threads 2] [--limit N] [--backend wasm]
 *     [--batch 128] [--filters 32] [--no-torch]
 *
 * For each mode: our epoch (tools/bench/epoch-main.ts under tsx with the @advprop/source condition,
 * train() from @advprop/trainer), then PyTorch's (tools/bench/torch_epoch.py with /usr/bin/python3,
 * or ADVPROP_BENCH_PYTHON, or python3 on PATH), then {"ratio": ours / torch images/s}. Both sides
 * get the same --threads (ours: the native kernels' OpenMP threads; PyTorch: set_num_threads).
 * Without a python3 that imports torch, PyTorch is skipped with a note and no ratio is printed.
 * Without --limit a full epoch (60,000 images, 468 steps of 128) runs.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const { values } = parseArgs({
  options: {
    modes: { type: "string", default: "vanilla,advprop" },
    threads: { type: "string", default: String(availableParallelism()) },
    limit: { type: "string" },
    backend: { type: "string", default: "wasm" },
    batch: { type: "string", default: "128" },
    filters: { type: "string", default: "32" },
    "warmup-steps": { type: "string", default: "2" },
    "no-torch": { type: "boolean", default: false },
  },
  allowPositionals: false,
});

const modes = values.modes.split(",").map((m) => m.trim());
for (const mode of modes) {
  if (mode !== "vanilla" && mode !== "advprop") {
    console.error(
      `epoch bench: --modes takes vanilla and/or advprop, got ${JSON.stringify(
        mode
      )}`
    );
    process.exit(2);
  }
}

function lastJsonLine(text) {
  const lines = (text ?? "")
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"));
  return lines.length ? JSON.parse(lines[lines.length - 1]) : undefined;
}

/** The python3 that imports torch, or undefined with the reason. */
function findTorchPython() {
  const candidates = [
    process.env.ADVPROP_BENCH_PYTHON,
    "/usr/bin/python3",
    "python3",
  ].filter(Boolean);
  for (const candidate of candidates) {
    if (candidate.startsWith("/") && !existsSync(candidate)) continue;
    if (
      spawnSync(candidate, ["-c", "import torch"], { encoding: "utf8" })
        .status === 0
    )
      return candidate;
  }
  return undefined;
}

const python = values["no-torch"] ? undefined : findTorchPython();
if (!values["no-torch"] && !python) {
  console.error(
    "epoch bench: no python3 with torch (apt-get install python3-torch); PyTorch skipped, no ratio"
  );
}

const common = [
  "--batch",
  values.batch,
  "--filters",
  values.filters,
  "--threads",
  values.threads,
  "--warmup-steps",
  values["warmup-steps"],
];
if (values.limit !== undefined) common.push("--limit", values.limit);
let failed = false;
for (const mode of modes) {
  const ours = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--conditions=@advprop/source",
      join(here, "epoch-main.ts"),
      "--mode",
      mode,
      "--backend",
      values.backend,
      ...common,
    ],
    {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 1 << 26,
    }
  );
  const ourLine = ours.status === 0 ? lastJsonLine(ours.stdout) : undefined;
  if (!ourLine) {
    process.stdout.write(ours.stdout ?? "");
    console.error(
      `epoch bench: our ${mode} epoch failed (exit ${ours.status})`
    );
    failed = true;
    continue;
  }
  console.log(JSON.stringify(ourLine));
  if (!python) continue;
  const torch = spawnSync(
    python,
    [join(here, "torch_epoch.py"), "--mode", mode, ...common],
    {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }
  );
  const torchLine = torch.status === 0 ? lastJsonLine(torch.stdout) : undefined;
  if (!torchLine) {
    console.error(
      `epoch bench: the PyTorch ${mode} epoch failed (exit ${torch.status})`
    );
    failed = true;
    continue;
  }
  console.log(JSON.stringify(torchLine));
  console.log(
    JSON.stringify({
      mode,
      threads: Number(values.threads),
      images: ourLine.images,
      ours_img_per_s: ourLine.img_per_s,
      torch_img_per_s: torchLine.img_per_s,
      ratio: +(ourLine.img_per_s / torchLine.img_per_s).toFixed(3),
      ratio_steady:
        ourLine.img_per_s_steady && torchLine.img_per_s_steady
          ? +(ourLine.img_per_s_steady / torchLine.img_per_s_steady).toFixed(3)
          : null,
    })
  );
}
process.exit(failed ? 1 : 0);
