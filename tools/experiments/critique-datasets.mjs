// Dataset plugins for the critique's class-imbalanced and few-shot settings (experiments/critique-*.yaml
// list this module under `plugins:`): each wraps a registered dataset and keeps a subset of its
// training split; the test split is the wrapped dataset's.
import { SeededRandom, definePlugin, z } from '@advprop/core';
import { fewShotEpisode, imbalancedIndices, subsetDataset } from '@advprop/datasets';

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

export default [longTailDataset, fewShotDataset];
