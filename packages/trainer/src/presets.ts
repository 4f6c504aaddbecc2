/**
 * Named presets: partial training configs for whole experiments, layered under what the user
 * gives (`train({ preset: 'mnist-advprop', epochs: 5 })`). Every field a preset leaves out takes
 * the schema default (config.ts), so defaults still have one home; `advprop train` with no
 * arguments runs the `mnist-advprop` preset.
 */
import { ConfigError } from '@advprop/core';

type PlainObject = Record<string, unknown>;

export const TRAIN_PRESETS = {
  /**
   * AdvProp on MNIST from the `mnist` package with the small CNN at 16 and 32 channels (a quarter
   * of its default compute), trained with PGD-1 at epsilon 0.1 (the ImageNet budget 1/255 is
   * invisible on MNIST; random start and step 1.25 * epsilon as in "fast adversarial training",
   * Wong et al. 2020) targeted at a random wrong class, 2 epochs, SGD (lr 0.05, momentum 0.9) with
   * cosine decay, evaluated against FGSM and PGD-10 at the same epsilon on 1000 test images (a
   * fixed seeded subset). A few minutes on 2 CPU cores (wasm backend).
   */
  'mnist-advprop': {
    mode: 'advprop',
    dataset: { name: 'mnist-package' },
    model: { name: 'small-cnn', options: { filters: 16 } },
    attacker: { name: 'pgd', options: { epsilon: 0.1, steps: 1, stepSize: 0.125, randomStart: true, targeted: 'random' } },
    epochs: 2,
    batchSize: 64,
    seed: 0,
    schedule: { name: 'cosine' },
    evaluation: {
      attacks: [
        { name: 'fgsm', options: { epsilon: 0.1 } },
        { name: 'pgd', options: { epsilon: 0.1, steps: 10 } },
      ],
      limit: 1000,
    },
  },
} as const satisfies Record<string, PlainObject>;

export type TrainPresetName = keyof typeof TRAIN_PRESETS;

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge: objects merge key by key, anything else (arrays included) replaces. */
export function deepMerge(base: PlainObject, over: PlainObject): PlainObject {
  const out: PlainObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

/**
 * Layer one partial config over another: a deep merge, except that naming a different plugin
 * (dataset, model, attacker, mode) drops the lower layer's options, which belong to the other plugin,
 * and giving `incremental` without `epochs` drops the lower layer's `epochs` (derived from the tasks).
 */
export function mergeConfigLayers(base: PlainObject, over: PlainObject): PlainObject {
  const merged = deepMerge(base, over);
  for (const key of ['dataset', 'model', 'attacker']) {
    const b = base[key];
    const o = over[key];
    if (isPlainObject(b) && isPlainObject(o) && typeof o.name === 'string' && o.name !== b.name) merged[key] = { ...o };
  }
  if (typeof over.mode === 'string' && over.mode !== base.mode && over.modeOptions === undefined) delete merged.modeOptions;
  // An incremental run's epochs follow from its tasks (config.ts): a lower layer's count yields.
  if (over.incremental !== undefined && over.epochs === undefined) delete merged.epochs;
  return merged;
}

/** A preset's config (a copy), or a ConfigError listing the presets. */
export function trainPreset(name: string, where = 'training config'): PlainObject {
  const preset = (TRAIN_PRESETS as Record<string, PlainObject>)[name];
  if (!preset) {
    throw new ConfigError(`${where}: preset: unknown preset "${name}"; available: ${Object.keys(TRAIN_PRESETS).join(', ')}`, [
      { path: 'preset', message: 'unknown preset' },
    ]);
  }
  return structuredClone(preset);
}

/** `{ preset: name, ...fields }` -> the preset layered under the fields; other values unchanged. */
export function expandPreset(partial: unknown, where = 'training config'): unknown {
  if (!isPlainObject(partial) || partial.preset === undefined) return partial;
  const { preset, ...rest } = partial;
  if (typeof preset !== 'string') {
    throw new ConfigError(`${where}: preset: expected a preset name, got ${JSON.stringify(preset)}`, [{ path: 'preset', message: 'expected a string' }]);
  }
  return mergeConfigLayers(trainPreset(preset, where), rest);
}
