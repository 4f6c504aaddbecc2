/**
 * DualBatchNormalization: a BatchNorm layer with two parameter sets. The main set normalises clean
 * images, the auxiliary set adversarial ones (AdvProp); every other weight of the model is shared.
 * Which set a forward pass uses is the layer's `route`, set for a whole model by core's `withRoute`.
 *
 * The numerics mirror tfjs-layers' BatchNormalization (same ops, same moving-average update), so
 * with route `main` the layer is a drop-in replacement for `tf.layers.batchNormalization`.
 */
import {
  FusedBatchNorm,
  add,
  batchNorm2d,
  batchNorm3d,
  batchNorm4d,
  customGrad,
  dispose,
  engine,
  getBackend,
  getKernel,
  keep,
  moments,
  mul,
  ones,
  reshape,
  relu as reluOp,
  rsqrt,
  serialization,
  sub,
  tidy,
  util,
  zeros,
  type GradSaveFunc,
  type NamedTensorMap,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Tensor4D,
} from '@tensorflow/tfjs-core';
import { InputSpec, layers, type LayerVariable, type Shape } from '@tensorflow/tfjs-layers';
import {
  BATCH_NORM_RELU_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_KERNEL,
  ConfigError,
  MOVING_AVERAGE_KERNEL,
  ROUTABLE,
  ShapeError,
  assertBnRoute,
  registerStockLowering,
  type BnRoute,
  type StockLowering,
} from '@advprop/core';

/** Package name under which the layer class is registered with tfjs serialization. */
export const DUAL_BN_PACKAGE = '@advprop/dual-bn';

/**
 * The arguments of `tf.layers.batchNormalization`, and `activation`: 'relu' applies a ReLU after
 * the normalisation (after adding the second input, when the layer is applied to two tensors
 * `[x, residual]`: a residual block's BN, add and ReLU in one layer). The training pass then runs
 * one fused kernel where the backend has core's BATCH_NORM_RELU_TRAINING_KERNEL.
 */
export type DualBatchNormalizationArgs = NonNullable<Parameters<typeof layers.batchNormalization>[0]> & {
  activation?: BnActivation;
};

/** What a dual BN layer applies after normalising: nothing, or a ReLU. */
export type BnActivation = 'linear' | 'relu';
type Kwargs = Parameters<InstanceType<typeof layers.Layer>['call']>[1];

/** The parsed (object) form of the BN arguments, as tfjs-layers' BatchNormalization holds them. */
interface ParsedBnArgs {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  betaInitializer: unknown;
  gammaInitializer: unknown;
  movingMeanInitializer: unknown;
  movingVarianceInitializer: unknown;
  betaRegularizer: unknown;
  gammaRegularizer: unknown;
  betaConstraint: unknown;
  gammaConstraint: unknown;
}

/** Config keys of BatchNormalization's own `getConfig` (the base Layer keys come from super). */
const BN_CONFIG_KEYS = [
  'axis',
  'momentum',
  'epsilon',
  'center',
  'scale',
  'betaInitializer',
  'gammaInitializer',
  'movingMeanInitializer',
  'movingVarianceInitializer',
  'betaRegularizer',
  'gammaRegularizer',
  'betaConstraint',
  'gammaConstraint',
] as const;

/** One BN parameter set. gamma/beta are null when `scale`/`center` is false. */
export interface BnWeightSet {
  gamma: LayerVariable | null;
  beta: LayerVariable | null;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
}

/** Weight base names of the two sets (the variable is named `<layer name>/<base name>`). */
export const MAIN_WEIGHT_NAMES = {
  gamma: 'gamma',
  beta: 'beta',
  movingMean: 'moving_mean',
  movingVariance: 'moving_variance',
} as const;
export const AUX_WEIGHT_NAMES = {
  gamma: 'aux_gamma',
  beta: 'aux_beta',
  movingMean: 'aux_moving_mean',
  movingVariance: 'aux_moving_variance',
} as const;

let templateCounter = 0;

export class DualBatchNormalization extends layers.Layer {
  /** @nocollapse */
  static className = 'DualBatchNormalization';

  readonly [ROUTABLE] = true as const;
  /** Which BN set the next forward pass uses; set it through `withRoute(model, route, fn)`. */
  route: BnRoute = 'main';

  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly activation: BnActivation;
  /** Parsed initializers / regularizers / constraints, and their serialised form. */
  private readonly parsed: ParsedBnArgs;
  private readonly bnConfig: Record<string, unknown>;

  private mainSet: BnWeightSet | null = null;
  private auxSet: BnWeightSet | null = null;

