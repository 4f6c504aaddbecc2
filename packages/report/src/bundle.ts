/**
 * Browser bundles of the page scripts, made with esbuild when a report is written or the live page
 * is served: one IIFE file each, so the page opens from disk (file://) without modules or a server.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export type PageName = 'report-page' | 'live-page' | 'train-page';

// src/bundle.ts and dist/*.js are both one folder below the package root.
const here = fileURLToPath(import.meta.url);
const packageRoot = path.resolve(path.dirname(here), '..');
const fromSource = here.endsWith('.ts');

/** The page's entry file (shipped in the package's src/). */
export function pageEntry(page: PageName): string {
  return path.join(packageRoot, 'src', 'page', `${page}.ts`);
}

const cache = new Map<PageName, Promise<string>>();

/** Minified browser bundle of a page script (built once per process). */
export function bundlePage(page: PageName): Promise<string> {
  let result = cache.get(page);
  if (!result) {
    result = bundle(page);
    cache.set(page, result);
    result.catch(() => cache.delete(page));
  }
  return result;
}

async function bundle(page: PageName): Promise<string> {
  const out = await build({
    entryPoints: [pageEntry(page)],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    // Running from the sources (tests, the monorepo): resolve @advprop packages to their sources too.
    conditions: fromSource ? ['@advprop/source'] : [],
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${pageEntry(page)}`);
  return file.text;
}
