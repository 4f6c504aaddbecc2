/**
 * The data a report page renders, written into the site as `assets/data.js`
 * (`window.ADVPROP_REPORT = {...}`) so the page opens from disk with no server. Plain JSON only:
 * the page script (page/report-page.ts) reads it in the browser.
 */

export interface MetricRow {
  readonly step: number;
  readonly epoch: number;
  /** `batch` rows are per training step; `eval` rows are per evaluation (validation). */
  readonly source: 'batch' | 'eval';
  readonly metric: string;
  readonly value: number;
}

export interface ExampleItem {
  readonly index: number;
  readonly label: string;
  readonly cleanPrediction: string;
  readonly cleanConfidence: number;
  readonly adversarialPrediction: string;
  readonly adversarialConfidence: number;
  /** Paths relative to index.html. */
  readonly images: { readonly clean: string; readonly perturbation: string; readonly adversarial: string };
  /** Probability per class, clean and adversarial. */
  readonly probabilities: readonly { readonly class: string; readonly clean: number; readonly adversarial: number }[];
}

export interface RunReportData {
  readonly kind: 'run';
  readonly title: string;
  readonly generated: string;
  readonly run: {
    readonly dir: string;
    readonly mode: string;
    readonly dataset: string;
    readonly model: string;
    readonly backend: string;
    readonly epochs: number;
    readonly seed: number;
  };
  /** Headline numbers from summary.json. */
  readonly summary: Readonly<Record<string, number | string | null>>;
  /** The robust accuracies the run itself recorded (summary.json), label to accuracy. */
  readonly recordedRobustness: Readonly<Record<string, number>>;
  readonly metrics: readonly MetricRow[];
  readonly robustness: {
    /** Test images each point was measured on. */
    readonly count: number;
    readonly points: readonly { readonly attack: string; readonly epsilon: number; readonly accuracy: number }[];
  };
  readonly perClass: readonly { readonly class: string; readonly accuracy: number | null }[];
  readonly corruptions: {
    /** `run` when summary.json recorded them, `report` when the report measured them. */
    readonly source: 'run' | 'report';
    readonly count: number;
    readonly rows: readonly { readonly corruption: string; readonly severity: number; readonly accuracy: number }[];
  };
  readonly examples: {
    readonly attack: string;
    readonly epsilon: number;
    readonly items: readonly ExampleItem[];
  };
}

export interface SweepArmStats {
  readonly arm: string;
  readonly n: number;
  readonly mean: number;
  readonly std: number;
  /** 95 % confidence interval of the mean (Student t). */
  readonly low: number;
  readonly high: number;
  readonly values: readonly number[];
}

export interface SweepReportData {
  readonly kind: 'sweep';
  readonly title: string;
  readonly generated: string;
  readonly dir: string;
  /** One row per run: id, arm, question, seed, the summary's numbers and the cost. */
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, string | number | null>>[];
  readonly questions: readonly {
    readonly question: string;
    readonly metric: string;
    readonly arms: readonly SweepArmStats[];
  }[];
}

export type ReportData = RunReportData | SweepReportData;