  constructor(args: DualBatchNormalizationArgs = {}) {
    const { activation = 'linear', ...bnArgs } = args;
    super(bnArgs);
    if (activation !== 'linear' && activation !== 'relu') {
      throw new ConfigError(`DualBatchNormalization "${this.name}": activation must be "linear" or "relu", got ${JSON.stringify(activation)}`, [
        { path: 'activation', message: 'unknown activation' },
      ]);
    }
    this.activation = activation;
    this.supportsMasking = true;
    // Parse the arguments exactly as tfjs-layers does (string identifiers, config dicts or
    // objects) by building an unconnected, never-built BatchNormalization with them. It gets an
    // explicit name so it does not consume a name from tfjs' automatic layer-name counter.
    const template = layers.batchNormalization({
      ...bnArgs,
      name: `advprop_dual_bn_template_${templateCounter++}`,
    }) as unknown as ParsedBnArgs & { getConfig(): Record<string, unknown> };
    this.parsed = template;
    const full = template.getConfig();
    this.bnConfig = Object.fromEntries(BN_CONFIG_KEYS.map((k) => [k, full[k] ?? null]));
    this.axis = template.axis;
    this.momentum = template.momentum;
    this.epsilon = template.epsilon;
    this.center = template.center;
    this.scale = template.scale;
  }

  /** The main (clean) parameter set; throws before the layer is built. */
  get main(): BnWeightSet {
    if (!this.mainSet) throw new ShapeError(`DualBatchNormalization "${this.name}" is not built yet (no input shape seen)`);
    return this.mainSet;
  }

  /** The auxiliary (adversarial) parameter set; throws before the layer is built. */
  get aux(): BnWeightSet {
    if (!this.auxSet) throw new ShapeError(`DualBatchNormalization "${this.name}" is not built yet (no input shape seen)`);
    return this.auxSet;
  }

  /** The parameter set for a route. */
  weightSet(route: BnRoute): BnWeightSet {
    return assertBnRoute(route, `${this.name}.route`) === 'aux' ? this.aux : this.main;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = checkInputShapes(this, inputShape);
    const shape = shapes[0]!;
    const axis = this.axis >= 0 ? this.axis : this.axis + shape.length;
    const dim = shape[axis];
    if (dim == null) {
      throw new ShapeError(
        `DualBatchNormalization "${this.name}": axis ${axis} of the input must have a defined size, got input shape ${JSON.stringify(shape)}`,
      );
    }
    const spec = new InputSpec({ ndim: shape.length, axes: { [axis]: dim } });
    this.inputSpec = shapes.map(() => spec);
    this.mainSet = this.declareSet([dim], MAIN_WEIGHT_NAMES);
    this.auxSet = this.declareSet([dim], AUX_WEIGHT_NAMES);
    this.built = true;
  }

  private declareSet(shape: number[], names: typeof MAIN_WEIGHT_NAMES | typeof AUX_WEIGHT_NAMES): BnWeightSet {
    const p = this.parsed as unknown as Record<string, never>;
    return {
      gamma: this.scale
        ? this.addWeight(names.gamma, shape, undefined, p.gammaInitializer, p.gammaRegularizer, true, p.gammaConstraint)
        : null,
      beta: this.center
        ? this.addWeight(names.beta, shape, undefined, p.betaInitializer, p.betaRegularizer, true, p.betaConstraint)
        : null,
      movingMean: this.addWeight(names.movingMean, shape, undefined, p.movingMeanInitializer, undefined, false),
      movingVariance: this.addWeight(names.movingVariance, shape, undefined, p.movingVarianceInitializer, undefined, false),
    };
  }

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    const route = assertBnRoute(this.route, `layer "${this.name}" route`);
    const training = kwargs['training'] == null ? false : Boolean(kwargs['training']);
    return normalizeLayer(this, route === 'aux' ? this.aux : this.main, inputs, training);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  override getConfig(): serialization.ConfigDict {
    // `activation` only when there is one, so the config of a layer without stays BatchNormalization's.
    return { ...(this.bnConfig as serialization.ConfigDict), ...(this.activation === 'relu' ? { activation: 'relu' } : {}), ...super.getConfig() };
  }
}

serialization.registerClass(DualBatchNormalization, DUAL_BN_PACKAGE);

/**
 * The stock form of a BN layer with a ReLU (toInferenceModel's export): a BatchNormalization of
 * the layer's name (which receives the weights; a dual BN's main set), then, with a ReLU, an Add of
 * the residual when there is one and an Activation, which takes over the layer's consumers.
 */
