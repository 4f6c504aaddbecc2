/**
 * Common corruptions in the spirit of ImageNet-C / CIFAR-10-C (Hendrycks & Dietterich, 2019) and
 * MNIST-C, at severities 1-5 (0 is the identity), on float32 NHWC images in [0, 1]. The parameters
 * follow CIFAR-10-C (the small-image version) where it has the corruption, scaled for 28-32 px
 * images otherwise; every severity ladder is monotone (a higher severity moves images further from
 * the clean ones). Outputs are clipped to [0, 1]. All randomness comes from the given SeededRandom.
 */
import { ConfigError, SeededRandom, ShapeError } from '@advprop/core';

export const CORRUPTIONS = [
  'gaussian-noise',
  'shot-noise',
  'impulse-noise',
  'speckle-noise',
  'defocus-blur',
  'motion-blur',
  'gaussian-blur',
  'brightness',
  'contrast',
  'pixelate',
  'jpeg',
  'fog',
] as const;
export type CorruptionType = (typeof CORRUPTIONS)[number];

/** The parameter of each severity 1..5, as documented in the README. */
export const CORRUPTION_PARAMETERS: Readonly<Record<CorruptionType, { readonly parameter: string; readonly values: readonly number[] }>> = {
  'gaussian-noise': { parameter: 'noise standard deviation', values: [0.04, 0.06, 0.08, 0.09, 0.1] },
  'shot-noise': { parameter: 'photons per unit intensity (Poisson rate; lower is noisier)', values: [500, 250, 100, 75, 50] },
  'impulse-noise': { parameter: 'fraction of values set to 0 or 1 (salt and pepper)', values: [0.01, 0.02, 0.03, 0.05, 0.07] },
  'speckle-noise': { parameter: 'multiplicative noise standard deviation', values: [0.06, 0.1, 0.12, 0.16, 0.2] },
  'defocus-blur': { parameter: 'disk kernel radius (px)', values: [0.75, 1, 1.5, 2, 2.5] },
  'motion-blur': { parameter: 'one-sided Gaussian trail sigma (px), random angle in [-45, 45] degrees', values: [1, 1.5, 2, 2.5, 3] },
  'gaussian-blur': { parameter: 'Gaussian sigma (px)', values: [0.4, 0.6, 0.7, 0.8, 1] },
  brightness: { parameter: 'added to the HSV value channel', values: [0.05, 0.1, 0.15, 0.2, 0.3] },
  contrast: { parameter: 'contrast factor around the image mean (lower is stronger)', values: [0.75, 0.5, 0.4, 0.3, 0.15] },
  pixelate: { parameter: 'downscale factor before nearest upscaling (chosen for 28-32 px images)', values: [0.6, 0.5, 0.4, 0.3, 0.25] },
  jpeg: { parameter: 'JPEG quality of the 8x8 DCT quantisation tables (lower is stronger)', values: [80, 65, 50, 35, 20] },
  fog: { parameter: 'fog strength (plasma fractal amplitude); wibble decay 3, 3, 2.5, 2, 1.75', values: [0.2, 0.5, 0.75, 1, 1.5] },
};
const FOG_DECAY = [3, 3, 2.5, 2, 1.75];

export interface CorruptOptions {
  readonly type: CorruptionType;
  /** 0 (identity) to 5. */
  readonly severity: number;
  readonly random?: SeededRandom;
}

type Img = { data: Float32Array; h: number; w: number; c: number };

const clip01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

function checkOptions(options: CorruptOptions): void {
  if (!(CORRUPTIONS as readonly string[]).includes(options.type)) {
    throw new ConfigError(`unknown corruption "${String(options.type)}"; available: ${CORRUPTIONS.join(', ')}`, [
      { path: 'type', message: 'unknown corruption' },
    ]);
  }
  if (!Number.isInteger(options.severity) || options.severity < 0 || options.severity > 5) {
    throw new ConfigError(`corruption severity must be an integer 0-5, got ${options.severity}`, [
      { path: 'severity', message: 'must be an integer 0-5' },
    ]);
  }
}

/**
 * Corrupt a batch of images. `shape` is [n, h, w, c] or [h, w, c] (one image). Returns a new array;
 * the input is not modified. Images are corrupted one after another from the same random stream.
 */
