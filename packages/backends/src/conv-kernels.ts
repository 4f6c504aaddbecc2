/**
 * Training kernels built from a backend's own fast kernels (Conv2D, Transpose, PadV2, Slice,
 * StridedSlice, Multiply, Sum, Concat, Reverse, Reshape), so they run at the speed of that
 * backend's forward convolution instead of a scalar loop:
 *
 * - Conv2DBackpropFilter: the filter gradient is a convolution of the input with the output
 *   gradient once the batch and channel axes are swapped: x -> [Ci, H, W, B] is the "batch",
 *   dy -> [OH, OW, B, Co] the "filter", the forward stride becomes the dilation and the forward
 *   dilation the stride. Output [Ci, KH, KW, Co] -> [KH, KW, Ci, Co]. On wasm the batch goes in
 *   chunks; strided 1x1 filters first gather x at the strided positions (identity 1x1 conv).
 * - Conv2DBackpropInput: a forward Conv2D of the zero-dilated (stride > 1) output gradient with the
 *   spatially flipped, in/out-swapped filter (1x1: a 1x1 conv, then zero-dilation).
 * - DepthwiseConv2dNativeBackpropInput: the same trick as a depthwise convolution with multiplier 1
 *   over C*m channels, then a sum over the multiplier axis.
 * - DepthwiseConv2dNativeBackpropFilter: for each filter tap, a strided slice of the padded input
 *   times dy, summed over batch and space (C*m dot products of length B*OH*OW per tap).
 * - Tile (wasm): block copies on the heap instead of an element-by-element index loop.
 * - Identity (wasm): shared memory with a reference count instead of a copy.
 * - Slice (wasm): one copy per contiguous run of trailing axes instead of per innermost row.
 *
 * Only NHWC is handled; anything else is passed to the kernel that was registered before.
 */
import { backend_util, getKernel, slice_util } from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

type Pair = [number, number];
type ExplicitPad = backend_util.ExplicitPadding;
type PadAttr = 'valid' | 'same' | number | ExplicitPad;

let subKernelProfile: Map<string, { calls: number; ms: number }> | undefined;

/**
 * Start (or stop, with false) accumulating the time spent in the kernels our training kernels call
 * (synchronous backends only: cpu, wasm). Returns the table being filled.
 */
export function profileSubKernels(on = true): Map<string, { calls: number; ms: number }> | undefined {
  subKernelProfile = on ? new Map() : undefined;
  return subKernelProfile;
}

/** Runs kernels of one backend on TensorInfos, tracking intermediates to free. */
class KernelRunner {
  private readonly owned: TensorInfo[] = [];
  constructor(
    readonly backend: KernelBackend,
    readonly backendName: string,
  ) {}

  run(name: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: Record<string, unknown> = {}): TensorInfo {
    const kernel = getKernel(name, this.backendName);
    if (!kernel) throw new Error(`@advprop/backends: the ${this.backendName} backend has no ${name} kernel`);
    const t0 = subKernelProfile ? performance.now() : 0;
    const out = kernel.kernelFunc({ inputs: inputs as never, backend: this.backend, attrs: attrs as NamedAttrMap });
    if (subKernelProfile) {
      const key = `${name}`;
      const e = subKernelProfile.get(key) ?? { calls: 0, ms: 0 };
      e.calls++;
      e.ms += performance.now() - t0;
      subKernelProfile.set(key, e);
    }
    const info = (Array.isArray(out) ? out[0] : out) as TensorInfo;
    this.owned.push(info);
    return info;
  }

  /** Mark a result as the caller's (not freed by `release`). */
  keep(info: TensorInfo): TensorInfo {
    const i = this.owned.lastIndexOf(info);
    if (i >= 0) this.owned.splice(i, 1);
    return info;
  }

  release(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
    this.owned.length = 0;
  }

  /** Track a tensor made directly by the backend (freed by `release`). */
  adopt(info: TensorInfo): TensorInfo {
    this.owned.push(info);
    return info;
  }

