/**
 * @advprop/attacks: adversarial attacks for TensorFlow.js as advprop registry plugins.
 */
export { attacks, fgsm, fgm, bim, pgd, pgdL2, miFgsm, diFgsm, advprop, firstSuccessPlugin, advpropPreset, type AdvpropSchedule } from './attacks.js';
export { declareAttack, type AttackDeclaration, type AttackSpec } from './declare-attack.js';
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
export { apgd, apgdT, apgdCheckpoints, apgdSchema, type ApgdOptions, type ApgdLoss } from './apgd.js';
export { fab, Fab, fabSchema, projectOntoHyperplane, type FabOptions, type MinimumNormResult } from './fab.js';
export { square, Square, squareSchema, squareP, type SquareOptions } from './square.js';
export { dlrLoss, dlrTargetedLoss } from './attack-core.js';
export {
  autoAttack,
  autoAttackPlan,
  type AutoAttackOptions,
  type AutoAttackResult,
  type AutoAttackVersion,
  type AutoAttackName,
  type AutoAttackProgress,
  type AutoAttackWarning,
  type AutoAttackCheck,
  type AttackBreakdown,
} from './auto-attack.js';
export {
  wrapModel,
  checkEpsilonFraction,
  isWrappedModel,
  isGraphModel,
  WRAPPED_MODEL,
  type WrappedModel,
  type ModelWrapperOptions,
  type GraphModelLike,
  type AnyModel,
  type OutputKind,
  type Layout,
} from './model-wrapper.js';
export { withInputGradientsOnly, inputGradient, FILTER_GRADIENT_KERNELS } from './input-gradient.js';
export { runAutoAttackSuite, autoAttackSuiteSchema, type AutoAttackSuiteOptions, type AutoAttackSummary } from './auto-attack-suite.js';