export function corrupt(images: Float32Array, shape: readonly number[], options: CorruptOptions): Float32Array {
  checkOptions(options);
  const dims = shape.length === 3 ? [1, ...shape] : [...shape];
  if (dims.length !== 4 || dims.some((d) => !Number.isInteger(d) || (d as number) < 0)) {
    throw new ShapeError(`corrupt: shape must be [n, h, w, c] or [h, w, c], got [${shape.join(', ')}]`);
  }
  const [n, h, w, c] = dims as [number, number, number, number];
  const size = h * w * c;
  if (images.length !== n * size) {
    throw new ShapeError(`corrupt: ${images.length} values do not match shape [${dims.join(', ')}] (${n * size} values)`);
  }
  const out = new Float32Array(images);
  if (options.severity === 0) return out;
  const random = options.random ?? new SeededRandom(0);
  for (let i = 0; i < n; i++) {
    const data = out.subarray(i * size, (i + 1) * size);
    corruptOne({ data, h, w, c }, options.type, options.severity, random);
  }
  return out;
}

function corruptOne(img: Img, type: CorruptionType, severity: number, random: SeededRandom): void {
  const p = CORRUPTION_PARAMETERS[type].values[severity - 1] as number;
  const d = img.data;
  switch (type) {
    case 'gaussian-noise':
      for (let i = 0; i < d.length; i++) d[i] = clip01((d[i] as number) + p * random.normal());
      return;
    case 'speckle-noise':
      for (let i = 0; i < d.length; i++) {
        const v = d[i] as number;
        d[i] = clip01(v + v * p * random.normal());
      }
      return;
    case 'shot-noise':
      for (let i = 0; i < d.length; i++) d[i] = clip01(poisson((d[i] as number) * p, random) / p);
      return;
    case 'impulse-noise':
      for (let i = 0; i < d.length; i++) {
        const u = random.float();
        const salt = random.float() < 0.5;
        if (u < p) d[i] = salt ? 1 : 0;
      }
      return;
    case 'defocus-blur':
      convolve(img, diskKernel(p));
      return;
    case 'gaussian-blur':
      gaussianBlur(img, p);
      return;
    case 'motion-blur':
      motionBlur(img, p, random.uniform(-Math.PI / 4, Math.PI / 4));
      return;
    case 'brightness':
      brightness(img, p);
      return;
    case 'contrast': {
      let mean = 0;
      for (let i = 0; i < d.length; i++) mean += d[i] as number;
      mean /= d.length;
      for (let i = 0; i < d.length; i++) d[i] = clip01(((d[i] as number) - mean) * p + mean);
      return;
    }
    case 'pixelate':
      pixelate(img, p);
      return;
    case 'jpeg':
      jpeg(img, p);
      return;
    case 'fog':
      fog(img, p, FOG_DECAY[severity - 1] as number, random);
      return;
  }
}

/** Poisson sample: Knuth's method for small rates, a rounded normal approximation above 30. */
function poisson(lambda: number, random: SeededRandom): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * random.normal()));
  const limit = Math.exp(-lambda);
  let k = 0;
  let prod = random.float();
  while (prod > limit) {
    k++;
    prod *= random.float();
  }
  return k;
}

interface Kernel {
  readonly size: number;
  readonly weights: Float32Array;
}

/** Anti-aliased disk of the given radius, normalised. */
function diskKernel(radius: number): Kernel {
  const r = Math.ceil(radius + 0.5);
  const size = 2 * r + 1;
  const weights = new Float32Array(size * size);
  let sum = 0;
  for (let y = -r; y <= r; y++) {
    for (let x = -r; x <= r; x++) {
      const v = clip01(radius + 0.5 - Math.hypot(x, y));
      weights[(y + r) * size + (x + r)] = v;
      sum += v;
    }
  }
  for (let i = 0; i < weights.length; i++) weights[i] = (weights[i] as number) / sum;
  return { size, weights };
}

