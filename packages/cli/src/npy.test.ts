import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from './npy.js';

describe('npy', () => {
  it('writes a NumPy v1.0 header aligned to 64 bytes and round-trips float32 and int32', () => {
    const data = new Float32Array([0, 0.5, 1, -2, 3.25, 7]);
    const bytes = encodeNpy(data, [1, 2, 3, 1]);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLength = (bytes[8] as number) | ((bytes[9] as number) << 8);
    expect((10 + headerLength) % 64).toBe(0);
    const header = String.fromCharCode(...bytes.subarray(10, 10 + headerLength));
    expect(header).toContain("'descr': '<f4'");
    expect(header).toContain("'shape': (1, 2, 3, 1)");
    expect(header.endsWith('\n')).toBe(true);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual([1, 2, 3, 1]);
    expect(Array.from(back.data)).toEqual(Array.from(data));

    const labels = decodeNpy(encodeNpy(new Int32Array([3, 1, 4]), [3]));
    expect(labels.shape).toEqual([3]);
    expect(labels.data).toBeInstanceOf(Int32Array);
    expect(Array.from(labels.data)).toEqual([3, 1, 4]);
  });

  it('decodes from a Node Buffer that is a view into a larger pool', () => {
    const bytes = encodeNpy(new Float32Array([0.25, 0.75]), [2]);
    const pool = Buffer.alloc(bytes.length + 13);
    pool.set(bytes, 13);
    const view = pool.subarray(13);
    expect(Array.from(decodeNpy(view).data)).toEqual([0.25, 0.75]);
  });

  it('rejects a shape that does not match the data', () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/holds 6 values, the data has 5/);
  });
});
