/**
 * The report of one run directory: reads config.json, summary.json and metrics.jsonl, loads the
 * run's model to measure robust accuracy against epsilon, corruption accuracy (when the run did not
 * record it) and a grid of adversarial examples, and writes the static site.
 */
import * as path from 'node:path';
import type { AnyPlugin, DatasetAdapter, Registry } from '@advprop/core';
import { amountToFraction } from '@advprop/attacks';
import { CORRUPTIONS } from '@advprop/datasets';
import { createDefaultRegistry, loadRun, type CorruptionSpec } from '@advprop/trainer';
import { encodePng, magnifiedPerturbation } from './images.js';
import type { ExampleItem, MetricRow, RunReportData } from './report-data.js';
import { computeRobustness, type AttackChoice } from './robustness.js';
import { readRunDirectory, type MetricRecord, type RunData } from './run-reader.js';
import { writeSite, type SiteFile } from './site.js';

export interface RunReportOptions {
  /** Site directory (default `<run>/report`). */
  readonly out?: string;
  /** Attacks of the robustness curve (default: the run's evaluation attacks, else fgsm and pgd). */
  readonly attacks?: readonly AttackChoice[];
  /** Epsilons of the curve (default: 0 and 1/4, 1/2, 1, 2, 3 times the run's evaluation epsilon). */
  readonly epsilons?: readonly number[];
  /** Test images for the curve and the corruptions (default 300). */
  readonly limit?: number;
  /** Adversarial examples in the grid (default 8). */
  readonly examples?: number;
  /** Seed of the test subset and the attacks' random streams (default: the run's seed). */
  readonly seed?: number;
  readonly registry?: Registry<AnyPlugin>;
  readonly onProgress?: (message: string) => void;
}

export interface WrittenReport {
  readonly kind: 'run' | 'sweep';
  /** The site directory. */
  readonly out: string;
  readonly index: string;
}

/** At most this many metric rows per metric (longer runs are thinned evenly, evaluations kept). */
const MAX_ROWS_PER_METRIC = 2000;

export function metricRows(records: readonly MetricRecord[]): MetricRow[] {
  const rows: MetricRow[] = [];
  const batches = records.filter((r) => r.type === 'batch');
  const stride = Math.max(1, Math.ceil(batches.length / MAX_ROWS_PER_METRIC));
  batches.forEach((r, i) => {
    if (i % stride !== 0 && i !== batches.length - 1) return;
    for (const [metric, value] of Object.entries(r)) {
      if (['type', 'epoch', 'step', 'batch'].includes(metric) || typeof value !== 'number' || !Number.isFinite(value)) continue;
      rows.push({ step: r.step, epoch: r.epoch, source: 'batch', metric, value });
    }
  });
  for (const r of records.filter((rec) => rec.type === 'eval')) {
    for (const [metric, value] of Object.entries(r)) {
      // Evaluation records repeat the epoch's mean training loss/accuracy; keep the validation figures.
      if (!metric.startsWith('val_') || typeof value !== 'number' || !Number.isFinite(value)) continue;
      rows.push({ step: r.step, epoch: r.epoch, source: 'eval', metric, value });
    }
  }
  return rows;
}

interface EvalAttackRef {
  name: string;
  options?: Record<string, unknown>;
}

