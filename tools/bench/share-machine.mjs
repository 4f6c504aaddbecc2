#!/usr/bin/env node
/**
 * Sharing a machine: combined training throughput of P concurrent training processes with T native
 * threads each, against one process with all the cores.
 *
 *   node tools/bench/share-machine.mjs [--mode advprop|vanilla] [--limit 3200]
 *     [--configs 1x2,2x1,2x2,2x2:passive,2x2:spin0] [--backend wasm] [--batch 128] [--filters 32]
 *
 * Each config is PxT[:env]: P processes of tools/bench/epoch-main.ts (our trainer, Fashion-MNIST,
 * the epoch benchmark's recipe) with `--threads T`, started with `--sync` so that every process
 * loads its data and builds its model first and all epochs start together. `:passive` adds
 * OMP_WAIT_POLICY=passive, `:spin0` GOMP_SPINCOUNT=0 (libgomp's spin-wait before sleeping; both
 * read when the native addon's OpenMP runtime starts). Combined throughput = all processes'
 * images / the slowest process's epoch time. The last line compares every config with the first
 * ({"ratio": combined / combined of the first config}); the target for 2x1 against 1x2 is >= 0.8.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "advprop" },
    limit: { type: "string", default: "3200" },
    configs: { type: "string", default: "1x2,2x1,2x2,2x2:passive,2x2:spin0" },
    backend: { type: "string", default: "wasm" },
    batch: { type: "string", default: "128" },
    filters: { type: "string", default: "32" },
  },
  allowPositionals: false,
});

const ENV_VARIANTS = {
  passive: { OMP_WAIT_POLICY: "passive" },
  spin0: { GOMP_SPINCOUNT: "0" },
};

function parseConfig(text) {
  const m = /^(\d+)x(\d+)(?::(\w+))?$/.exec(text.trim());
  if (
    !m ||
    Number(m[1]) < 1 ||
    Number(m[2]) < 1 ||
    (m[3] !== undefined && !(m[3] in ENV_VARIANTS))
  ) {
    throw new Error(
      `share-machine: --configs entries are PxT[:${Object.keys(
        ENV_VARIANTS
      ).join("|")}], e.g. 2x1 or 2x2:passive; got ${JSON.stringify(text)}`
    );
  }
  return {
    label: text.trim(),
    processes: Number(m[1]),
    threads: Number(m[2]),
    env: m[3] ? ENV_VARIANTS[m[3]] : {},
  };
}

/** Starts one training process; resolves `ready` when it has set up, `done` with its JSON result. */
function startProcess(config) {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--conditions=@advprop/source",
      join(here, "epoch-main.ts"),
      "--mode",
      values.mode,
      "--backend",
      values.backend,
      "--batch",
      values.batch,
      "--filters",
      values.filters,
      "--limit",
      values.limit,
      "--threads",
      String(config.threads),
      "--sync",
    ],
    {
      cwd: root,
      env: { ...process.env, ...config.env },
      stdio: ["pipe", "pipe", "inherit"],
    }
  );
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  let result;
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (!line.startsWith("{")) return;
    const parsed = JSON.parse(line);
    if (parsed.ready) onReady();
    else result = parsed;
  });
  const done = new Promise((resolveDone, reject) => {
    child.on("exit", (code) => {
      if (code === 0 && result) resolveDone(result);
      else
        reject(
          new Error(
            `share-machine: a ${config.label} training process failed (exit ${code})`
          )
        );
    });
  });
  done.catch(() => onReady()); // a process that dies during setup must not block the others' start
  return { child, ready, done };
}

async function runConfig(config) {
  const procs = Array.from({ length: config.processes }, () =>
    startProcess(config)
  );
  await Promise.all(procs.map((p) => p.ready));
  for (const p of procs) p.child.stdin.end("go\n");
  const results = await Promise.all(procs.map((p) => p.done));
  const images = results.reduce((s, r) => s + r.images, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  return {
    config: config.label,
    processes: config.processes,
    threads_each: config.threads,
    env: config.env,
    mode: values.mode,
    images,
    seconds: +seconds.toFixed(2),
    combined_img_per_s: +(images / seconds).toFixed(1),
    per_process_img_per_s: results.map((r) => r.img_per_s),
    per_process_img_per_s_steady: results.map((r) => r.img_per_s_steady),
  };
}

const configs = values.configs.split(",").map(parseConfig);
const rows = [];
for (const config of configs) {
  const row = await runConfig(config);
  rows.push(row);
  console.log(JSON.stringify(row));
}
const base = rows[0];
console.log(
  JSON.stringify({
    baseline: base.config,
    ratio: Object.fromEntries(
      rows
        .slice(1)
        .map((r) => [
          r.config,
          +(r.combined_img_per_s / base.combined_img_per_s).toFixed(3),
        ])
    ),
  })
);