  /** A float32 tensor owned by this runner. */
  constant(values: Float32Array, shape: number[]): TensorInfo {
    const info: TensorInfo = { dataId: this.backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
    this.owned.push(info);
    return info;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }
  pad(x: TensorInfo, paddings: Pair[]): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    return this.run('Slice', { x }, { begin, size });
  }
  /** Pads (positive) or crops (negative) each axis at both ends. */
  padOrCrop(x: TensorInfo, paddings: Pair[]): TensorInfo {
    const begin = paddings.map(([a]) => Math.max(0, -a));
    const size = x.shape.map((n, i) => n - begin[i]! - Math.max(0, -paddings[i]![1]));
    if (size.some((s) => s <= 0)) throw new Error(`@advprop/backends: padding ${JSON.stringify(paddings)} empties a tensor of shape [${x.shape}]`);
    const cropped = this.slice(x, begin, size);
    return this.pad(cropped, paddings.map(([a, b]) => [Math.max(0, a), Math.max(0, b)] as Pair));
  }
}

function pair(v: number | readonly number[] | undefined, fallback = 1): Pair {
  if (v === undefined || v === null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  return [v[0] ?? fallback, v[1] ?? v[0] ?? fallback];
}

function isNhwc(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === null || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

/** Pads and shapes of a forward convolution, NHWC, explicit top/left/bottom/right. */
function convGeometry(
  xShape: readonly number[],
  filterShape: readonly number[],
  strides: Pair,
  dilations: Pair,
  pad: PadAttr,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
): backend_util.Conv2DInfo {
  const x4 = xShape as [number, number, number, number];
  const f4 = filterShape as [number, number, number, number];
  return depthwise
    ? backend_util.computeConv2DInfo(x4, f4, strides, dilations, pad, dimRoundingMode, true)
    : backend_util.computeConv2DInfo(x4, f4, strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
}

/**
 * Zero-dilate dy spatially by the stride: [B, OH, OW, C] -> [B, OH*sh, OW*sw, C] with dy at
 * multiples of the stride (the trailing s-1 rows/cols are zeros too; callers crop them).
 */
function zeroDilate(r: KernelRunner, dy: TensorInfo, [sh, sw]: Pair): TensorInfo {
  if (sh === 1 && sw === 1) return dy;
  const [b, oh, ow, c] = dy.shape as [number, number, number, number];
  let t = dy;
  if (sw > 1) {
    t = r.reshape(t, [b * oh, ow, 1, c]);
    t = r.pad(t, [[0, 0], [0, 0], [0, sw - 1], [0, 0]]);
  }
  const wLen = ow * sw;
  if (sh > 1) {
    t = r.reshape(t, [b, oh, 1, wLen * c]);
    t = r.pad(t, [[0, 0], [0, 0], [0, sh - 1], [0, 0]]);
  }
  return r.reshape(t, [b, oh * sh, wLen, c]);
}

/**
 * dx of a (depthwise or ordinary) convolution: correlation of the zero-dilated dy with the flipped
 * filter. `convName` is Conv2D or DepthwiseConv2dNative, `filter` already flipped/swapped.
 */
function backpropInputCore(
  r: KernelRunner,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  convName: 'Conv2D' | 'DepthwiseConv2dNative',
): TensorInfo {
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const kh = info.filterHeight;
  const kw = info.filterWidth;
  const { inHeight: h, inWidth: w } = info;
  const { top, left } = info.padInfo;
  const dyd = zeroDilate(r, dy, [sh, sw]);
  const len = [dyd.shape[1]!, dyd.shape[2]!];
  const before: Pair = [(kh - 1) * dh - top, (kw - 1) * dw - left];
  const after: Pair = [h + (kh - 1) * dh - before[0] - len[0]!, w + (kw - 1) * dw - before[1] - len[1]!];
  // Non-negative pads go to the convolution itself; negative ones crop dy first.
  const crop: Pair[] = [[0, 0], [Math.min(0, before[0]), Math.min(0, after[0])], [Math.min(0, before[1]), Math.min(0, after[1])], [0, 0]];
  const src = crop.some(([a, b]) => a < 0 || b < 0) ? r.padOrCrop(dyd, crop) : dyd;
  const pad: ExplicitPad = [[0, 0], [Math.max(0, before[0]), Math.max(0, after[0])], [Math.max(0, before[1]), Math.max(0, after[1])], [0, 0]];
  return r.run(convName, { x: src, filter }, {
    strides: [1, 1],
    dilations: [dh, dw],
    pad,
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
  });
}

/**
 * x at the positions a strided 1x1 filter reads ([B, OH, OW, C]), gathered by a 1x1 convolution
 * with the identity matrix: the backends' Slice/StridedSlice are slow copies, their conv is not.
 */
function stridedWindow(r: KernelRunner, x: TensorInfo, strides: Pair, pad: PadAttr, dimRoundingMode: unknown): TensorInfo {
  const c = x.shape[3]!;
  const eye = new Float32Array(c * c);
  for (let i = 0; i < c; i++) eye[i * c + i] = 1;
  const identity = r.constant(eye, [1, 1, c, c]);
  return r.run('Conv2D', { x, filter: identity }, { strides, dilations: [1, 1], pad, dataFormat: 'NHWC', dimRoundingMode });
}

/**
 * Batch chunk for the filter gradient: on wasm, keep the per-call dy "filter" near 128K floats
 * (512 KB, the L2 of one core); other backends take the whole batch in one call.
 */
let FILTER_GRAD_CHUNK_FLOATS =
  (typeof process !== 'undefined' && Number(process.env?.ADVPROP_WASM_FILTER_CHUNK_FLOATS)) || 262144;

/** Set the wasm filter-gradient chunk size in floats of dy per call (benchmarks; default 262144). */
export function setWasmFilterGradChunkFloats(floats: number): void {
  if (!(floats >= 1)) throw new RangeError(`chunk size must be >= 1 float, got ${floats}`);
  FILTER_GRAD_CHUNK_FLOATS = floats;
}

function filterGradChunk(backendName: string, batch: number, floatsPerImage: number): number {
  if (backendName !== 'wasm') return batch;
  const chunk = Math.max(1, Math.floor(FILTER_GRAD_CHUNK_FLOATS / Math.max(1, floatsPerImage)));
  if (chunk >= batch) return batch;
  // equal chunks where possible
  const parts = Math.ceil(batch / chunk);
  return Math.ceil(batch / parts);
}

/**
 * Images [start, start+count) of an NHWC tensor (a contiguous range). On wasm a heap copy: its
 * Slice kernel first copies the whole tensor out of the heap.
 */
function batchSlice(r: KernelRunner, t: TensorInfo, start: number, count: number): TensorInfo {
  const backend = r.backend as KernelBackend & {
    makeOutput?: (shape: number[], dtype: string) => TensorInfo;
    typedArrayFromHeap?: (t: TensorInfo) => Float32Array | Int32Array | Uint8Array;
  };
  const shape = [count, ...t.shape.slice(1)];
  if (backend.makeOutput && backend.typedArrayFromHeap && t.dtype !== 'string') {
    const out = r.adopt(backend.makeOutput(shape, t.dtype));
    const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
    const src = backend.typedArrayFromHeap(t);
    backend.typedArrayFromHeap(out).set(src.subarray(start * per, (start + count) * per));
    return out;
  }
  return r.slice(t, [start, ...t.shape.slice(1).map(() => 0)], shape);
}

/** Depthwise filter gradient as one swapped depthwise conv (true) or per-tap slices (false). */
const DEPTHWISE_FILTER_VIA_CONV = !(typeof process !== 'undefined' && process.env?.ADVPROP_DEPTHWISE_FILTER_TAPS === '1');

type Fallback = KernelFunc | undefined;

function fallbackOr(fallback: Fallback, args: Parameters<KernelFunc>[0], why: string): TensorInfo | TensorInfo[] {
  if (!fallback) throw new Error(`@advprop/backends: ${why} and no previous kernel is registered for it`);
  return fallback(args);
}

export function makeConv2DBackpropFilter(backendName: string, fallback: Fallback): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as {
      inputs: { x: TensorInfo; dy: TensorInfo };
      backend: KernelBackend;
      attrs: { strides: number | Pair; pad: PadAttr; dataFormat?: string; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: number[]; dilations?: number | Pair };
    };
    if (!isNhwc(attrs.dataFormat)) return fallbackOr(fallback, args, `Conv2DBackpropFilter with dataFormat ${attrs.dataFormat} is not handled`);
    const { x, dy } = inputs;
    const strides = pair(attrs.strides);
    const dilations = pair(attrs.dilations);
    const info = convGeometry(x.shape, attrs.filterShape, strides, dilations, attrs.pad, attrs.dimRoundingMode, false);
    const r = new KernelRunner(backend, backendName);
    try {
      const [kh, kw, ci, co] = attrs.filterShape as [number, number, number, number];
      const { outHeight: oh, outWidth: ow } = info;
      let { top, left } = info.padInfo;
      let src = x;
      if (kh === 1 && kw === 1 && (strides[0] > 1 || strides[1] > 1)) {
        // 1x1 with stride: gather the positions the filter reads, then it is a stride-1 1x1 conv
        // (a dilated swapped conv would run XNNPACK's slow sparse-kernel path).
        src = stridedWindow(r, x, strides, attrs.pad, attrs.dimRoundingMode);
        strides[0] = strides[1] = 1;
        top = left = 0;
      }
      const [b, h, w] = src.shape as [number, number, number, number];
      // Output rows of the swapped conv must be exactly KH: choose the bottom pad for that.
      const bottom = (kh - 1) * dilations[0] + (oh - 1) * strides[0] + 1 - h - top;
      const right = (kw - 1) * dilations[1] + (ow - 1) * strides[1] + 1 - w - left;
      const pad: ExplicitPad = [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]];
      // The batch is processed in chunks whose dy "filter" (OH*OW*chunk*Co floats, packed by
      // XNNPACK on every call) and the transposed copies stay small (speed: no clear difference in an
      // interleaved A/B on a loaded machine; peak heap: smaller). ADVPROP_WASM_FILTER_CHUNK_FLOATS sets it.
      const chunk = filterGradChunk(backendName, b, oh * ow * co);
      let g: TensorInfo | undefined;
      for (let start = 0; start < b; start += chunk) {
        const n = Math.min(chunk, b - start);
        const xs = n === b ? src : batchSlice(r, src, start, n);
        const ds = n === b ? dy : batchSlice(r, dy, start, n);
        const xt = r.transpose(xs, [3, 1, 2, 0]); // [Ci, H, W, n]
        const dyt = n === 1 ? r.reshape(ds, [oh, ow, 1, co]) : r.transpose(ds, [1, 2, 0, 3]); // [OH, OW, n, Co]
        const part = r.run('Conv2D', { x: xt, filter: dyt }, {
          strides: dilations,
          dilations: strides,
          pad,
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
        }); // [Ci, >=KH, >=KW, Co]
        g = g === undefined ? part : r.run('Add', { a: g, b: part });
      }
      // A negative bottom/right pad (inputs rows the forward conv never reads) leaves extra rows.
      if (g!.shape[1] !== kh || g!.shape[2] !== kw) g = r.slice(g!, [0, 0, 0, 0], [ci, kh, kw, co]);
      const out = ci === 1 ? r.reshape(g!, [kh, kw, 1, co]) : r.transpose(g!, [1, 2, 0, 3]);
      return r.keep(out);
    } finally {
      r.release();
    }
  };
}

