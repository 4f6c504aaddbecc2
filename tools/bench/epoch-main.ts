/**
 * One training epoch on Fashion-MNIST through our trainer's real loop (`train()` from
 * @advprop/trainer), with the recipe of tools/bench/torch_epoch.py: the small CNN with 32/64 filters
 * (dual BN for AdvProp), batch 128, SGD lr 0.05 with Nesterov momentum 0.9 and weight decay 5e-4,
 * vanilla or AdvProp (the `advprop` attacker: PGD-1, eps 1/255, random start, random wrong-class
 * target, through the auxiliary BN). Evaluation is off during the epoch and the final one (100 test
 * images, no attacks) falls outside the timing.
 *
 * Started by tools/bench/epoch.mjs and tools/bench/share-machine.mjs:
 *   node --import tsx --conditions=@advprop/source tools/bench/epoch-main.ts --mode advprop
 *     [--backend wasm] [--threads N] [--batch 128] [--limit N] [--filters 32] [--warmup-steps 2] [--sync]
 *
 * The epoch's time runs from the trainer's onEpochBegin to its onEpochEnd (batch loading, attack,
 * update and the trainer's own per-step work included; dataset loading and model building not).
 * --sync: after setup, print {"ready": true} and wait for a line on stdin before the epoch starts,
 * so several processes can start their epochs together. Prints one JSON line.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-layers";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { useBackend, type BackendChoice } from "@advprop/backends";
import type { Callback } from "@advprop/core";
import { train } from "@advprop/trainer";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "advprop" },
    backend: { type: "string", default: "wasm" },
    threads: { type: "string" },
    batch: { type: "string", default: "128" },
    limit: { type: "string" },
    filters: { type: "string", default: "32" },
    "warmup-steps": { type: "string", default: "2" },
    sync: { type: "boolean", default: false },
  },
  allowPositionals: false,
});

function positiveInt(
  name: string,
  value: string | undefined,
  min = 1
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new Error(
      `epoch-main: --${name} must be an integer >= ${min}, got ${JSON.stringify(
        value
      )}`
    );
  return n;
}
if (values.mode !== "vanilla" && values.mode !== "advprop")
  throw new Error(
    `epoch-main: --mode must be vanilla or advprop, got ${JSON.stringify(
      values.mode
    )}`
  );
const threads = positiveInt("threads", values.threads);
const batch = positiveInt("batch", values.batch) as number;
const limit = positiveInt("limit", values.limit);
const filters = positiveInt("filters", values.filters) as number;
const warmupSteps = positiveInt(
  "warmup-steps",
  values["warmup-steps"],
  0
) as number;

const info = await useBackend(values.backend as BackendChoice, {
  ...(threads !== undefined ? { threads } : {}),
  log: {
    debug: () => {},
    info: (m) => console.error(m),
    warn: (m) => console.error(`warning: ${m}`),
  },
});

async function waitForGo(): Promise<void> {
  console.log(JSON.stringify({ ready: true }));
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once("line", () => resolve()));
  lines.close();
}

let epochStart = 0;
let epochEnd = 0;
let warmEnd = 0;
let stepsDone = 0;
const timing: Callback = {
  ...(values.sync ? { onTrainBegin: () => waitForGo() } : {}),
  onEpochBegin: () => {
    epochStart = performance.now();
    warmEnd = epochStart;
  },
  onBatchEnd: () => {
    stepsDone++;
    if (stepsDone === warmupSteps) warmEnd = performance.now();
  },
  onEpochEnd: () => {
    epochEnd = performance.now();
  },
};

const result = await train(
  {
    mode: values.mode,
    dataset: { name: "fashion-mnist" },
    model: { name: "small-cnn", options: { filters } },
    ...(values.mode === "advprop"
      ? { attacker: { name: "advprop", options: { epsilon: "1/255" } } }
      : {}),
    epochs: 1,
    batchSize: batch,
    ...(limit !== undefined ? { limit } : {}),
    seed: 0,
    optimizer: {
      name: "sgd",
      lr: 0.05,
      momentum: 0.9,
      nesterov: true,
      weightDecay: 5e-4,
    },
    schedule: { name: "constant" },
    evaluation: { attacks: [], limit: 100, epochLimit: 0 },
    callbacks: [],
    backend: info.name,
  },
  { callbacks: [timing] }
);
const s = result.summary;
const wasmHeap = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm
  ?.HEAPU8?.byteLength;
const seconds = (epochEnd - epochStart) / 1000;
const images = s.steps * batch;
const steadySteps = s.steps - warmupSteps;
console.log(
  JSON.stringify({
    impl: "trainer",
    mode: values.mode,
    backend: info.name,
    description: info.description,
    threads: info.threads ?? 1,
    batch,
    filters,
    steps: s.steps,
    images,
    seconds: +seconds.toFixed(2),
    img_per_s: +(images / seconds).toFixed(1),
    img_per_s_steady:
      steadySteps > 0
        ? +((steadySteps * batch * 1000) / (epochEnd - warmEnd)).toFixed(1)
        : null,
    trainer_images_per_second: +s.images_per_second.toFixed(1),
    final_loss: +s.final_loss.toFixed(4),
    rss_mb: +(process.memoryUsage().rss / 2 ** 20).toFixed(1),
    // The wasm backend's memory at the end: its peak, since a wasm memory only grows.
    wasm_heap_mb:
      wasmHeap !== undefined ? +(wasmHeap / 2 ** 20).toFixed(1) : null,
  })
);
result.dispose();