/** Attacks and epsilon of the run's own evaluation, as a default for the curve. */
export function defaultAttacks(config: Record<string, unknown>): { attacks: AttackChoice[]; epsilon: number } {
  const evaluation = config.evaluation as { attacks?: EvalAttackRef[] } | undefined;
  const refs = evaluation?.attacks ?? [];
  const attacks: AttackChoice[] = [];
  let epsilon = 0;
  for (const ref of refs) {
    const { epsilon: eps, ...rest } = ref.options ?? {};
    if (eps !== undefined) epsilon = Math.max(epsilon, amountToFraction(eps as number | string));
    if (!attacks.some((a) => a.name === ref.name)) attacks.push({ name: ref.name, options: rest });
  }
  if (attacks.length === 0) attacks.push({ name: 'fgsm' }, { name: 'pgd', options: { steps: 10 } });
  return { attacks, epsilon: epsilon > 0 ? epsilon : 0.1 };
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;

export async function writeRunReport(runDir: string, options: RunReportOptions = {}): Promise<WrittenReport> {
  const run: RunData = await readRunDirectory(runDir);
  const out = path.resolve(options.out ?? path.join(run.dir, 'report'));
  const log = options.onProgress ?? (() => {});
  const seed = options.seed ?? (run.config.seed as number);
  const defaults = defaultAttacks(run.config);
  const attacks = options.attacks ?? defaults.attacks;
  const epsilons = options.epsilons ?? [0, 0.25, 0.5, 1, 2, 3].map((f) => round(f * defaults.epsilon)).filter((e) => e <= 1);
  const exampleEpsilon = options.epsilons ? Math.max(...options.epsilons) : defaults.epsilon;

  const registry = options.registry ?? (createDefaultRegistry({ seed }) as unknown as Registry<AnyPlugin>);
  log(`loading the model of ${run.dir}`);
  const loaded = await loadRun(run.dir, { registry });
  let dataset: DatasetAdapter | undefined;
  try {
    const datasetRef = run.config.dataset as { name: string; options?: Record<string, unknown> };
    dataset = await registry.resolveDynamic('dataset', datasetRef.name, datasetRef.options ?? {});
    const classNames = dataset.info.classNames.length === dataset.info.numClasses ? dataset.info.classNames : dataset.info.classNames.map((_, i) => String(i));
    const recordedCorruptions = run.summary.corrupted_accuracy;
    const corruptions: CorruptionSpec[] =
      recordedCorruptions && Object.keys(recordedCorruptions).length > 0 ? [] : CORRUPTIONS.map((type) => ({ type, severity: 3 }));
    const measured = await computeRobustness(loaded.model, dataset, registry, {
      attacks,
      epsilons,
      limit: options.limit ?? 300,
      corruptions,
      examples: options.examples ?? 8,
      exampleEpsilon,
      seed,
      onProgress: log,
    });
    const shape = dataset.info.imageShape;
    const files: SiteFile[] = [];
    const items: ExampleItem[] = [];
    const top = (p: readonly number[]) => p.reduce((best, v, i) => (v > (p[best] as number) ? i : best), 0);
    for (const ex of measured.examples) {
      const base = `assets/examples/${ex.index}`;
      const images = { clean: `${base}-clean.png`, perturbation: `${base}-perturbation.png`, adversarial: `${base}-adversarial.png` };
      files.push({ path: images.clean, content: await encodePng(ex.clean, shape) });
      files.push({ path: images.perturbation, content: await encodePng(magnifiedPerturbation(ex.clean, ex.adversarial, exampleEpsilon), shape) });
      files.push({ path: images.adversarial, content: await encodePng(ex.adversarial, shape) });
      const c = top(ex.cleanProbabilities);
      const a = top(ex.adversarialProbabilities);
      items.push({
        index: ex.index,
        label: classNames[ex.label] ?? String(ex.label),
        cleanPrediction: classNames[c] ?? String(c),
        cleanConfidence: ex.cleanProbabilities[c] as number,
        adversarialPrediction: classNames[a] ?? String(a),
        adversarialConfidence: ex.adversarialProbabilities[a] as number,
        images,
        probabilities: classNames.map((name, i) => ({ class: name, clean: ex.cleanProbabilities[i] as number, adversarial: ex.adversarialProbabilities[i] as number })),
      });
    }
    const corruptionRows = Object.entries(recordedCorruptions && Object.keys(recordedCorruptions).length > 0 ? recordedCorruptions : measured.corrupted).map(
      ([key, accuracy]) => {
        const m = /^(.*)-(\d+)$/.exec(key);
        return { corruption: m ? (m[1] as string) : key, severity: m ? Number(m[2]) : 0, accuracy };
      },
    );
    const s = run.summary;
    const data: RunReportData = {
      kind: 'run',
      title: `advprop report: ${s.mode} ${s.model} on ${s.dataset} (${path.basename(run.dir)})`,
      generated: new Date().toISOString(),
      run: { dir: run.dir, mode: s.mode, dataset: s.dataset, model: s.model, backend: String(s.backend), epochs: s.epochs, seed: run.config.seed as number },
      summary: Object.fromEntries(Object.entries(s).filter(([, v]) => v === null || typeof v === 'number' || typeof v === 'string')) as Record<string, number | string | null>,
      recordedRobustness: s.robust_accuracy,
      metrics: metricRows(run.metrics),
      robustness: { count: measured.count, points: measured.curve },
      perClass: s.per_class_accuracy.map((accuracy, i) => ({ class: classNames[i] ?? String(i), accuracy })),
      corruptions: {
        source: corruptions.length === 0 ? 'run' : 'report',
        count: corruptions.length === 0 ? s.evaluated_examples : measured.count,
        rows: corruptionRows,
      },
      examples: { attack: measured.exampleAttack.name, epsilon: exampleEpsilon, items },
    };
    const index = await writeSite(out, data, files);
    log(`report written to ${index}`);
    return { kind: 'run', out, index };
  } finally {
    dataset?.dispose?.();
    loaded.model.dispose();
    if (!options.registry) await registry.dispose();
  }
}
