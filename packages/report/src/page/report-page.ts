/**
 * The report page: builds the sections from `window.ADVPROP_REPORT` (assets/data.js) and draws the
 * charts with Vega-Lite. Bundled for the browser by esbuild (see ../bundle.ts).
 */
import embed, { type VisualizationSpec } from 'vega-embed';
import type { ExampleItem, ReportData, RunReportData, SweepReportData } from '../report-data.js';

declare global {
  interface Window {
    ADVPROP_REPORT?: ReportData;
    /** Vega views by chart name, for tests and for poking at the data from the console. */
    ADVPROP_VIEWS?: Record<string, unknown>;
  }
}

const percent = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(2)} %`);

function element<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function section(title: string, note?: string): HTMLElement {
  const s = element('section');
  s.append(element('h2', {}, title));
  if (note) s.append(element('p', { class: 'note' }, note));
  document.getElementById('report')?.append(s);
  return s;
}

const pending: Promise<unknown>[] = [];

function chart(parent: HTMLElement, name: string, spec: Record<string, unknown>): void {
  const holder = element('div', { class: 'chart', 'data-chart': name });
  parent.append(holder);
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 360, height: 220, ...spec } as VisualizationSpec;
  pending.push(
    embed(holder, full, { actions: false, renderer: 'svg' }).then((result) => {
      (window.ADVPROP_VIEWS ??= {})[name] = result.view;
    }),
  );
}

function table(parent: HTMLElement, columns: readonly string[], rows: readonly Record<string, unknown>[], format: (c: string, v: unknown) => string): void {
  const t = element('table');
  const head = element('tr');
  for (const c of columns) head.append(element('th', {}, c));
  t.append(head);
  for (const r of rows) {
    const tr = element('tr');
    for (const c of columns) tr.append(element('td', {}, format(c, r[c])));
    t.append(tr);
  }
  parent.append(t);
}

function metricChart(parent: HTMLElement, data: RunReportData, name: string, title: string, match: (metric: string) => boolean, yTitle: string): void {
  const rows = data.metrics.filter((r) => match(r.metric));
  if (rows.length === 0) return;
  const x = { field: 'step', type: 'quantitative', title: 'optimizer step' };
  const y = { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } };
  const color = { field: 'metric', type: 'nominal', title: null };
  chart(parent, name, {
    title,
    data: { values: rows },
    // One layer per source present (an empty layer makes Vega warn about infinite extents).
    layer: [
      ...(rows.some((r) => r.source === 'batch')
        ? [{ transform: [{ filter: "datum.source === 'batch'" }], mark: { type: 'line', strokeWidth: 1, opacity: 0.8 }, encoding: { x, y, color } }]
        : []),
      ...(rows.some((r) => r.source === 'eval')
        ? [{ transform: [{ filter: "datum.source === 'eval'" }], mark: { type: 'line', point: true, strokeDash: [4, 2] }, encoding: { x, y, color } }]
        : []),
    ],
  });
}

function renderRun(data: RunReportData): void {
  const s = data.summary;
  const overview = section('Run');
  table(
    overview,
    ['field', 'value'],
    [
      ['directory', data.run.dir],
      ['mode', data.run.mode],
      ['dataset', data.run.dataset],
      ['model', data.run.model],
      ['backend', data.run.backend],
      ['epochs', String(data.run.epochs)],
      ['seed', String(data.run.seed)],
      ['clean accuracy', percent(s.clean_accuracy as number)],
      ['aux-BN accuracy', percent(s.aux_accuracy as number | null)],
      ...Object.entries(data.recordedRobustness).map(([k, v]) => [`robust accuracy (${k})`, percent(v)]),
      ['evaluated examples', String(s.evaluated_examples)],
      ['images / second', typeof s.images_per_second === 'number' ? s.images_per_second.toFixed(1) : 'n/a'],
    ].map(([field, value]) => ({ field, value })),
    (_c, v) => String(v),
  );

  const curves = section('Training curves', 'Solid lines: every training step; dashed lines with points: evaluations on the test subset.');
  metricChart(curves, data, 'loss', 'Loss', (m) => /loss$/.test(m), 'loss');
  metricChart(curves, data, 'accuracy', 'Accuracy (clean, aux BN, validation)', (m) => /accuracy$/.test(m) && !m.includes('/'), 'accuracy');
  metricChart(curves, data, 'lr', 'Learning rate', (m) => m === 'lr', 'learning rate');
  metricChart(curves, data, 'throughput', 'Throughput', (m) => m === 'images_per_second', 'images / second');

  const robust = section('Robust accuracy against epsilon', `Measured by the report on ${data.robustness.count} test images, attacks through the main BN.`);
  chart(robust, 'robustness', {
    title: 'Robust accuracy',
    data: { values: data.robustness.points },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epsilon', type: 'quantitative', title: 'epsilon (L-inf, input units)' },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } },
      color: { field: 'attack', type: 'nominal' },
      tooltip: [{ field: 'attack' }, { field: 'epsilon' }, { field: 'accuracy', format: '.3f' }],
    },
  });

  const classes = section('Per-class and corruption accuracy');
  chart(classes, 'per-class', {
    title: 'Clean accuracy per class',
    data: { values: data.perClass.filter((r) => r.accuracy !== null) },
    mark: 'bar',
    encoding: {
      x: { field: 'class', type: 'nominal', sort: null, title: 'class' },
      y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] } },
      tooltip: [{ field: 'class' }, { field: 'accuracy', format: '.3f' }],
    },
  });
  if (data.corruptions.rows.length > 0) {
    chart(classes, 'corruptions', {
      title: `Accuracy on corrupted test images (${data.corruptions.source === 'run' ? 'recorded by the run' : `measured by the report on ${data.corruptions.count} images`})`,
      data: { values: [{ corruption: 'clean', severity: 0, accuracy: s.clean_accuracy }, ...data.corruptions.rows] },
      mark: 'bar',
      encoding: {
        y: { field: 'corruption', type: 'nominal', sort: null, title: null },
        x: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] } },
        color: { field: 'severity', type: 'ordinal' },
        tooltip: [{ field: 'corruption' }, { field: 'severity' }, { field: 'accuracy', format: '.3f' }],
      },
    });
  }

  const grid = section(
    'Adversarial examples',
    `${data.examples.attack} at epsilon ${data.examples.epsilon}: the clean image, the perturbation magnified (grey is 0, black -epsilon, white +epsilon), the adversarial image; predicted class and probability.`,
  );
  const g = element('div', { class: 'grid', id: 'examples' });
  for (const item of data.examples.items) g.append(exampleCard(item));
  grid.append(g);
}

function exampleCard(item: ExampleItem): HTMLElement {
  const card = element('figure', { class: 'example' });
  const images = element('div', { class: 'images' });
  for (const [kind, src] of Object.entries(item.images)) images.append(element('img', { src, alt: `${kind} image of test example ${item.index}`, 'data-kind': kind }));
  card.append(images);
  const flipped = item.cleanPrediction !== item.adversarialPrediction;
  card.append(
    element(
      'figcaption',
      { class: flipped ? 'flipped' : '' },
      `#${item.index} label ${item.label}: clean ${item.cleanPrediction} (${percent(item.cleanConfidence)}), adversarial ${item.adversarialPrediction} (${percent(item.adversarialConfidence)})`,
    ),
  );
  return card;
}