export function makeConv2DBackpropInput(backendName: string, fallback: Fallback): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as {
      inputs: { dy: TensorInfo; filter: TensorInfo };
      backend: KernelBackend;
      attrs: { strides: number | Pair; pad: PadAttr; dataFormat?: string; dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: number[]; dilations?: number | Pair };
    };
    if (!isNhwc(attrs.dataFormat)) return fallbackOr(fallback, args, `Conv2DBackpropInput with dataFormat ${attrs.dataFormat} is not handled`);
    const { dy, filter } = inputs;
    const info = convGeometry(attrs.inputShape, filter.shape, pair(attrs.strides), pair(attrs.dilations), attrs.pad, attrs.dimRoundingMode, false);
    const r = new KernelRunner(backend, backendName);
    try {
      const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
      if (kh === 1 && kw === 1) {
        // 1x1: dx at the strided positions = dy . W^T, zeros elsewhere.
        // (as a 1x1 convolution: the backends' BatchMatMul with a transposed operand is slow)
        const wt = ci === 1 || co === 1 ? r.reshape(filter, [1, 1, co, ci]) : r.transpose(filter, [0, 1, 3, 2]);
        const sub = r.run('Conv2D', { x: dy, filter: wt }, { strides: [1, 1], dilations: [1, 1], pad: 'valid', dataFormat: 'NHWC', dimRoundingMode: undefined });
        const dil = zeroDilate(r, sub, [info.strideHeight, info.strideWidth]);
        const { top, left } = info.padInfo;
        const [, h, wd] = attrs.inputShape as [number, number, number, number];
        // dil row i is input row i - top: shift by top/left, then pad or crop to H x W.
        return r.keep(r.padOrCrop(dil, [[0, 0], [-top, h - (dil.shape[1]! - top)], [-left, wd - (dil.shape[2]! - left)], [0, 0]]));
      }
      const flipped = r.run('Reverse', { x: filter }, { dims: [0, 1] });
      const swapped = r.transpose(flipped, [0, 1, 3, 2]); // [KH, KW, Co, Ci]
      return r.keep(backpropInputCore(r, dy, swapped, info, 'Conv2D'));
    } finally {
      r.release();
    }
  };
}

