/**
 * Writing a report site: index.html, assets/data.js (the report data as a script, since a page
 * opened from disk cannot fetch() files), assets/report.js (the bundled page script with Vega-Lite)
 * and the image files the data refers to.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ensureWritableDirectory, writeFileAtomic } from '@advprop/core/node';
import { bundlePage } from './bundle.js';
import type { ReportData } from './report-data.js';

export interface SiteFile {
  /** Path relative to the site root. */
  readonly path: string;
  readonly content: string | Uint8Array;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.note { color: #666; }
.chart { display: inline-block; vertical-align: top; margin: 0.5rem 1rem 0.5rem 0; }
table { border-collapse: collapse; margin: 0.5rem 0; } th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.example { margin: 0; padding: 6px; border: 1px solid #ddd; width: 352px; }
.example img { width: 112px; height: 112px; image-rendering: pixelated; margin-right: 4px; }
.example figcaption { font-size: 12px; } .example figcaption.flipped { color: #b00; }
`;

/** The page: a shell the bundled script fills in from the data. */
export function indexHtml(title: string): string {
  const escaped = title.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escaped}</title>
<style>${STYLE}</style>
</head>
<body>
<main id="report"></main>
<script src="assets/data.js"></script>
<script src="assets/report.js"></script>
</body>
</html>
`;
}

/** `window.ADVPROP_REPORT = {...}` with `<` escaped so no string in the data can close the script. */
export function dataScript(data: unknown, global = 'ADVPROP_REPORT'): string {
  return `window.${global} = ${JSON.stringify(data).replace(/</g, '\\u003c')};\n`;
}

/** Write the site into `outDir` (created if needed); returns the path of index.html. */
export async function writeSite(outDir: string, data: ReportData, files: readonly SiteFile[] = []): Promise<string> {
  const root = path.resolve(outDir);
  await ensureWritableDirectory(root);
  const script = await bundlePage('report-page');
  for (const file of files) {
    const target = path.join(root, file.path);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await writeFileAtomic(target, file.content);
  }
  await fs.mkdir(path.join(root, 'assets'), { recursive: true });
  await writeFileAtomic(path.join(root, 'assets', 'report.js'), script);
  await writeFileAtomic(path.join(root, 'assets', 'data.js'), dataScript(data));
  const index = path.join(root, 'index.html');
  // index.html last: a site with an index is complete.
  await writeFileAtomic(index, indexHtml(data.title));
  return index;
}
