/**
 * Float64 reference implementations of the convolution gradients (NHWC, explicit pads), straight
 * from the definition of the forward convolution. Used by the kernel tests only.
 */
export interface RefGeometry {
  /** [B, H, W, C] */
  readonly xShape: readonly [number, number, number, number];
  /** [KH, KW, Ci, Co] (Co = multiplier for depthwise) */
  readonly filterShape: readonly [number, number, number, number];
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  readonly top: number;
  readonly left: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly depthwise: boolean;
}

/** Visit every (x index, filter index, dy index) triple of the forward convolution. */
function forEachTap(g: RefGeometry, visit: (xi: number, fi: number, yi: number) => void): void {
  const [b, h, w, c] = g.xShape;
  const [kh, kw, , q] = g.filterShape;
  const co = g.depthwise ? c * q : q;
  for (let n = 0; n < b; n++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        const yBase = ((n * g.outHeight + oy) * g.outWidth + ox) * co;
        for (let i = 0; i < kh; i++) {
          const iy = oy * g.strides[0] + i * g.dilations[0] - g.top;
          if (iy < 0 || iy >= h) continue;
          for (let j = 0; j < kw; j++) {
            const ix = ox * g.strides[1] + j * g.dilations[1] - g.left;
            if (ix < 0 || ix >= w) continue;
            const xBase = ((n * h + iy) * w + ix) * c;
            for (let ci = 0; ci < c; ci++) {
              if (g.depthwise) {
                for (let m = 0; m < q; m++) visit(xBase + ci, ((i * kw + j) * c + ci) * q + m, yBase + ci * q + m);
              } else {
                for (let o = 0; o < q; o++) visit(xBase + ci, ((i * kw + j) * c + ci) * q + o, yBase + o);
              }
            }
          }
        }
      }
    }
  }
}

export function refConvForward(g: RefGeometry, x: ArrayLike<number>, filter: ArrayLike<number>): Float64Array {
  const [b, , , c] = g.xShape;
  const q = g.filterShape[3];
  const out = new Float64Array(b * g.outHeight * g.outWidth * (g.depthwise ? c * q : q));
  forEachTap(g, (xi, fi, yi) => {
    out[yi]! += x[xi]! * filter[fi]!;
  });
  return out;
}

export function refBackpropFilter(g: RefGeometry, x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const out = new Float64Array(g.filterShape.reduce((a, b) => a * b, 1));
  forEachTap(g, (xi, fi, yi) => {
    out[fi]! += x[xi]! * dy[yi]!;
  });
  return out;
}

export function refBackpropInput(g: RefGeometry, filter: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const out = new Float64Array(g.xShape.reduce((a, b) => a * b, 1));
  forEachTap(g, (xi, fi, yi) => {
    out[xi]! += filter[fi]! * dy[yi]!;
  });
  return out;
}

export { maxRelativeError } from '@advprop/core';
