// Dataset plugins for the critique's class-imbalanced, corrupted-training and few-shot settings (the
// specs in this folder list this module under `plugins:`): each wraps a registered dataset and
// changes its training split; the test split is the wrapped dataset's, clean.
import { SeededRandom, definePlugin, z } from '@advprop/core';
import { corruptedDataset, fewShotEpisode, imbalancedIndices, subsetDataset } from '@advprop/datasets';

/** Long-tail imbalance: class c keeps floor(maxPerClass * ratio^(-c / (C - 1))) examples, the first ones of each class. */
export const longTailDataset = definePlugin({
  kind: 'dataset',
  name: 'long-tail',
  description: 'the first examples of each class of another dataset, class sizes decaying exponentially (long tail)',
  options: z.strictObject({
    base: z.string().min(1),
    ratio: z.number().min(1),
    maxPerClass: z.number().int().positive(),
  }),
  create: async (ctx, o) => {
    const base = await ctx.registry.resolveDynamic('dataset', o.base, {});
    const indices = imbalancedIndices(base.labels('train'), { ratio: o.ratio, mode: 'long-tail', maxPerClass: o.maxPerClass });
    return subsetDataset(base, { train: indices, name: `${o.base} long-tail ${o.ratio}` });
  },
});

/** Few-shot training set: `shots` images of every class, drawn by `episode` (the critique pairs it with the run seed). */
export const fewShotDataset = definePlugin({
  kind: 'dataset',
  name: 'few-shot',
  description: 'K training images of every class of another dataset, drawn by a seed',
  options: z.strictObject({
    base: z.string().min(1),
    shots: z.number().int().positive(),
    episode: z.number().int().min(0),
  }),
  create: async (ctx, o) => {
    const base = await ctx.registry.resolveDynamic('dataset', o.base, {});
    const numClasses = base.info.numClasses;
    const episode = fewShotEpisode(base.labels('train'), {
      ways: numClasses,
      shots: o.shots,
      queries: 0,
      random: new SeededRandom(1000 + o.episode),
      numClasses,
    });
    return subsetDataset(base, { train: episode.support, name: `${o.base} ${o.shots}-shot` });
  },
});

/** Training on corrupted data: a seeded `share` of the training images, each with a random corruption type and severity 1-5. */
export const corruptedTrainingDataset = definePlugin({
  kind: 'dataset',
  name: 'corrupted-training',
  description: 'another dataset with a share of its training images corrupted (random type and severity per image)',
  options: z.strictObject({
    base: z.string().min(1),
    share: z.number().gt(0).max(1),
    seed: z.number().int().min(0).default(0),
  }),
  create: async (ctx, o) => {
    const base = await ctx.registry.resolveDynamic('dataset', o.base, {});
    return corruptedDataset(base, { type: 'mixed', severity: 'mixed', share: o.share, seed: o.seed, splits: ['train'] });
  },
});

export default [longTailDataset, fewShotDataset, corruptedTrainingDataset];
