/**
 * Small-scale check of questions a published critique of AdvProp asks (see docs/experiments.md):
 *
 *   1. Does AdvProp improve clean accuracy over vanilla training for a small CNN on small datasets?
 *   2. Do small networks prefer weaker attackers (sweep of the AdvProp attacker's epsilon)?
 *   3. Does it hold under class imbalance (long-tail, ratio 10), on corrupted test data, and with
 *      few examples per class (few-shot training sets)?
 *   4. Is it worth its cost: does it beat vanilla training given the same compute (2x epochs)?
 *
 *   node --import tsx --conditions=@advprop/source tools/experiments/critique.ts [--quick] [--out DIR]
 *        [--seeds 0,1,2,3,4] [--only balanced|imbalanced|few-shot] [--datasets mnist-package,fashion-mnist]
 *        [--epochs N (balanced and imbalanced sets; default 2)] [--eps 0.05,0.1 (balanced sweep)]
 *
 * Writes one JSON line per run to <out>/critique[-quick].jsonl (runs already in that file with the
 * same key are skipped, so an interrupted grid can be continued) and prints a markdown table at the
 * end, built from every run in the file. `--quick` runs a tiny grid (smoke check only).
 */
import '@tensorflow/tfjs-layers';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '@advprop/backends';
import { fewShotEpisode, imbalancedIndices, subsetDataset } from '@advprop/datasets';
import { SeededRandom, type DatasetAdapter } from '@advprop/core';
import { createDefaultRegistry, train } from '@advprop/trainer';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: '.tmp/experiments' },
    seeds: { type: 'string' },
    only: { type: 'string' },
    datasets: { type: 'string' },
    epochs: { type: 'string' },
    eps: { type: 'string' },
  },
});
const quick = values.quick;

type Setting = 'balanced' | 'imbalanced' | 'few-shot';
/** vanilla-2x: vanilla training for twice the epochs, about AdvProp's compute (it runs two passes per step plus the attack). */
type Mode = 'vanilla' | 'vanilla-2x' | 'advprop';
interface RunSpec {
  readonly dataset: string;
  readonly setting: Setting;
  readonly mode: Mode;
  /** AdvProp attacker epsilon (fraction of [0, 1]); null for vanilla. */
  readonly eps: number | null;
  readonly seed: number;
}

// Shared setup (documented in docs/experiments.md).
const LIMIT = quick ? 256 : 4000; // balanced training subset: the first LIMIT training examples
const EPOCHS = values.epochs ? Number(values.epochs) : quick ? 1 : 2;
if (!Number.isInteger(EPOCHS) || EPOCHS < 1) throw new Error(`--epochs must be a positive integer, got ${values.epochs}`);
const BATCH = 64;
const EVAL_LIMIT = quick ? 200 : 1000;
const FGSM_EPS = 0.1;
const CORRUPTIONS = [
  { type: 'gaussian-noise', severity: 3 },
  { type: 'fog', severity: 3 },
];
const IMBALANCE_RATIO = 10;
const IMBALANCE_MAX_PER_CLASS = quick ? 40 : 700; // head class size; tail class keeps floor(700 / 10) = 70
const EPS_SWEEP = values.eps ? values.eps.split(',').map(Number) : quick ? [0.05] : [0.02, 0.05, 0.1, 0.2];
if (EPS_SWEEP.some((e) => !(e > 0 && e < 1))) throw new Error(`--eps must be numbers in (0, 1), got ${values.eps}`);
const IMBALANCE_EPS = 0.05;
const FEW_SHOT_PER_CLASS = quick ? 5 : 20; // training images per class (drawn by the run seed)
const FEW_SHOT_EPOCHS = quick ? 2 : 30; // 200 images: 3 batches of 64 per epoch
const FEW_SHOT_EPS = 0.05;

const datasets = values.datasets ? values.datasets.split(',') : quick ? ['mnist-package'] : ['mnist-package', 'fashion-mnist'];
const seeds = values.seeds ? values.seeds.split(',').map(Number) : quick ? [0] : [0, 1, 2, 3, 4];
const settings: Setting[] = values.only ? [values.only as Setting] : ['balanced', 'imbalanced', 'few-shot'];
for (const s of settings) {
  if (!['balanced', 'imbalanced', 'few-shot'].includes(s)) throw new Error(`--only must be balanced, imbalanced or few-shot, got ${s}`);
}