export function makeDepthwiseBackpropInput(backendName: string, fallback: Fallback): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as {
      inputs: { dy: TensorInfo; filter: TensorInfo };
      backend: KernelBackend;
      attrs: { strides: number | Pair; pad: PadAttr; dilations?: number | Pair; dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: number[] };
    };
    void fallback;
    const { dy, filter } = inputs;
    const info = convGeometry(attrs.inputShape, filter.shape, pair(attrs.strides), pair(attrs.dilations), attrs.pad, attrs.dimRoundingMode, true);
    const r = new KernelRunner(backend, backendName);
    try {
      const [kh, kw, c, m] = filter.shape as [number, number, number, number];
      const flipped = kh === 1 && kw === 1 ? filter : r.run('Reverse', { x: filter }, { dims: [0, 1] });
      // A multiplier-1 depthwise conv over the C*m channels of dy, then sum each group of m.
      const f = r.reshape(flipped, [kh, kw, c * m, 1]);
      const full = backpropInputCore(r, dy, f, info, 'DepthwiseConv2dNative'); // [B, H, W, C*m]
      if (m === 1) return r.keep(full);
      const [b, h, w] = full.shape as [number, number, number, number];
      const grouped = r.reshape(full, [b * h * w * c, m]);
      const summed = r.run('Sum', { x: grouped }, { axis: [1], keepDims: false });
      return r.keep(r.reshape(summed, [b, h, w, c]));
    } finally {
      r.release();
    }
  };
}

