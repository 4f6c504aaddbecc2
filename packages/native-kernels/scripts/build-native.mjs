#!/usr/bin/env node
/**
 * Builds the native addon (native/advprop-native.cc) into build/advprop-native.node with the
 * system compiler against the system's oneDNN (Debian: `apt-get install g++ libdnnl-dev`) and
 * Node's own headers. No download, no node-gyp.
 *
 * The addon is optional: when the compiler, oneDNN or Node's headers are missing this prints why
 * and exits 0, and the kernels report themselves unavailable at run time. ADVPROP_NATIVE_REQUIRED=1
 * (CI) turns that into a failure. Other settings: CXX (compiler), ADVPROP_DNNL_ROOT (a oneDNN
 * install prefix with include/ and lib/), ADVPROP_NATIVE_MARCH (default `native`: the addon is
 * built on the machine that runs it), ADVPROP_NODE_HEADERS (the folder holding node_api.h).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(packageRoot, 'native', 'advprop-native.cc');
const outDir = join(packageRoot, 'build');
const output = join(outDir, 'advprop-native.node');
const stampFile = join(outDir, 'build-stamp.json');
const required = !!process.env.ADVPROP_NATIVE_REQUIRED && process.env.ADVPROP_NATIVE_REQUIRED !== '0';

function skip(reason) {
  const message = `@advprop/native-kernels: native addon not built: ${reason}`;
  if (required) {
    console.error(`${message} (ADVPROP_NATIVE_REQUIRED is set)`);
    process.exit(1);
  }
  console.error(`${message}. Training falls back to the tfjs kernels; for the fast kernels: apt-get install g++ libdnnl-dev, then rebuild.`);
  process.exit(0);
}

function nodeHeaders() {
  const candidates = [
    process.env.ADVPROP_NODE_HEADERS,
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    resolve(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
}

function dnnlPaths() {
  const root = process.env.ADVPROP_DNNL_ROOT;
  if (root) {
    const include = join(root, 'include');
    if (!existsSync(join(include, 'oneapi', 'dnnl', 'dnnl.hpp'))) skip(`ADVPROP_DNNL_ROOT=${root} has no include/oneapi/dnnl/dnnl.hpp`);
    return { include: [`-I${include}`], lib: [`-L${join(root, 'lib')}`, `-Wl,-rpath,${join(root, 'lib')}`] };
  }
  if (!['/usr/include', '/usr/local/include'].some((d) => existsSync(join(d, 'oneapi', 'dnnl', 'dnnl.hpp')))) {
    skip('oneDNN headers (oneapi/dnnl/dnnl.hpp) not found');
  }
  return { include: [], lib: [] };
}

const headers = nodeHeaders();
if (!headers) skip("Node's headers (node_api.h) not found");
const dnnl = dnnlPaths();
const cxx = process.env.CXX || 'g++';
const march = process.env.ADVPROP_NATIVE_MARCH || (process.arch === 'x64' ? 'x86-64-v2' : '');
const args = [
  '-O3',
  ...(march ? [`-march=${march}`] : []),
  '-std=c++17',
  '-Wall',
  '-fPIC',
  '-shared',
  '-fopenmp',
  '-fvisibility=hidden',
  `-I${headers}`,
  ...dnnl.include,
  source,
  ...dnnl.lib,
  '-ldnnl',
];

// Up to date: same source, same command, output present.
const stamp = JSON.stringify({ args, mtime: statSync(source).mtimeMs, cxx });
if (existsSync(output) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  console.error('@advprop/native-kernels: native addon up to date');
  process.exit(0);
}

const probe = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) skip(`no C++ compiler (${cxx})`);

mkdirSync(outDir, { recursive: true });
const partial = `${output}.${process.pid}.tmp`;
const started = Date.now();
const result = spawnSync(cxx, [...args, '-o', partial], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
if (result.status !== 0) {
  rmSync(partial, { force: true });
  process.stderr.write(result.stderr ?? '');
  skip(`${cxx} failed (exit ${result.status})`);
}
// Replace the previous addon only once the new one is complete.
renameSync(partial, output);
writeFileSync(stampFile, stamp);
console.error(`@advprop/native-kernels: built ${output} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