function grid(): RunSpec[] {
  const runs: RunSpec[] = [];
  // Seed-major order, so a grid cut short still has complete seed-0 comparisons.
  for (const seed of seeds) {
    for (const setting of settings) {
      for (const dataset of datasets) {
        runs.push({ dataset, setting, mode: 'vanilla', eps: null, seed });
        runs.push({ dataset, setting, mode: 'vanilla-2x', eps: null, seed });
        const sweep = setting === 'balanced' ? EPS_SWEEP : setting === 'imbalanced' ? [IMBALANCE_EPS] : [FEW_SHOT_EPS];
        for (const eps of sweep) runs.push({ dataset, setting, mode: 'advprop', eps, seed });
      }
    }
  }
  return runs;
}

const keyOf = (r: RunSpec) => `${r.dataset}|${r.setting}|${r.mode}|${r.eps ?? '-'}|${r.seed}`;

interface RunRecord extends RunSpec {
  readonly key: string;
  readonly train_examples: number;
  readonly train_class_counts: number[];
  readonly clean_accuracy: number;
  readonly aux_accuracy: number | null;
  readonly fgsm_accuracy: number;
  readonly gaussian_noise_3: number;
  readonly fog_3: number;
  /** Mean per-class test accuracy over the 5 rarest training classes (ranks 5..9 = classes 5..9). */
  readonly tail_accuracy: number;
  readonly per_class_accuracy: (number | null)[];
  readonly final_loss: number;
  readonly steps: number;
  readonly wall_seconds: number;
  readonly images_per_second: number;
  readonly backend: string;
  readonly quick: boolean;
}

const outDir = values.out;
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, quick ? 'critique-quick.jsonl' : 'critique.jsonl');
const done = new Map<string, RunRecord>();
if (existsSync(outFile)) {
  for (const line of readFileSync(outFile, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const rec = JSON.parse(line) as RunRecord;
    done.set(rec.key, rec);
  }
}

const info = await useBackend('wasm');
console.error(`backend: ${info.name} (${info.description ?? ''}); output: ${outFile}`);

const adapters = new Map<string, DatasetAdapter>();
async function trainingData(spec: RunSpec): Promise<{ adapter: DatasetAdapter; limit: number | undefined }> {
  let base = adapters.get(spec.dataset);
  if (!base) {
    // Dataset adapters are deterministic given the data; the registry seed only feeds their own
    // shuffling stream, which the trainer does not use (it forks its own from the run seed).
    const registry = createDefaultRegistry({ seed: 0 });
    base = await registry.resolveDynamic('dataset', spec.dataset, {});
    adapters.set(spec.dataset, base);
  }
  if (spec.setting === 'balanced') return { adapter: base, limit: LIMIT };
  if (spec.setting === 'few-shot') {
    // K images of every class, drawn by the run seed (the same set for every mode of that seed).
    const episode = fewShotEpisode(base.labels('train'), {
      ways: base.info.numClasses,
      shots: FEW_SHOT_PER_CLASS,
      queries: 0,
      random: new SeededRandom(1000 + spec.seed),
      numClasses: base.info.numClasses,
    });
    return { adapter: subsetDataset(base, { train: episode.support }), limit: undefined };
  }
  // Long-tail: class c keeps floor(MAX * ratio^(-c / 9)) examples, the first ones of each class.
  const indices = imbalancedIndices(base.labels('train'), { ratio: IMBALANCE_RATIO, mode: 'long-tail', maxPerClass: IMBALANCE_MAX_PER_CLASS });
  return { adapter: subsetDataset(base, { train: indices }), limit: undefined };
}

function classCounts(labels: ArrayLike<number>, n: number, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < n; i++) counts[labels[i] as number] = (counts[labels[i] as number] as number) + 1;
  return counts;
}

