/**
 * Tensor ownership checks: every step must leave `tf.memory().numTensors` where it found it.
 */
import { memory } from '@tensorflow/tfjs-core';

export class TensorLeakError extends Error {
  constructor(
    readonly before: number,
    readonly after: number,
    label: string,
  ) {
    super(`${label} leaked ${after - before} tensor(s): numTensors went from ${before} to ${after}`);
    this.name = 'TensorLeakError';
  }
}

/**
 * Run `fn` (sync or async) and throw TensorLeakError if the live tensor count grew. Tensors that
 * `fn` returns are the caller's to own and are not counted, when `fn` returns them.
 * `allowed` tolerates a known number of tensors kept on purpose (for example new weights).
 */
export async function expectNoTensorLeak<T>(
  fn: () => T | Promise<T>,
  options: { label?: string; allowed?: number } = {},
): Promise<T> {
  const before = memory().numTensors;
  const result = await fn();
  const after = memory().numTensors - countTensors(result);
  if (after > before + (options.allowed ?? 0)) throw new TensorLeakError(before, after, options.label ?? 'operation');
  return result;
}

/**
 * Run `fn` `times` times (after one warm-up run, which may create caches) and throw if the tensor
 * count grows between repetitions: the check for loops (epochs, steps).
 */
export async function expectFlatTensorCount(
  fn: (iteration: number) => unknown | Promise<unknown>,
  options: { times?: number; label?: string } = {},
): Promise<void> {
  await fn(0);
  const start = memory().numTensors;
  const times = options.times ?? 2;
  for (let i = 1; i <= times; i++) {
    await fn(i);
    const now = memory().numTensors;
    if (now !== start) throw new TensorLeakError(start, now, `${options.label ?? 'loop'} (iteration ${i})`);
  }
}

function countTensors(value: unknown, seen = new Set<unknown>()): number {
  if (value === null || typeof value !== 'object' || seen.has(value)) return 0;
  seen.add(value);
  const maybe = value as { dataId?: unknown; isDisposed?: boolean; shape?: unknown };
  if (maybe.dataId !== undefined && Array.isArray(maybe.shape)) return maybe.isDisposed ? 0 : 1;
  if (Array.isArray(value)) return value.reduce<number>((n, v) => n + countTensors(v, seen), 0);
  if (Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value).reduce<number>((n, v) => n + countTensors(v, seen), 0);
  }
  return 0;
}