/** Separable Gaussian blur with edge replication. */
function gaussianBlur(img: Img, sigma: number): void {
  const { data, h, w, c } = img;
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] = (k[i] as number) / sum;
  const tmp = new Float64Array(data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) acc += (k[i + r] as number) * (data[(y * w + Math.min(w - 1, Math.max(0, x + i))) * c + ch] as number);
        tmp[(y * w + x) * c + ch] = acc;
      }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) acc += (k[i + r] as number) * (tmp[(Math.min(h - 1, Math.max(0, y + i)) * w + x) * c + ch] as number);
        data[(y * w + x) * c + ch] = clip01(acc);
      }
}

/** 2-D convolution per channel with edge replication. */
function convolve(img: Img, kernel: Kernel): void {
  const { data, h, w, c } = img;
  const src = data.slice();
  const r = (kernel.size - 1) / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let ky = -r; ky <= r; ky++) {
          const yy = Math.min(h - 1, Math.max(0, y + ky));
          for (let kx = -r; kx <= r; kx++) {
            const wgt = kernel.weights[(ky + r) * kernel.size + (kx + r)] as number;
            if (wgt === 0) continue;
            const xx = Math.min(w - 1, Math.max(0, x + kx));
            acc += wgt * (src[(yy * w + xx) * c + ch] as number);
          }
        }
        data[(y * w + x) * c + ch] = clip01(acc);
      }
    }
  }
}

/** A one-sided trail: the image averaged with copies shifted along `angle`, Gaussian-weighted (bilinear shifts). */
function motionBlur(img: Img, sigma: number, angle: number): void {
  const { data, h, w, c } = img;
  const src = data.slice();
  const steps = Math.ceil(3 * sigma);
  // Each fractional shift becomes four integer shifts with bilinear weights.
  const taps = new Map<string, { oy: number; ox: number; wgt: number }>();
  let sum = 0;
  for (let t = 0; t <= steps; t++) {
    const wgt = Math.exp(-(t * t) / (2 * sigma * sigma));
    sum += wgt;
    const dy = t * Math.sin(angle);
    const dx = t * Math.cos(angle);
    const y0 = Math.floor(dy);
    const x0 = Math.floor(dx);
    const fy = dy - y0;
    const fx = dx - x0;
    for (const [oy, ox, f] of [
      [y0, x0, (1 - fy) * (1 - fx)],
      [y0 + 1, x0, fy * (1 - fx)],
      [y0, x0 + 1, (1 - fy) * fx],
      [y0 + 1, x0 + 1, fy * fx],
    ] as const) {
      if (f === 0) continue;
      const key = `${oy},${ox}`;
      const tap = taps.get(key);
      if (tap) tap.wgt += wgt * f;
      else taps.set(key, { oy, ox, wgt: wgt * f });
    }
  }
  const acc = new Float64Array(data.length);
  for (const { oy, ox, wgt } of taps.values()) {
    const k = wgt / sum;
    for (let y = 0; y < h; y++) {
      const yy = Math.min(h - 1, Math.max(0, y - oy));
      for (let x = 0; x < w; x++) {
        const xx = Math.min(w - 1, Math.max(0, x - ox));
        const o = (y * w + x) * c;
        const so = (yy * w + xx) * c;
        for (let ch = 0; ch < c; ch++) acc[o + ch] = (acc[o + ch] as number) + k * (src[so + ch] as number);
      }
    }
  }
  for (let i = 0; i < data.length; i++) data[i] = clip01(acc[i] as number);
}

/** Add to the HSV value channel (hue and saturation kept); for grayscale, add to the intensity. */
function brightness(img: Img, amount: number): void {
  const { data, c } = img;
  if (c !== 3) {
    for (let i = 0; i < data.length; i++) data[i] = clip01((data[i] as number) + amount);
    return;
  }
  for (let i = 0; i < data.length; i += 3) {
    const r = data[i] as number;
    const g = data[i + 1] as number;
    const b = data[i + 2] as number;
    const v = Math.max(r, g, b);
    const nv = Math.min(1, v + amount);
    if (v <= 0) {
      data[i] = data[i + 1] = data[i + 2] = nv;
    } else {
      const k = nv / v;
      data[i] = clip01(r * k);
      data[i + 1] = clip01(g * k);
      data[i + 2] = clip01(b * k);
    }
  }
}

