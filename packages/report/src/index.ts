/**
 * @advprop/report: static HTML reports of a run directory or a sweep directory (training curves,
 * robust accuracy against epsilon, adversarial examples, per-class and corruption accuracy, sweep
 * results with confidence intervals), drawn with Vega-Lite, and a live page that attacks a run's
 * model in the browser. Node-only: it reads run directories and writes files.
 */
export { writeReport, type ReportOptions } from './report.js';
export { writeRunReport, metricRows, defaultAttacks, type RunReportOptions, type WrittenReport } from './run-report.js';
export { readRunDirectory, isRunDirectory, parseMetrics, type RunData, type MetricRecord } from './run-reader.js';
export { computeRobustness, adversarialExamples, type AttackChoice, type Robustness, type RobustnessPoint, type AdversarialExample, type RobustnessOptions } from './robustness.js';
export { encodePng, magnifiedPerturbation } from './images.js';
export { writeSite, indexHtml, dataScript, type SiteFile } from './site.js';
export { serveLivePage, livePageData, liveHtml, trainHtml, trainPageData, LIVE_ATTACKS, type LiveServer, type LiveServerOptions } from './live-server.js';
export type { LivePageData, LiveImage, TrainPageData } from './live-data.js';
export { bundlePage, pageEntry, type PageName } from './bundle.js';
export type { ReportData, RunReportData, SweepReportData, MetricRow, ExampleItem, SweepArmStats } from './report-data.js';
