/** The built-in training modes (kind 'training-mode'): `registry.use(trainingModes)`. */
import { adversarial } from './adversarial.js';
import { advprop } from './advprop.js';
import { fastAdvprop } from './fast-advprop.js';
import { trades } from './trades.js';
import { vanilla } from './vanilla.js';

export const trainingModes = [vanilla, adversarial, advprop, fastAdvprop, trades] as const;
export type BuiltinModeName = (typeof trainingModes)[number]['name'];
export { vanilla, adversarial, advprop, fastAdvprop, trades };
export { advpropOptions } from './advprop.js';
export { fastAdvpropOptions } from './fast-advprop.js';
export { tradesOptions, tradesKl } from './trades.js';
export * from './training-mode.js';