export function makeDepthwiseBackpropFilter(backendName: string, fallback: Fallback): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as {
      inputs: { x: TensorInfo; dy: TensorInfo };
      backend: KernelBackend;
      attrs: { strides: number | Pair; pad: PadAttr; dilations?: number | Pair; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: number[] };
    };
    void fallback;
    const { x, dy } = inputs;
    const strides = pair(attrs.strides);
    const dilations = pair(attrs.dilations);
    const info = convGeometry(x.shape, attrs.filterShape, strides, dilations, attrs.pad, attrs.dimRoundingMode, true);
    const r = new KernelRunner(backend, backendName);
    try {
      const [kh, kw, c, m] = attrs.filterShape as [number, number, number, number];
      const [b, h, w] = x.shape as [number, number, number, number];
      const { outHeight: oh, outWidth: ow } = info;
      const { top, left } = info.padInfo;
      const oneIsUnit = (strides[0] === 1 && strides[1] === 1) || (dilations[0] === 1 && dilations[1] === 1);
      if (DEPTHWISE_FILTER_VIA_CONV && oneIsUnit) {
        // Batch and channels swapped into one depthwise convolution: input x -> [1, H, W, C*B],
        // filter dy -> [OH, OW, C*B, m] (forward stride as dilation, forward dilation as stride),
        // output [1, >=KH, >=KW, C*B*m], then a sum over B. (tfjs' depthwise kernels take a stride
        // or a dilation, not both: other geometries take the per-tap path below.)
        const bottom = (kh - 1) * dilations[0] + (oh - 1) * strides[0] + 1 - h - top;
        const right = (kw - 1) * dilations[1] + (ow - 1) * strides[1] + 1 - w - left;
        const xt = r.reshape(r.transpose(x, [1, 2, 3, 0]), [1, h, w, c * b]);
        const dy5 = r.reshape(dy, [b, oh, ow, c, m]);
        const dyt = r.reshape(r.transpose(dy5, [1, 2, 3, 0, 4]), [oh, ow, c * b, m]);
        let g = r.run('DepthwiseConv2dNative', { x: xt, filter: dyt }, {
          strides: dilations,
          dilations: strides,
          pad: [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]],
          dimRoundingMode: undefined,
        }); // [1, >=KH, >=KW, C*B*m]
        if (g.shape[1] !== kh || g.shape[2] !== kw) g = r.slice(g, [0, 0, 0, 0], [1, kh, kw, c * b * m]);
        const g5 = r.reshape(g, [kh * kw * c, b, m]);
        const summed = r.run('Sum', { x: g5 }, { axis: [1], keepDims: false });
        return r.keep(r.reshape(summed, [kh, kw, c, m]));
      }
      const needH = (oh - 1) * strides[0] + (kh - 1) * dilations[0] + 1;
      const needW = (ow - 1) * strides[1] + (kw - 1) * dilations[1] + 1;
      const xp = r.padOrCrop(x, [[0, 0], [top, needH - h - top], [left, needW - w - left], [0, 0]]);
      const n = b * oh * ow;
      const dyg = r.reshape(dy, [n, c, m]);
      const taps: TensorInfo[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const r0 = i * dilations[0];
          const c0 = j * dilations[1];
          const patch = r.run('StridedSlice', { x: xp }, {
            begin: [0, r0, c0, 0],
            end: [b, r0 + (oh - 1) * strides[0] + 1, c0 + (ow - 1) * strides[1] + 1, c],
            strides: [1, strides[0], strides[1], 1],
            beginMask: 0,
            endMask: 0,
            ellipsisMask: 0,
            newAxisMask: 0,
            shrinkAxisMask: 0,
          }); // [B, OH, OW, C]
          const p = r.reshape(patch, [n, c, 1]);
          const prod = r.run('Multiply', { a: p, b: dyg }); // [N, C, m]
          taps.push(r.run('Sum', { x: prod }, { axis: [0], keepDims: false })); // [C, m]
        }
      }
      const stacked = taps.length === 1 ? taps[0]! : r.run('Concat', taps, { axis: 0 }); // [KH*KW*C, m]
      return r.keep(r.reshape(stacked, [kh, kw, c, m]));
    } finally {
      r.release();
    }
  };
}

