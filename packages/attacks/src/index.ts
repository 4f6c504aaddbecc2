/**
 * @advprop/attacks: adversarial attacks for TensorFlow.js as advprop registry plugins.
 */
export {
  attacks,
  fgsmPlugin,
  fgmPlugin,
  bimPlugin,
  pgdPlugin,
  pgdL2Plugin,
  miFgsmPlugin,
  diFgsmPlugin,
  advpropPlugin,
  firstSuccessPlugin,
  fgsm,
  fgm,
  bim,
  pgd,
  pgdL2,
  miFgsm,
  diFgsm,
  advprop,
  advpropPreset,
  Fgsm,
  Fgm,
  Bim,
  Pgd,
  PgdL2,
  MiFgsm,
  DiFgsm,
  type AdvpropSchedule,
} from './attacks.js';
export {
  GradientAttack,
  GRADIENT_DEFAULTS,
  diverseInputs,
  diverseInputsPerSample,
  l2Norm,
  project,
  type DiversityOptions,
  type GradientAttackInput,
  type GradientAttackSettings,
  type Norm,
} from './gradient-attack.js';
export { defineAttacker, type AttackContext, type AttackerDefinition } from './define-attacker.js';
export { firstSuccess, type FirstSuccessOptions as FirstSuccessConfig } from './compose.js';
export { chooseTargets, TARGET_MODES, type ChooseTargetsOptions, type TargetMode } from './targets.js';
export { attackObjective, attackSucceeded, perSampleCrossEntropy, perSampleMargin, type AttackLoss, type ObjectiveOptions } from './losses.js';
export {
  amountSchema,
  amountToFraction,
  epsilonSchema,
  rangeSchema,
  resolveEpsilon,
  stepSizeSchema,
  DEFAULT_RANGE,
  type AmountInput,
  type InputRange,
} from './units.js';
export { looksLikeProbabilities } from './validate.js';
export { SampleRandom, SAMPLE_STREAM, sampleKeys, hashWords } from './sample-random.js';
export * from './options.js';
