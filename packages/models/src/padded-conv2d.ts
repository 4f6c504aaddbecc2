/**
 * A 2-D convolution that pads its input itself, by the same number of pixels on every side
 * (PyTorch's `Conv2d(padding=p)`), in the convolution kernel's own call.
 *
 * tfjs-layers' Conv2D pads only 'same' (asymmetric for strided convolutions: TF's rule puts the
 * extra pixel at the bottom and right) or 'valid'. The CIFAR ResNets need PyTorch's sampling grid
 * for their strided 3x3 convolutions; a ZeroPadding2D layer in front gave it, at the cost of a
 * padded copy of the activations in the forward pass and a slice of the gradient in the backward
 * pass (13 ms of the ResNet-20 AdvProp step on two threads, docs/performance.md). Same numbers:
 * the padded pixels are zeros either way.
 *
 * Everything else (weights, initialisers, regularisers, constraints, bias, activation) is
 * tfjs-layers' Conv2D: the layer extends it and changes only the call and the output shape. Its
 * stock form, for exports that load without our packages, is the ZeroPadding2D + 'valid' Conv2D
 * pair it replaces (`registerStockLowering`, used by @advprop/dual-bn's `toInferenceModel`).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, registerStockLowering } from '@advprop/core';

/** tf.layers.conv2d's arguments, plus the padding in pixels on every side. */
export type PaddedConv2DArgs = Omit<NonNullable<Parameters<typeof tfl.layers.conv2d>[0]>, 'padding'> & {
  /** Zeros added on each side of the height and width before convolving (PyTorch's `padding`). */
  readonly explicitPadding: number;
};

/** The fields of tfjs-layers' Conv2D this layer reads (protected in its typings). */
interface Conv2DInternals {
  readonly kernel: tfl.LayerVariable;
  readonly bias: tfl.LayerVariable | null;
  readonly strides: number[];
  readonly dilationRate: number | number[];
  readonly kernelSize: number[];
  readonly filters: number;
  readonly dataFormat: string;
  readonly activation: { getClassName(): string; apply(x: tf.Tensor): tf.Tensor };
}

type Conv2DLayer = tfl.layers.Layer & Conv2DInternals;

const Conv2DClass = tfl.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as unknown as {
  new (args: NonNullable<Parameters<typeof tfl.layers.conv2d>[0]>): Conv2DLayer;
  fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T;
};

/** Activations tfjs' fused convolution applies in the same kernel (tfjs-layers fuses the same ones). */
const FUSED_ACTIVATIONS: Readonly<Record<string, 'linear' | 'relu' | 'elu'>> = { linear: 'linear', relu: 'relu', elu: 'elu' };

export class PaddedConv2D extends Conv2DClass {
  /** @nocollapse */
  static className = 'AdvpropPaddedConv2D';
  readonly explicitPadding: number;

  constructor(args: PaddedConv2DArgs) {
    const { explicitPadding, ...conv } = args;
    if (!Number.isInteger(explicitPadding) || explicitPadding < 0) {
      throw new ConfigError(`PaddedConv2D${conv.name ? ` "${conv.name}"` : ''}: explicitPadding must be a non-negative integer, got ${String(explicitPadding)}`);
    }
    if (conv.dataFormat === 'channelsFirst') {
      throw new ConfigError(`PaddedConv2D${conv.name ? ` "${conv.name}"` : ''}: only channelsLast (NHWC) inputs are supported`);
    }
    super({ ...conv, padding: 'valid' });
    this.explicitPadding = explicitPadding;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const name = this.activation.getClassName();
      const fused = FUSED_ACTIVATIONS[name];
      const y = tf.fused.conv2d({
        x,
        filter: this.kernel.read() as tf.Tensor4D,
        strides: this.strides as [number, number],
        pad: this.explicitPadding,
        dilations: this.dilationRate as number | [number, number],
        dataFormat: 'NHWC',
        bias: this.bias ? this.bias.read() : undefined,
        activation: fused ?? 'linear',
      });
      return fused ? y : this.activation.apply(y);
    });
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const dilations = typeof this.dilationRate === 'number' ? [this.dilationRate, this.dilationRate] : this.dilationRate;
    const spatial = [1, 2].map((axis, i) => {
      const size = shape[axis];
      if (size == null) return null;
      const span = ((this.kernelSize[i] as number) - 1) * (dilations[i] as number) + 1;
      return Math.floor((size + 2 * this.explicitPadding - span) / (this.strides[i] as number)) + 1;
    });
    return [shape[0] ?? null, ...spatial, this.filters];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), explicitPadding: this.explicitPadding };
  }
}
tf.serialization.registerClass(PaddedConv2D);

registerStockLowering(PaddedConv2D.className, (entry) => {
  const { explicitPadding, ...conv } = entry.config;
  const p = explicitPadding as number;
  const name = String(conv['name']);
  return [
    {
      className: 'ZeroPadding2D',
      config: { name: `${name}_pad`, trainable: conv['trainable'], dtype: conv['dtype'], padding: [[p, p], [p, p]], dataFormat: 'channelsLast' },
    },
    { className: 'Conv2D', config: { ...conv, padding: 'valid' } },
  ];
});