export const lowerBatchNormToStock: StockLowering = (entry) => {
  const { activation, ...config } = entry.config;
  const name = String(config['name']);
  const bn = { className: 'BatchNormalization', config };
  if (activation !== 'relu') return [bn];
  const common = { trainable: config['trainable'] ?? true, dtype: config['dtype'] ?? 'float32' };
  const relu = { className: 'Activation', config: { ...common, name: `${name}_relu`, activation: 'relu' } };
  const node = entry.inboundNodes?.[0];
  if (!Array.isArray(node) || node.length !== 2) return [bn, relu];
  return [
    { ...bn, inboundNodes: [[node[0]]] },
    { className: 'Add', config: { ...common, name: `${name}_add` }, inboundNodes: [[[name, 0, 0, {}], node[1]]] },
    relu,
  ];
};
registerStockLowering(DualBatchNormalization.className, lowerBatchNormToStock);

/** What `normalizeLayer` reads of a BN layer (DualBatchNormalization, or @advprop/dual-bn's plain BN with a ReLU). */
export interface NormalizingLayer {
  readonly name: string;
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly activation: BnActivation;
  getClassName(): string;
}

/** One input, or two ([x, residual]) with a ReLU: anything else is an error naming the layer. */
function checkInputCount(layer: NormalizingLayer, count: number, what: () => string): void {
  if (count === 1 || (count === 2 && layer.activation === 'relu')) return;
  throw new ShapeError(
    layer.activation === 'relu'
      ? `${layer.getClassName()} "${layer.name}" takes one input or two ([x, residual]), got ${count}: ${what()}`
      : `${layer.getClassName()} "${layer.name}" takes one input (a residual second input needs activation "relu"), got ${count}: ${what()}`,
  );
}

/** The input shapes a BN layer is built for: one, or [x, residual] of one shape. */
export function checkInputShapes(layer: NormalizingLayer, inputShape: Shape | Shape[]): Shape[] {
  const shapes = (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as Shape[];
  checkInputCount(layer, shapes.length, () => shapes.map((s) => JSON.stringify(s)).join(' and '));
  if (shapes.length === 2 && JSON.stringify(shapes[1]) !== JSON.stringify(shapes[0])) {
    throw new ShapeError(`${layer.getClassName()} "${layer.name}": the residual must have the input's shape, got ${JSON.stringify(shapes[0])} and ${JSON.stringify(shapes[1])}`);
  }
  return shapes;
}

/**
 * A BN layer's forward pass over one parameter set: normalise (batch statistics and a
 * moving-average update in training, the moving statistics otherwise), then, with a ReLU, add the
 * residual (the second input, when given) and apply it. The same operations as tfjs-layers'
 * BatchNormalization followed by Add and Activation layers, in as few kernels as the backend
 * offers: core's fused training kernels (with or without the ReLU) and BATCH_NORM_RELU_KERNEL.
 */
export function normalizeLayer(layer: NormalizingLayer, set: BnWeightSet, inputs: Tensor | Tensor[], training: boolean): Tensor {
  return tidy(() => {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    checkInputCount(layer, list.length, () => list.map((t) => `[${t.shape}]`).join(' and '));
    const input = list[0]!;
    const residual = list[1];
    const relu = layer.activation === 'relu';
    // After the normalisation: + residual, then ReLU (the composite paths).
    const finish = (t: Tensor): Tensor => (relu ? reluOp(residual ? add(t, residual) : t) : t);
    const ndim = input.rank;
    const axis = layer.axis >= 0 ? layer.axis : layer.axis + ndim;
    const reductionAxes = [...Array(ndim).keys()].filter((a) => a !== axis);
    const broadcastShape = Array<number>(ndim).fill(1);
    broadcastShape[axis] = input.shape[axis] as number;
    // Parameters of shape [C] broadcast directly when the channel axis is the last one.
    const needsBroadcasting = axis !== ndim - 1;
    const fit = (t: Tensor | null): Tensor | null => (t && needsBroadcasting ? reshape(t, broadcastShape) : t);
    const gamma = set.gamma ? set.gamma.read() : null;
    const beta = set.beta ? set.beta.read() : null;

    const fusable = !needsBroadcasting && input.dtype === 'float32' && (!residual || residual.dtype === 'float32');
    if (!training) {
      const movingMean = set.movingMean.read();
      const movingVariance = set.movingVariance.read();
      if (relu && fusable && getKernel(BATCH_NORM_RELU_KERNEL, getBackend()) !== undefined) {
        // One kernel (and one pass back, for an attack's input gradient) for BN, residual and ReLU.
        const channels = input.shape[axis] as number;
        const kernelInputs: NamedTensorMap = { x: input, mean: movingMean, variance: movingVariance, scale: gamma ?? ones([channels]), offset: beta ?? zeros([channels]) };
        if (residual) kernelInputs['residual'] = residual;
        return engine().runKernel(BATCH_NORM_RELU_KERNEL, kernelInputs, { varianceEpsilon: layer.epsilon }) as Tensor;
      }
      return finish(normalize(input, fit(movingMean)!, fit(movingVariance)!, fit(beta), fit(gamma), layer.epsilon));
    }
    // BN + residual + ReLU in one kernel where the backend has it, else the BN kernel and then the rest.
    const withRelu = fusable && relu ? fusedTrainingNormalize(input, gamma, beta, layer.epsilon, { residual }) : undefined;
    const fused = withRelu ?? (fusable ? fusedTrainingNormalize(input, gamma, beta, layer.epsilon) : undefined);
    const { mean, variance } = fused ?? moments(input, reductionAxes);
    const normalized = fused?.out ?? normalize(input, fit(mean)!, fit(variance)!, fit(beta), fit(gamma), layer.epsilon);
    const out = withRelu ? normalized : finish(normalized);
    // The moving averages of this set. The fused path's statistics are kept (out of its gradient
    // scope) and freed here; tf.moments' ones the tidy frees.
    try {
      updateMovingAverage(set.movingMean, mean, layer.momentum);
      updateMovingAverage(set.movingVariance, variance, layer.momentum);
    } finally {
      if (fused) dispose([mean, variance]);
    }
    return out;
  });
}

/** True when the active backend has @advprop/core's fused training-mode BN kernels (@advprop/native-kernels registers them). */
export function hasFusedTrainingBatchNorm(): boolean {
  const backend = getBackend();
  return getKernel(BATCH_NORM_TRAINING_KERNEL, backend) !== undefined && getKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, backend) !== undefined;
}

