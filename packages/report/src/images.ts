/** PNG files of the adversarial-example grid, encoded with sharp. */
import sharp from 'sharp';

/** Float32 NHWC values in [0, 1] of one image to 8-bit, clipped. */
function toBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, values[i] as number)) * 255);
  return bytes;
}

/**
 * The perturbation made visible: 0.5 + delta / (2 * epsilon), so an L-inf budget fills the whole
 * grey range (black is -epsilon, white +epsilon).
 */
export function magnifiedPerturbation(clean: Float32Array, adversarial: Float32Array, epsilon: number): Float32Array {
  const out = new Float32Array(clean.length);
  const scale = epsilon > 0 ? 1 / (2 * epsilon) : 0;
  for (let i = 0; i < clean.length; i++) out[i] = 0.5 + ((adversarial[i] as number) - (clean[i] as number)) * scale;
  return out;
}

/** A PNG of one [h, w, c] image (c = 1 or 3), enlarged `scale` times with nearest-neighbour pixels. */
export async function encodePng(values: Float32Array, shape: readonly [number, number, number], scale = 4): Promise<Buffer> {
  const [h, w, c] = shape;
  if (values.length !== h * w * c) throw new Error(`encodePng: ${values.length} values do not fit shape [${h}, ${w}, ${c}]`);
  if (c !== 1 && c !== 3) throw new Error(`encodePng: images need 1 or 3 channels, got ${c}`);
  return sharp(toBytes(values), { raw: { width: w, height: h, channels: c } })
    .resize(w * scale, h * scale, { kernel: 'nearest' })
    .png()
    .toBuffer();
}