/** Area-average downscale by `factor`, then nearest-neighbour upscale back. */
function pixelate(img: Img, factor: number): void {
  const { data, h, w, c } = img;
  const sh = Math.max(1, Math.round(h * factor));
  const sw = Math.max(1, Math.round(w * factor));
  const small = new Float32Array(sh * sw * c);
  const sy = h / sh;
  const sx = w / sw;
  for (let y = 0; y < sh; y++) {
    const y0 = y * sy;
    const y1 = (y + 1) * sy;
    for (let x = 0; x < sw; x++) {
      const x0 = x * sx;
      const x1 = (x + 1) * sx;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        let area = 0;
        for (let yy = Math.floor(y0); yy < Math.ceil(y1); yy++) {
          const wy = Math.min(y1, yy + 1) - Math.max(y0, yy);
          for (let xx = Math.floor(x0); xx < Math.ceil(x1); xx++) {
            const wx = Math.min(x1, xx + 1) - Math.max(x0, xx);
            acc += wy * wx * (data[(yy * w + xx) * c + ch] as number);
            area += wy * wx;
          }
        }
        small[(y * sw + x) * c + ch] = acc / area;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    const yy = Math.min(sh - 1, Math.floor((y + 0.5) / sy));
    for (let x = 0; x < w; x++) {
      const xx = Math.min(sw - 1, Math.floor((x + 0.5) / sx));
      for (let ch = 0; ch < c; ch++) data[(y * w + x) * c + ch] = small[(yy * sw + xx) * c + ch] as number;
    }
  }
}

// JPEG (ITU T.81 Annex K) quantisation tables.
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22,
  37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];
const COS = new Float64Array(64);
for (let x = 0; x < 8; x++) for (let u = 0; u < 8; u++) COS[x * 8 + u] = Math.cos(((2 * x + 1) * u * Math.PI) / 16);
const alpha = (u: number) => (u === 0 ? Math.SQRT1_2 : 1);

function scaledTable(base: readonly number[], quality: number): Float64Array {
  const scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  return Float64Array.from(base, (q) => Math.min(255, Math.max(1, Math.floor((q * scale + 50) / 100))));
}

/** Lossy 8x8 DCT quantisation of one plane (values 0..255, edge-replicated to whole blocks). */
function jpegPlane(plane: Float64Array, h: number, w: number, table: Float64Array): void {
  const block = new Float64Array(64);
  const coef = new Float64Array(64);
  const tmp = new Float64Array(64);
  for (let by = 0; by < h; by += 8) {
    for (let bx = 0; bx < w; bx += 8) {
      for (let y = 0; y < 8; y++) {
        for (let x = 0; x < 8; x++) {
          block[y * 8 + x] = (plane[Math.min(h - 1, by + y) * w + Math.min(w - 1, bx + x)] as number) - 128;
        }
      }
      // Separable 2-D DCT-II: rows, then columns.
      for (let y = 0; y < 8; y++) {
        for (let u = 0; u < 8; u++) {
          let s = 0;
          for (let x = 0; x < 8; x++) s += (block[y * 8 + x] as number) * (COS[x * 8 + u] as number);
          tmp[y * 8 + u] = s;
        }
      }
      for (let v = 0; v < 8; v++) {
        for (let u = 0; u < 8; u++) {
          let s = 0;
          for (let y = 0; y < 8; y++) s += (tmp[y * 8 + u] as number) * (COS[y * 8 + v] as number);
          const q = table[v * 8 + u] as number;
          coef[v * 8 + u] = Math.round((0.25 * alpha(u) * alpha(v) * s) / q) * q * alpha(u) * alpha(v);
        }
      }
      // Inverse, also separable (coef already carries alpha(u) alpha(v)).
      for (let v = 0; v < 8; v++) {
        for (let x = 0; x < 8; x++) {
          let s = 0;
          for (let u = 0; u < 8; u++) s += (coef[v * 8 + u] as number) * (COS[x * 8 + u] as number);
          tmp[v * 8 + x] = s;
        }
      }
      for (let y = 0; y < 8 && by + y < h; y++) {
        for (let x = 0; x < 8 && bx + x < w; x++) {
          let s = 0;
          for (let v = 0; v < 8; v++) s += (tmp[v * 8 + x] as number) * (COS[y * 8 + v] as number);
          plane[(by + y) * w + (bx + x)] = 0.25 * s + 128;
        }
      }
    }
  }
}