/** True when the active backend also has core's BN + residual + ReLU training kernels. */
export function hasFusedTrainingBatchNormRelu(): boolean {
  const backend = getBackend();
  return getKernel(BATCH_NORM_RELU_TRAINING_KERNEL, backend) !== undefined && getKernel(BATCH_NORM_RELU_TRAINING_GRAD_KERNEL, backend) !== undefined;
}

/**
 * Training-mode BN over the last axis in one kernel and its gradient in another (undefined when
 * the backend lacks them): the composite path (moments, batchNorm and their gradients) runs about 30 small
 * kernels per layer and pass. Same numbers as the composite path (biased batch variance).
 * With `relu`, the output is relu(BN(x) + residual) from BATCH_NORM_RELU_TRAINING_KERNEL (undefined
 * without it), bit for bit the BN kernel, Add and Relu one after the other.
 * The batch statistics come back kept (out of every tidy): the caller disposes them.
 */
export function fusedTrainingNormalize(
  x: Tensor,
  gamma: Tensor | null,
  beta: Tensor | null,
  epsilon: number,
  relu?: { residual?: Tensor | undefined },
): { out: Tensor; mean: Tensor; variance: Tensor } | undefined {
  if (relu ? !hasFusedTrainingBatchNormRelu() : !hasFusedTrainingBatchNorm()) return undefined;
  const channels = x.shape[x.rank - 1] as number;
  const scale = gamma ?? ones([channels]);
  const offset = beta ?? zeros([channels]);
  const residual = relu?.residual;
  const [forwardKernel, gradKernel] = relu
    ? [BATCH_NORM_RELU_TRAINING_KERNEL, BATCH_NORM_RELU_TRAINING_GRAD_KERNEL]
    : [BATCH_NORM_TRAINING_KERNEL, BATCH_NORM_TRAINING_GRAD_KERNEL];
  let stats: Tensor[] = [];
  const op = customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const save = args[args.length - 1] as GradSaveFunc;
    const [xIn, scaleIn, offsetIn, residualIn] = args.slice(0, -1) as Tensor[];
    const inputs: NamedTensorMap = { x: xIn!, scale: scaleIn!, offset: offsetIn! };
    if (residualIn) inputs['residual'] = residualIn;
    const [y, mean, variance] = engine().runKernel(forwardKernel, inputs, { varianceEpsilon: epsilon }) as Tensor[];
    // Behind a ReLU the gradient masks dy by the output.
    save(relu ? [xIn!, scaleIn!, mean!, variance!, y!] : [xIn!, scaleIn!, mean!, variance!]);
    // The op's scope would free the statistics; the moving averages need them.
    stats = [keep(mean!), keep(variance!)];
    return {
      value: y!,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [savedX, savedScale, savedMean, savedVariance, savedY] = saved;
        const gradInputs: NamedTensorMap = { dy, x: savedX!, mean: savedMean!, variance: savedVariance!, scale: savedScale! };
        if (savedY) gradInputs['y'] = savedY;
        return engine().runKernel(gradKernel, gradInputs, { varianceEpsilon: epsilon, residual: residual !== undefined }) as Tensor[];
      },
    };
  });
  const out = residual ? op(x, scale, offset, residual) : op(x, scale, offset);
  const [mean, variance] = stats as [Tensor, Tensor];
  return { out, mean, variance };
}