function renderSweep(data: SweepReportData): void {
  const results = section('Results', `${data.rows.length} runs in ${data.dir}.`);
  table(results, data.columns, data.rows, (_c, v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v === null || v === undefined ? '' : String(v)));
  const spread = section('Spread per arm', 'Mean, standard deviation and 95 % confidence interval of the mean (Student t) over the seeds of each arm.');
  const statRows = data.questions.flatMap((q) => q.arms.map((a) => ({ question: q.question, metric: q.metric, ...a })));
  table(spread, ['question', 'metric', 'arm', 'n', 'mean', 'std', 'low', 'high'], statRows, (_c, v) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v),
  );
  for (const [i, q] of data.questions.entries()) {
    const s = section(q.question);
    const arms = q.arms.map((a) => ({ arm: a.arm, mean: a.mean, low: a.low, high: a.high, n: a.n }));
    const points = q.arms.flatMap((a) => a.values.map((value) => ({ arm: a.arm, value })));
    // Long arm names side by side overlap: slant them once the row of labels gets long.
    const labelAngle = q.arms.reduce((n, a) => n + a.arm.length, 0) > 60 ? -30 : 0;
    chart(s, `question-${i}`, {
      title: `${q.metric} by arm`,
      layer: [
        { data: { values: points }, mark: { type: 'point', opacity: 0.5 }, encoding: { x: { field: 'arm', type: 'nominal', sort: null, axis: { labelAngle } }, y: { field: 'value', type: 'quantitative', title: q.metric, scale: { zero: false } } } },
        { data: { values: arms }, mark: { type: 'rule', strokeWidth: 2 }, encoding: { x: { field: 'arm', type: 'nominal', sort: null, axis: { labelAngle } }, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } } },
        {
          data: { values: arms },
          mark: { type: 'tick', thickness: 3, size: 24 },
          encoding: {
            x: { field: 'arm', type: 'nominal', sort: null, axis: { labelAngle } },
            y: { field: 'mean', type: 'quantitative' },
            tooltip: [{ field: 'arm' }, { field: 'n' }, { field: 'mean', format: '.4f' }, { field: 'low', format: '.4f' }, { field: 'high', format: '.4f' }],
          },
        },
      ],
    });
  }
}

function main(): void {
  const data = window.ADVPROP_REPORT;
  const root = document.getElementById('report');
  if (!data || !root) {
    console.error('advprop report: no report data (assets/data.js) or no #report element');
    return;
  }
  document.title = data.title;
  root.append(element('h1', {}, data.title));
  root.append(element('p', { class: 'note' }, `Written ${data.generated} by advprop report.`));
  if (data.kind === 'run') renderRun(data);
  else renderSweep(data);
  Promise.all(pending).then(
    () => document.body.setAttribute('data-ready', 'true'),
    (error: unknown) => {
      console.error('advprop report: a chart failed to render', error);
      document.body.setAttribute('data-ready', 'error');
    },
  );
}

main();