/** JPEG-like compression: YCbCr (for RGB), 8x8 DCT, quantisation at the given quality, 8-bit output. */
function jpeg(img: Img, quality: number): void {
  const { data, h, w, c } = img;
  const n = h * w;
  const luma = scaledTable(LUMA_Q, quality);
  const chroma = scaledTable(CHROMA_Q, quality);
  if (c === 3) {
    const Y = new Float64Array(n);
    const Cb = new Float64Array(n);
    const Cr = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = (data[3 * i] as number) * 255;
      const g = (data[3 * i + 1] as number) * 255;
      const b = (data[3 * i + 2] as number) * 255;
      Y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
      Cb[i] = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
      Cr[i] = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
    }
    jpegPlane(Y, h, w, luma);
    jpegPlane(Cb, h, w, chroma);
    jpegPlane(Cr, h, w, chroma);
    for (let i = 0; i < n; i++) {
      const y = Y[i] as number;
      const cb = (Cb[i] as number) - 128;
      const cr = (Cr[i] as number) - 128;
      data[3 * i] = clip01(Math.round(y + 1.402 * cr) / 255);
      data[3 * i + 1] = clip01(Math.round(y - 0.344136 * cb - 0.714136 * cr) / 255);
      data[3 * i + 2] = clip01(Math.round(y + 1.772 * cb) / 255);
    }
    return;
  }
  for (let ch = 0; ch < c; ch++) {
    const plane = new Float64Array(n);
    for (let i = 0; i < n; i++) plane[i] = (data[i * c + ch] as number) * 255;
    jpegPlane(plane, h, w, luma);
    for (let i = 0; i < n; i++) data[i * c + ch] = clip01(Math.round(plane[i] as number) / 255);
  }
}

/** Diamond-square plasma fractal on a torus (as in ImageNet-C's fog), normalised to [0, 1]. */
export function plasmaFractal(mapsize: number, wibbleDecay: number, random: SeededRandom): Float64Array {
  const m = new Float64Array(mapsize * mapsize);
  const at = (y: number, x: number) => m[(((y % mapsize) + mapsize) % mapsize) * mapsize + (((x % mapsize) + mapsize) % mapsize)] as number;
  let step = mapsize;
  let wibble = 100;
  while (step >= 2) {
    const half = step / 2;
    for (let y = 0; y < mapsize; y += step) {
      for (let x = 0; x < mapsize; x += step) {
        const s = at(y, x) + at(y + step, x) + at(y, x + step) + at(y + step, x + step);
        m[(y + half) * mapsize + (x + half)] = s / 4 + wibble * random.uniform(-wibble, wibble);
      }
    }
    for (let y = 0; y < mapsize; y += half) {
      for (let x = (y / half) % 2 === 0 ? half : 0; x < mapsize; x += step) {
        const s = at(y - half, x) + at(y + half, x) + at(y, x - half) + at(y, x + half);
        m[y * mapsize + x] = s / 4 + wibble * random.uniform(-wibble, wibble);
      }
    }
    step = half;
    wibble /= wibbleDecay;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of m) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi - lo || 1;
  for (let i = 0; i < m.length; i++) m[i] = ((m[i] as number) - lo) / range;
  return m;
}

function fog(img: Img, strength: number, decay: number, random: SeededRandom): void {
  const { data, h, w, c } = img;
  let mapsize = 2;
  while (mapsize < Math.max(h, w)) mapsize *= 2;
  const plasma = plasmaFractal(mapsize, decay, random);
  let max = 0;
  for (const v of data) if (v > max) max = v;
  const ref = max > 0 ? max : 1;
  const scale = ref / (ref + strength);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const f = strength * (plasma[y * mapsize + x] as number);
      for (let ch = 0; ch < c; ch++) {
        const i = (y * w + x) * c + ch;
        data[i] = clip01(((data[i] as number) + f) * scale);
      }
    }
  }
}