const todo = grid().filter((r) => !done.has(keyOf(r)));
console.error(`${done.size} runs already in ${outFile}; ${todo.length} to run`);
const t0 = performance.now();
for (const [i, spec] of todo.entries()) {
  const { adapter, limit } = await trainingData(spec);
  const trainSize = adapter.size('train');
  const used = limit !== undefined ? Math.min(limit, trainSize) : trainSize;
  const counts = classCounts(adapter.labels('train'), used, adapter.info.numClasses);
  const baseEpochs = spec.setting === 'few-shot' ? FEW_SHOT_EPOCHS : EPOCHS;
  const result = await train(
    {
      mode: spec.mode === 'vanilla-2x' ? 'vanilla' : spec.mode,
      dataset: { name: spec.dataset },
      model: { name: 'small-cnn', options: { filters: 16 } },
      ...(spec.mode === 'advprop'
        ? { attacker: { name: 'pgd', options: { epsilon: spec.eps, stepSize: spec.eps, steps: 1, randomStart: true, targeted: 'random' } } }
        : {}),
      epochs: spec.mode === 'vanilla-2x' ? 2 * baseEpochs : baseEpochs,
      batchSize: BATCH,
      ...(limit !== undefined ? { limit } : {}),
      seed: spec.seed,
      optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true },
      schedule: { name: 'cosine' },
      callbacks: [],
      evaluation: {
        attacks: [{ name: 'fgsm', options: { epsilon: FGSM_EPS } }],
        limit: EVAL_LIMIT,
        epochLimit: 0,
        corruptions: CORRUPTIONS,
      },
      backend: info.name,
    },
    { dataset: adapter },
  );
  const s = result.summary;
  result.dispose();
  const robust = Object.values(s.robust_accuracy);
  const corrupted = s.corrupted_accuracy ?? {};
  const tail = s.per_class_accuracy.slice(5).filter((v): v is number => v !== null);
  const rec: RunRecord = {
    ...spec,
    key: keyOf(spec),
    train_examples: s.train_examples,
    train_class_counts: counts,
    clean_accuracy: s.clean_accuracy,
    aux_accuracy: s.aux_accuracy,
    fgsm_accuracy: robust[0] ?? Number.NaN,
    gaussian_noise_3: corrupted['gaussian-noise-3'] ?? Number.NaN,
    fog_3: corrupted['fog-3'] ?? Number.NaN,
    tail_accuracy: tail.length > 0 ? tail.reduce((a, b) => a + b, 0) / tail.length : Number.NaN,
    per_class_accuracy: s.per_class_accuracy,
    final_loss: s.final_loss,
    steps: s.steps,
    wall_seconds: s.wall_seconds,
    images_per_second: s.images_per_second,
    backend: s.backend,
    quick,
  };
  appendFileSync(outFile, JSON.stringify(rec) + '\n');
  done.set(rec.key, rec);
  console.error(
    `[${i + 1}/${todo.length}] ${rec.key}: clean ${rec.clean_accuracy.toFixed(4)} fgsm ${rec.fgsm_accuracy.toFixed(4)} ` +
      `noise ${rec.gaussian_noise_3.toFixed(4)} fog ${rec.fog_3.toFixed(4)} tail ${rec.tail_accuracy.toFixed(4)} ` +
      `(${rec.wall_seconds.toFixed(1)} s, total ${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

// Markdown table over every run in the file: mean over seeds (percent) and the individual values.
const pct = (v: number) => (100 * v).toFixed(1);
const groups = new Map<string, RunRecord[]>();
for (const rec of done.values()) {
  const g = `${rec.dataset}|${rec.setting}|${rec.mode}|${rec.eps ?? '-'}`;
  groups.set(g, [...(groups.get(g) ?? []), rec]);
}
const SETTING_ORDER: Record<string, number> = { balanced: 0, imbalanced: 1, 'few-shot': 2 };
const order = (r: RunRecord) => [r.dataset, SETTING_ORDER[r.setting] ?? 9, r.mode === 'vanilla' ? -2 : r.mode === 'vanilla-2x' ? -1 : (r.eps ?? 0)] as const;
const rows = [...groups.values()].sort((a, b) => {
  const [x, y] = [order(a[0] as RunRecord), order(b[0] as RunRecord)];
  return x[0].localeCompare(y[0]) || x[1] - y[1] || x[2] - y[2];
});
// mean ± standard error of the mean over seeds (up to 2 seeds: the individual values instead)
const cell = (recs: RunRecord[], f: (r: RunRecord) => number) => {
  const vals = recs.map(f);
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  if (vals.length === 1) return pct(mean);
  if (vals.length === 2) return `${pct(mean)} (${vals.map(pct).join(', ')})`;
  const sd = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / (vals.length - 1));
  return `${pct(mean)} ± ${(100 * sd / Math.sqrt(vals.length)).toFixed(1)}`;
};
const lines = [
  '| dataset | train set | mode | attacker eps | seeds | clean | FGSM 0.1 | gaussian-noise-3 | fog-3 | tail classes 5-9 | s/run |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const recs of rows) {
  recs.sort((a, b) => a.seed - b.seed);
  const r = recs[0] as RunRecord;
  const secs = recs.reduce((a, b) => a + b.wall_seconds, 0) / recs.length;
  lines.push(
    `| ${r.dataset} | ${r.setting} (${r.train_examples}) | ${r.mode} | ${r.eps ?? '-'} | ${recs.map((x) => x.seed).join(',')} | ` +
      `${cell(recs, (x) => x.clean_accuracy)} | ${cell(recs, (x) => x.fgsm_accuracy)} | ${cell(recs, (x) => x.gaussian_noise_3)} | ` +
      `${cell(recs, (x) => x.fog_3)} | ${cell(recs, (x) => x.tail_accuracy)} | ${secs.toFixed(0)} |`,
  );
}
console.log(lines.join('\n'));
console.error(`accuracies in percent on ${EVAL_LIMIT} test images; mean over seeds ± standard error (two seeds: both values in parentheses)`);
