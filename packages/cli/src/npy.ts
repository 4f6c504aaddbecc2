/**
 * NumPy `.npy` (format version 1.0) writer, so adversarial examples saved by `advprop attack` load
 * with `numpy.load` (and with any reader of the format).
 */
export type NpyArray = Float32Array | Int32Array | Uint8Array;

function dtypeOf(data: NpyArray): string {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Int32Array) return '<i4';
  return '|u1';
}

/** Encode `data` with `shape` as an .npy file (little-endian, C order). */
export function encodeNpy(data: NpyArray, shape: readonly number[]): Uint8Array {
  const expected = shape.reduce((a, b) => a * b, 1);
  if (expected !== data.length) {
    throw new RangeError(`npy: shape [${shape.join(', ')}] holds ${expected} values, the data has ${data.length}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtypeOf(data)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  out[8] = header.length & 0xff;
  out[9] = (header.length >> 8) & 0xff;
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  // Typed arrays are little-endian on every platform Node runs on.
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** Decode an .npy file written by `encodeNpy` (v1.0, <f4 / <i4 / |u1, C order). */
export function decodeNpy(bytes: Uint8Array): { data: NpyArray; shape: number[] } {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) throw new RangeError('npy: not an .npy file (bad magic)');
  const headerLength = (bytes[8] as number) | ((bytes[9] as number) << 8);
  const header = String.fromCharCode(...bytes.subarray(10, 10 + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '';
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  // Copy into a fresh, aligned buffer (a Node Buffer may be a view into a shared pool).
  const body = new Uint8Array(bytes.subarray(10 + headerLength));
  const data =
    descr === '<f4'
      ? new Float32Array(body.buffer, 0, body.byteLength >> 2)
      : descr === '<i4'
        ? new Int32Array(body.buffer, 0, body.byteLength >> 2)
        : descr === '|u1'
          ? body
          : undefined;
  if (!data) throw new RangeError(`npy: unsupported dtype ${descr}`);
  return { data, shape };
}