/**
 * tfjs-layers' moving-statistics update, v <- v - (v - batch) * (1 - momentum): one kernel
 * (core's MOVING_AVERAGE_KERNEL, bit for bit the same numbers) where the backend has it, else the
 * three operations. Under a training step's gradient tape the three would save six tensors for a
 * gradient nobody takes; the kernel saves none.
 */
export function updateMovingAverage(variable: LayerVariable, value: Tensor, momentum: number): void {
  const decay = 1 - momentum;
  tidy(() => {
    const average = variable.read();
    const fused =
      average.dtype === 'float32' &&
      value.dtype === 'float32' &&
      util.arraysEqual(average.shape, value.shape) &&
      getKernel(MOVING_AVERAGE_KERNEL, getBackend()) !== undefined;
    variable.write(fused ? (engine().runKernel(MOVING_AVERAGE_KERNEL, { average, value }, { decay }) as Tensor) : sub(average, mul(sub(average, value), decay)));
  });
}

/** True when the active backend has the fused BN kernel (cpu, wasm, webgpu, webgl, tensorflow do). */
export function hasFusedBatchNorm(): boolean {
  return getKernel(FusedBatchNorm, getBackend()) !== undefined;
}

/**
 * (x - mean) / sqrt(variance + epsilon) * gamma + beta. Uses the fused kernel for ranks 2-4 as
 * tfjs-layers does; other ranks, or a backend without the kernel, take the elementwise path.
 */
function normalize(x: Tensor, mean: Tensor, variance: Tensor, beta: Tensor | null, gamma: Tensor | null, epsilon: number): Tensor {
  const b = beta ?? undefined;
  const g = gamma ?? undefined;
  if (x.rank >= 2 && x.rank <= 4 && hasFusedBatchNorm()) {
    type P = Tensor1D;
    if (x.rank === 2) return batchNorm2d(x as Tensor2D, mean as P, variance as P, b as P, g as P, epsilon);
    if (x.rank === 3) return batchNorm3d(x as Tensor3D, mean as P, variance as P, b as P, g as P, epsilon);
    return batchNorm4d(x as Tensor4D, mean as P, variance as P, b as P, g as P, epsilon);
  }
  let out = mul(sub(x, mean), rsqrt(add(variance, epsilon)));
  if (gamma) out = mul(out, gamma);
  if (beta) out = add(out, beta);
  return out;
}

/** Factory mirroring `tf.layers.batchNormalization`. */
export function dualBatchNormalization(args?: DualBatchNormalizationArgs): DualBatchNormalization {
  return new DualBatchNormalization(args);
}

export function isDualBatchNormalization(layer: unknown): layer is DualBatchNormalization {
  if (layer instanceof DualBatchNormalization) return true;
  // A second copy of this package (duplicated install) still counts: same registered class name.
  return (
    typeof layer === 'object' &&
    layer !== null &&
    (layer as { [ROUTABLE]?: unknown })[ROUTABLE] === true &&
    typeof (layer as { getClassName?: unknown }).getClassName === 'function' &&
    (layer as { getClassName(): string }).getClassName() === DualBatchNormalization.className
  );
}

interface LayerTree {
  readonly layers?: readonly unknown[];
}

/** Every DualBatchNormalization of a model, nested models included, in topological order. */
export function dualBnLayers(model: unknown): DualBatchNormalization[] {
  const found: DualBatchNormalization[] = [];
  const seen = new Set<unknown>();
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object' || seen.has(node)) return;
    seen.add(node);
    if (isDualBatchNormalization(node)) found.push(node);
    const children = (node as LayerTree).layers;
    if (Array.isArray(children)) for (const child of children) visit(child);
  };
  visit(model);
  return found;
}
