#!/usr/bin/env node
/**
 * Builds the native addon (native/advprop-native.cc) into build/advprop-native.node with the
 * system compiler against the system's oneDNN (Debian: `apt-get install g++ libdnnl-dev`) and
 * Node's own headers. No download, no node-gyp. Installed as the `advprop-build-native` command,
 * so `npx advprop-build-native` builds from source inside an installed @advprop/native-kernels.
 *
 * The addon is optional: when the compiler, oneDNN or Node's headers are missing this prints why
 * and exits 0, and the kernels report themselves unavailable at run time. ADVPROP_NATIVE_REQUIRED=1
 * (CI) turns that into a failure. Other settings: CXX (compiler), ADVPROP_DNNL_ROOT (a oneDNN
 * install prefix with include/ and lib/), ADVPROP_NATIVE_MARCH (default `x86-64-v2` on x64, so the
 * addon runs on any x86-64 machine of the last decade; oneDNN picks its AVX2/AVX-512 code at run
 * time), ADVPROP_NODE_HEADERS (the folder holding node_api.h).
 *
 * `--prebuilt DIR` then assembles a platform package in DIR (@advprop/native-kernels-linux-x64):
 * the addon, the shared libraries it loads that are not part of the C runtime (oneDNN, its OpenMP
 * runtime libgomp, the OpenCL loader oneDNN links) found with `ldd`, and their licence files. The
 * addon is linked with an `$ORIGIN` run path, so the copies beside it are used before the
 * system's, and a machine without oneDNN installed runs it.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(packageRoot, 'native', 'advprop-native.cc');
const outDir = join(packageRoot, 'build');
const output = join(outDir, 'advprop-native.node');
const stampFile = join(outDir, 'build-stamp.json');
// Bundled: oneDNN, its OpenMP runtime and the OpenCL loader it links. Not bundled: the C and C++
// runtimes (libc, libm, libstdc++, libgcc_s), which every glibc system running Node has.
const BUNDLED = /^lib(dnnl|gomp|OpenCL)\.so/;

const prebuiltIndex = process.argv.indexOf('--prebuilt');
const prebuiltDir = prebuiltIndex >= 0 ? process.argv[prebuiltIndex + 1] : undefined;
if (prebuiltIndex >= 0 && !prebuiltDir) {
  console.error('usage: advprop-build-native [--prebuilt DIR]');
  process.exit(2);
}
const required = !!process.env.ADVPROP_NATIVE_REQUIRED && process.env.ADVPROP_NATIVE_REQUIRED !== '0';

function skip(reason) {
  // A platform package is never left holding binaries from an earlier build.
  if (prebuiltDir !== undefined) {
    for (const sub of ['lib', 'licenses']) rmSync(join(resolve(prebuiltDir), sub), { recursive: true, force: true });
  }
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
  // No FMA contraction: each multiply and add rounds to float32 as tfjs' kernels do, whichever
  // -march the addon is built for.
  '-ffp-contract=off',
  '-Wall',
  '-fPIC',
  '-shared',
  '-fopenmp',
  '-fvisibility=hidden',
  `-I${headers}`,
  ...dnnl.include,
  source,
  // Libraries beside the addon first (the platform package ships oneDNN and libgomp there). An
  // old-style RPATH, not RUNPATH: it also serves oneDNN's own dependencies (libgomp, OpenCL).
  '-Wl,--disable-new-dtags',
  '-Wl,-rpath,$ORIGIN',
  ...dnnl.lib,
  '-ldnnl',
];

// Up to date: same source, same command, output present.
const stamp = JSON.stringify({ args, mtime: statSync(source).mtimeMs, cxx });
if (existsSync(output) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  console.error('@advprop/native-kernels: native addon up to date');
  finish();
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
finish();

function finish() {
  if (prebuiltDir !== undefined) assemblePrebuilt(resolve(prebuiltDir));
  process.exit(0);
}

/** Shared libraries the addon loads, by soname, resolved by the dynamic loader (`ldd`). */
function linkedLibraries(file) {
  const result = spawnSync('ldd', [file], { encoding: 'utf8' });
  if (result.status !== 0) skip(`ldd ${file} failed: ${(result.stderr || result.error?.message || '').trim()}`);
  const libs = new Map();
  for (const line of result.stdout.split('\n')) {
    const match = /^\s*(\S+) => (\S+) \(0x[0-9a-f]+\)/.exec(line);
    if (match) libs.set(match[1], match[2]);
    else if (/=> not found/.test(line)) skip(`${file} needs ${line.trim()}`);
  }
  return libs;
}

/** The Debian package that installed `file`, with its version; undefined elsewhere. */
function debianPackage(file) {
  const owner = spawnSync('dpkg-query', ['-S', realpathSync(file)], { encoding: 'utf8' });
  if (owner.status !== 0) return undefined;
  const name = owner.stdout.split(':')[0].trim();
  const version = spawnSync('dpkg-query', ['-W', '-f=${Version}', name], { encoding: 'utf8' }).stdout.trim();
  return { name, version };
}

function assemblePrebuilt(dir) {
  const libDir = join(dir, 'lib');
  const licenseDir = join(dir, 'licenses');
  rmSync(libDir, { recursive: true, force: true });
  rmSync(licenseDir, { recursive: true, force: true });
  mkdirSync(libDir, { recursive: true });
  mkdirSync(licenseDir, { recursive: true });
  copyFileSync(output, join(libDir, 'advprop-native.node'));
  const notes = ['Shared libraries shipped in lib/ beside advprop-native.node, and where they come from:', ''];
  const commonLicenses = new Set();
  for (const [soname, path] of linkedLibraries(output)) {
    if (!BUNDLED.test(soname)) continue;
    copyFileSync(realpathSync(path), join(libDir, soname));
    const pkg = debianPackage(path);
    const copyright = pkg && join('/usr/share/doc', pkg.name, 'copyright');
    if (!copyright || !existsSync(copyright)) skip(`no licence file found for ${soname} (${path}); the prebuilt package must ship one`);
    copyFileSync(copyright, join(licenseDir, `${soname}.copyright`));
    const text = readFileSync(copyright, 'utf8');
    for (const name of ['Apache-2.0', 'GPL-3']) if (text.includes(name)) commonLicenses.add(name);
    notes.push(`- ${soname}: ${realpathSync(path)} from the Debian package ${pkg.name} ${pkg.version}; copyright and licence: licenses/${soname}.copyright`);
  }
  for (const name of commonLicenses) {
    const file = join('/usr/share/common-licenses', name);
    if (existsSync(file)) copyFileSync(file, join(licenseDir, name));
  }
  notes.push(
    '',
    'oneDNN is under the Apache License 2.0 (licenses/Apache-2.0). libgomp is under the GPL version 3 with',
    'the GCC Runtime Library Exception (both in licenses/libgomp.so.1.copyright; GPL text in licenses/GPL-3),',
    'which allows shipping it with programs under any licence. The OpenCL ICD loader is under a BSD-style licence.',
    '',
  );
  writeFileSync(join(licenseDir, 'README.md'), notes.join('\n'));
  const check = linkedLibraries(join(libDir, 'advprop-native.node'));
  for (const [soname, path] of check) {
    if (BUNDLED.test(soname) && resolve(path) !== join(libDir, soname)) skip(`${soname} resolves to ${path}, not the bundled copy (run path $ORIGIN missing?)`);
  }
  console.error(`@advprop/native-kernels: prebuilt package assembled in ${dir} (${[...check.keys()].filter((s) => BUNDLED.test(s)).join(', ')} bundled)`);
}