/**
 * Tile by block copies (`copyWithin` doubling) on the backend's own memory. The wasm backend's Tile
 * is an element-by-element index loop (~130 ms for the [1,1,1,C] -> [128,32,32,C] tiles of
 * tfjs-core's batch-norm gradient); this is a handful of memcpy's.
 */
export function makeTile(backendName: string, fallback: Fallback): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as {
      inputs: { x: TensorInfo };
      backend: KernelBackend & {
        makeOutput?: (shape: number[], dtype: string) => TensorInfo;
        typedArrayFromHeap?: (t: TensorInfo) => Float32Array | Int32Array | Uint8Array;
      };
      attrs: { reps: number[] };
    };
    const { x } = inputs;
    const reps = attrs.reps;
    if (x.dtype === 'string' || !backend.makeOutput || !backend.typedArrayFromHeap || reps.length !== x.shape.length) {
      return fallbackOr(fallback, args, `Tile of ${x.dtype} on ${backendName} is not handled`);
    }
    const shape = x.shape;
    const outShape = shape.map((n, i) => n * reps[i]!);
    const out = backend.makeOutput(outShape, x.dtype);
    // Views after the allocation (it may grow the heap and detach older views).
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    if (dst.length === 0) return out;
    tileInto(src, shape, reps, dst);
    return out;
  };
}

function tileInto(src: Float32Array | Int32Array | Uint8Array, shape: readonly number[], reps: readonly number[], dst: Float32Array | Int32Array | Uint8Array): void {
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[0]!;
    return;
  }
  const srcStride = new Array<number>(rank).fill(1);
  const dstStride = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) {
    srcStride[a] = srcStride[a + 1]! * shape[a + 1]!;
    dstStride[a] = dstStride[a + 1]! * shape[a + 1]! * reps[a + 1]!;
  }
  const replicate = (start: number, len: number, times: number): void => {
    // [start, start+len) holds one copy; fill times-1 more after it, doubling.
    let have = 1;
    while (have < times) {
      const n = Math.min(have, times - have);
      dst.copyWithin(start + have * len, start, start + n * len);
      have += n;
    }
  };
  const rec = (axis: number, s: number, d: number): void => {
    const n = shape[axis]!;
    if (axis === rank - 1) {
      dst.set(src.subarray(s, s + n), d);
    } else {
      for (let i = 0; i < n; i++) rec(axis + 1, s + i * srcStride[axis]!, d + i * dstStride[axis]!);
    }
    if (reps[axis]! > 1) replicate(d, n * dstStride[axis]!, reps[axis]!);
  };
  rec(0, 0, 0);
}

