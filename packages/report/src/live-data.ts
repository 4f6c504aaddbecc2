/** What the live page receives as `window.ADVPROP_LIVE` (served as /data.js). Plain JSON. */
export interface LiveImage {
  /** Index in the test split. */
  readonly index: number;
  readonly label: number;
  /** The image as 8-bit values, base64 (NHWC, one image). */
  readonly pixels: string;
}

export interface LivePageData {
  readonly title: string;
  readonly run: { readonly dir: string; readonly mode: string; readonly model: string; readonly dataset: string };
  readonly imageShape: readonly [number, number, number];
  readonly classNames: readonly string[];
  readonly images: readonly LiveImage[];
  /** Attacks offered (names registered by @advprop/attacks), the first is the default. */
  readonly attacks: readonly string[];
  /** Default epsilon (the run's evaluation epsilon). */
  readonly epsilon: number;
  /** URL of the model's model.json, relative to the page. */
  readonly modelUrl: string;
  readonly seed: number;
}

/** What the training page receives as `window.ADVPROP_TRAIN` (served as /train-data.js). */
export interface TrainPageData {
  readonly imageShape: readonly [number, number, number];
  readonly classNames: readonly string[];
  /** Images as 8-bit values, base64 (NHWC), and their labels. */
  readonly train: { readonly pixels: string; readonly labels: readonly number[] };
  readonly test: { readonly pixels: string; readonly labels: readonly number[] };
  readonly seed: number;
}
