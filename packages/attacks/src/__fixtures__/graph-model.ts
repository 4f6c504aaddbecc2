/**
 * A real GraphModel fixture: a small conv net written as a TensorFlow GraphDef (model.json, in the
 * format tfjs-converter emits) plus its weights file, saved to a directory and loaded back with
 * tfjs-converter's `loadGraphModel`. The conv is a `_FusedConv2D` (BiasAdd fused), as converted
 * Keras/TF models have. The same network as a plain `(x) => logits` function serves as reference.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { SeededRandom } from '@advprop/core';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });

export interface GraphFixture {
  readonly dir: string;
  /** The same network as tf ops (NHWC input). */
  readonly reference: (x: tf.Tensor) => tf.Tensor;
  load(): Promise<GraphModel>;
  dispose(): void;
}

/**
 * Write model.json + weights.bin for conv(3x3, 4) + bias -> relu -> flatten -> dense(k) on
 * 8x8x1 images, with the input in `layout` (an NCHW graph transposes to NHWC first).
 */
export async function writeGraphModel(layout: 'nhwc' | 'nchw', k = 5, seed = 7): Promise<GraphFixture> {
  const random = new SeededRandom(seed);
  const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => random.normal() * scale);
  const kernel = values(3 * 3 * 1 * 4, 0.5);
  const bias = values(4, 0.1);
  const dense = values(144 * k, 0.2);
  const denseBias = values(k, 0.1);
  const flatShape = Int32Array.from([-1, 144]);
  const perm = Int32Array.from([0, 2, 3, 1]);
  const constant = (name: string, shape: number[], dtype: 'DT_FLOAT' | 'DT_INT32') => ({
    name,
    op: 'Const',
    attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
  });
  const input = layout === 'nhwc' ? 'x' : 'to_nhwc';
  const nodes = [
    { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims(layout === 'nhwc' ? [-1, 8, 8, 1] : [-1, 1, 8, 8]) } } },
    ...(layout === 'nchw' ? [constant('perm', [4], 'DT_INT32'), { name: 'to_nhwc', op: 'Transpose', input: ['x', 'perm'], attr: { T: { type: 'DT_FLOAT' }, Tperm: { type: 'DT_INT32' } } }] : []),
    constant('conv/kernel', [3, 3, 1, 4], 'DT_FLOAT'),
    constant('conv/bias', [4], 'DT_FLOAT'),
    {
      name: 'conv',
      op: '_FusedConv2D',
      input: [input, 'conv/kernel', 'conv/bias'],
      attr: {
        T: { type: 'DT_FLOAT' },
        num_args: { i: '1' },
        strides: { list: { i: ['1', '1', '1', '1'] } },
        padding: { s: b64('VALID') },
        data_format: { s: b64('NHWC') },
        dilations: { list: { i: ['1', '1', '1', '1'] } },
        fused_ops: { list: { s: [b64('BiasAdd')] } },
        epsilon: { f: 0 },
      },
    },
    { name: 'relu', op: 'Relu', input: ['conv'], attr: { T: { type: 'DT_FLOAT' } } },
    constant('flat_shape', [2], 'DT_INT32'),
    { name: 'flat', op: 'Reshape', input: ['relu', 'flat_shape'], attr: { T: { type: 'DT_FLOAT' } } },
    constant('dense/kernel', [144, k], 'DT_FLOAT'),
    constant('dense/bias', [k], 'DT_FLOAT'),
    { name: 'dense', op: 'MatMul', input: ['flat', 'dense/kernel'], attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'logits', op: 'BiasAdd', input: ['dense', 'dense/bias'], attr: { T: { type: 'DT_FLOAT' }, data_format: { s: b64('NHWC') } } },
  ];
  const weights: { name: string; shape: number[]; dtype: 'float32' | 'int32'; data: Float32Array | Int32Array }[] = [
    ...(layout === 'nchw' ? [{ name: 'perm', shape: [4], dtype: 'int32' as const, data: perm }] : []),
    { name: 'conv/kernel', shape: [3, 3, 1, 4], dtype: 'float32', data: kernel },
    { name: 'conv/bias', shape: [4], dtype: 'float32', data: bias },
    { name: 'flat_shape', shape: [2], dtype: 'int32', data: flatShape },
    { name: 'dense/kernel', shape: [144, k], dtype: 'float32', data: dense },
    { name: 'dense/bias', shape: [k], dtype: 'float32', data: denseBias },
  ];
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'advprop test fixture',
    convertedBy: 'hand-written GraphDef',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: ['weights.bin'], weights: weights.map(({ name, shape, dtype }) => ({ name, shape, dtype })) }],
  };
  const dir = await mkdtemp(join(tmpdir(), `advprop-graph-${layout}-`));
  await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
  await writeFile(join(dir, 'weights.bin'), Buffer.concat(weights.map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength))));

  const tensors = {
    kernel: tf.tensor4d(kernel, [3, 3, 1, 4]),
    bias: tf.tensor1d(bias),
    dense: tf.tensor2d(dense, [144, k]),
    denseBias: tf.tensor1d(denseBias),
  };
  const reference = (x: tf.Tensor) =>
    tf.tidy(() => {
      const h = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, tensors.kernel, 1, 'valid'), tensors.bias));
      return tf.add(tf.matMul(tf.reshape(h, [x.shape[0] as number, 144]), tensors.dense), tensors.denseBias);
    });
  return {
    dir,
    reference,
    // tfjs-converter reads model.json and the weights through a file IOHandler (no tfjs-node here)
    load: () =>
      loadGraphModel({
        load: async () => {
          const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
          return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
            const specs = manifest.flatMap((group) => group.weights);
            const buffers = await Promise.all(manifest.flatMap((group) => group.paths.map((p) => readFile(join(dir, p)))));
            const data = Buffer.concat(buffers);
            return [specs, data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)];
          });
        },
      }),
    dispose: () => tf.dispose(Object.values(tensors)),
  };
}