type HeapBackend = KernelBackend & {
  makeOutput?: (shape: number[], dtype: string) => TensorInfo;
  typedArrayFromHeap?: (t: TensorInfo) => Float32Array | Int32Array | Uint8Array;
  incRef?: (dataId: object) => void;
};

/**
 * Identity (wasm): shares the input's memory with a reference count, as the cpu and webgl
 * backends do, instead of copying it. tfjs calls Identity for every tensor a gradient saves
 * (tf.clone), about 1200 full-size copies per AdvProp step of ResNet-20.
 */
export function makeIdentity(backendName: string, fallback: Fallback): KernelFunc {
  return (args) => {
    const { inputs, backend } = args as unknown as { inputs: { x: TensorInfo }; backend: HeapBackend };
    const { x } = inputs;
    if (x.dtype === 'string' || !backend.incRef) return fallbackOr(fallback, args, `Identity of ${x.dtype} on ${backendName} is not handled`);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/**
 * Cast (wasm) to the dtype the tensor already has: shares its memory like Identity, as the cpu
 * backend does, instead of copying it. tfjs-core's ReLU gradient casts step(x) to float32 once
 * per ReLU, a full-size copy each. Casts that change the dtype go to the backend's kernel.
 */
export function makeCast(backendName: string, fallback: Fallback): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { x: TensorInfo }; backend: HeapBackend; attrs: { dtype: string } };
    const { x } = inputs;
    if (x.dtype !== attrs.dtype || x.dtype === 'string' || x.dtype === 'complex64' || !backend.incRef) {
      return fallbackOr(fallback, args, `Cast of ${x.dtype} to ${attrs.dtype} on ${backendName} is not handled`);
    }
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/**
 * Slice (wasm): copies the longest contiguous runs it can (trailing axes taken whole merge into
 * one run) instead of one run per innermost row. The gradient of a zero-padding layer slices a
 * [B, H+2, W+2, C] tensor: B*H runs of W*C values here against B*H*W runs of C.
 */
export function makeSlice(backendName: string, fallback: Fallback): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as {
      inputs: { x: TensorInfo };
      backend: HeapBackend;
      attrs: { begin: number | number[]; size: number | number[] };
    };
    const { x } = inputs;
    if (x.dtype === 'string' || !backend.makeOutput || !backend.typedArrayFromHeap) {
      return fallbackOr(fallback, args, `Slice of ${x.dtype} on ${backendName} is not handled`);
    }
    const rank = x.shape.length;
    const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin, attrs.size) as [number[], number[]];
    slice_util.assertParamsValid(x as never, begin, size);
    const out = backend.makeOutput(size, x.dtype);
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    if (dst.length === 0) return out;
    // Merge trailing axes that are taken whole into one contiguous run.
    let run = 1;
    let axis = rank - 1;
    while (axis >= 0 && begin[axis] === 0 && size[axis] === x.shape[axis]) run *= x.shape[axis--]!;
    if (axis < 0) {
      dst.set(src.subarray(0, run));
      return out;
    }
    run *= size[axis]!;
    const strides = new Array<number>(rank).fill(1);
    for (let a = rank - 2; a >= 0; a--) strides[a] = strides[a + 1]! * x.shape[a + 1]!;
    // Iterate over the outer axes [0, axis) of the output.
    const outer = size.slice(0, axis);
    const count = outer.reduce((p, n) => p * n, 1);
    const index = new Array<number>(axis).fill(0);
    let base = begin[axis]! * strides[axis]!;
    for (let a = 0; a < axis; a++) base += begin[a]! * strides[a]!;
    let offset = base;
    for (let i = 0, o = 0; i < count; i++, o += run) {
      dst.set(src.subarray(offset, offset + run), o);
      // advance the outer index (last outer axis fastest)
      for (let a = axis - 1; a >= 0; a--) {
        offset += strides[a]!;
        if (++index[a]! < outer[a]!) break;
        index[a] = 0;
        offset -= strides[a]! * outer[a]!;
      }
    }
    return out;
  };
}
