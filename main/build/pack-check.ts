/**
 * Packaging check (issue #5), offline: builds the app with electron-builder `--linux dir` against a
 * stand-in Electron folder (no Electron binary can be downloaded here) and asserts the package's
 * layout: app.asar holds the built main, preload, trainer and renderer; sharp and libvips are
 * unpacked and load from app.asar.unpacked; the tfjs wasm binaries are unpacked; no dev
 * dependency, test folder, source map or TypeScript source slipped in. Prints the sizes as JSON
 * (last line of stdout).
 *   npm run pack:check                 # builds dist/ (renderer only when stale), then packages
 *   npm run pack:check -- --skip-build # reuse dist/ as it is
 *   npm run pack:check -- --tar        # also build the tar.gz (7za from 7zip-bin)
 *   npm run pack:check -- --keep       # keep the output folder (its path is printed)
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ELECTRON_VERSION = '41.10.0';
const require = createRequire(join(ROOT, 'package.json'));

interface AsarModule { listPackage(archive: string, options: { isPack: boolean }): string[]; extractAll(archive: string, dest: string): void }

export interface PackReport {
  ok: boolean;
  failures: string[];
  seconds: number;
  appDir: string;
  bytes: { total: number; appAsar: number; unpacked: number; standInElectron: number; tarGz: number | null };
  files: { inAsar: number; unpacked: number };
}

async function sizeOf(path: string): Promise<{ bytes: number; files: number }> {
  const info = await stat(path);
  if (!info.isDirectory()) return { bytes: info.size, files: 1 };
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
    files += 1;
  }
  return { bytes, files };
}

async function listFiles(path: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.push(`/${relative(path, join(entry.parentPath, entry.name)).split(sep).join('/')}`);
  }
  return out;
}

/** A folder electron-builder accepts as an unpacked Electron (`electronDist`) for `--linux dir`. */
async function makeStandInElectron(directory: string): Promise<void> {
  await mkdir(join(directory, 'resources'), { recursive: true });
  await writeFile(join(directory, 'electron'), '#!/bin/sh\necho "stand-in Electron (packaging check)"\n');
  await chmod(join(directory, 'electron'), 0o755);
  await writeFile(join(directory, 'version'), `v${ELECTRON_VERSION}`);
}

async function sevenZip(): Promise<string> {
  const { path7za } = require('7zip-bin') as { path7za: string };
  await chmod(path7za, 0o755); // npm does not keep its mode on every install
  return path7za;
}

/** Loads sharp's native binding and libvips from app.asar.unpacked in a plain Node process. */
async function loadSharpFromUnpacked(unpacked: string, extracted: string): Promise<string> {
  const sharp = (await import('sharp')).default;
  const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 255, g: 128, b: 0 } } }).png().toBuffer();
  const script = `
    const { readFileSync } = require('node:fs');
    const sharp = require(${JSON.stringify(join(unpacked, 'node_modules', 'sharp'))});
    const png = Buffer.from(${JSON.stringify(png.toString('base64'))}, 'base64');
    sharp(png).raw().toBuffer({ resolveWithObject: true }).then(({ data, info }) => {
      const maps = readFileSync('/proc/self/maps', 'utf8');
      const loaded = [...new Set(maps.split('\\n').map((l) => l.split(/\\s+/)[5]).filter((p) => p && /sharp|vips/.test(p)))];
      process.stdout.write(JSON.stringify({ width: info.width, height: info.height, channels: info.channels, pixel: [...data.subarray(0, 3)], loaded }));
    }).catch((e) => { console.error(e); process.exit(1); });`;
  // sharp's pure-JS dependencies (detect-libc, semver, @img/colour) stay inside app.asar, where
  // Electron's patched fs finds them; plain Node finds them through NODE_PATH in an extraction.
  const { stdout } = await run(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_PATH: join(extracted, 'node_modules') },
    timeout: 60_000,
  });
  return stdout;
}

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of readdirSync(path, { withFileTypes: true })) newest = Math.max(newest, newestMtime(join(path, entry.name)));
  return newest;
}

/**
 * Builds dist/ as `npm run dist` does. The renderer is rebuilt only when older than its sources
 * (the rule of test/e2e/harness.ts), into a side folder swapped in by rename, so the end-to-end
 * tests that serve dist/renderer in parallel never see it half-written or emptied.
 */
async function buildDist(): Promise<void> {
  const options = { cwd: ROOT, timeout: 300_000, maxBuffer: 1 << 26 };
  const target = join(ROOT, 'dist', 'renderer');
  const sources = Math.max(newestMtime(join(ROOT, 'renderer')), newestMtime(join(ROOT, 'shared')), newestMtime(join(ROOT, 'vite.config.ts')));
  const index = join(target, 'index.html');
  if (!existsSync(index) || statSync(index).mtimeMs <= sources) {
    const side = `${target}.pack-${process.pid}`;
    await run(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn', '--emptyOutDir', '--outDir', side], options);
    const old = `${target}.old-${process.pid}`;
    if (existsSync(target)) await rename(target, old);
    await rename(side, target);
    await rm(old, { recursive: true, force: true });
  }
  // After the renderer, as in `npm run dist`: it also writes the compute page into dist/renderer (issue 8).
  await run('npm', ['run', '-s', 'build:electron'], options);
}

export async function packCheck(options: { build: boolean; tar: boolean; keep: boolean }): Promise<PackReport> {
  const started = Date.now();
  const failures: string[] = [];
  const check = (ok: boolean, message: string): void => { if (!ok) failures.push(message); };

  const work = await mkdtemp(join(tmpdir(), 'moco-pack-'));
  const standIn = join(work, 'electron-dist');
  const output = join(work, 'out');
  await makeStandInElectron(standIn);
  if (options.build) await buildDist();
  const project = ROOT;
  const targets = options.tar ? ['dir', 'tar.gz'] : ['dir'];
  try {
    await run(join(ROOT, 'node_modules', '.bin', 'electron-builder'), [
      '--projectDir', project,
      '--linux', ...targets, '--x64', '--publish', 'never',
      `-c.electronDist=${standIn}`, `-c.electronVersion=${ELECTRON_VERSION}`, `-c.directories.output=${output}`,
    ], {
      cwd: project,
      env: { ...process.env, ELECTRON_BUILDER_7ZIP_PATH: await sevenZip(), ELECTRON_SKIP_BINARY_DOWNLOAD: '1', CSC_IDENTITY_AUTO_DISCOVERY: 'false' },
      timeout: 600_000,
      maxBuffer: 1 << 26,
    });

    const appDir = join(output, 'linux-unpacked');
    const asarPath = join(appDir, 'resources', 'app.asar');
    const unpacked = join(appDir, 'resources', 'app.asar.unpacked');
    const asar = require('@electron/asar') as AsarModule;
    const inAsar = asar.listPackage(asarPath, { isPack: false }).map((p) => p.split(sep).join('/'));
    const inAsarSet = new Set(inAsar);
    const unpackedFiles = await listFiles(unpacked);
    const all = [...inAsar, ...unpackedFiles];

    // The bundles.
    for (const file of ['/dist/electron/main.js', '/dist/electron/preload.cjs', '/dist/electron/compute-preload.cjs', '/dist/trainer/entry.js', '/dist/renderer/index.html', '/dist/renderer/compute.html', '/dist/renderer/compute.js', '/package.json']) {
      check(inAsarSet.has(file), `app.asar lacks ${file}`);
    }
    check(inAsar.some((p) => /^\/dist\/renderer\/assets\/.+\.js$/.test(p)), 'app.asar lacks the renderer bundle (dist/renderer/assets/*.js)');
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>; devDependencies?: Record<string, string>; optionalDependencies?: Record<string, string>;
    };

    // Native modules: unpacked, and loadable from there.
    check(unpackedFiles.some((p) => p === '/node_modules/sharp/package.json'), 'sharp is not in app.asar.unpacked');
    check(unpackedFiles.some((p) => /^\/node_modules\/@img\/sharp-[^/]+\/lib\/sharp-.+\.node$/.test(p)), "sharp's native binding is not in app.asar.unpacked");
    check(unpackedFiles.some((p) => /^\/node_modules\/@img\/sharp-libvips-[^/]+\/lib\/libvips-cpp\./.test(p)), 'libvips is not in app.asar.unpacked');
    for (const wasm of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
      check(unpackedFiles.includes(`/node_modules/@tensorflow/tfjs-backend-wasm/dist/${wasm}`), `${wasm} is not in app.asar.unpacked`);
    }
    const gpuInstalled = await stat(join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node-gpu', 'package.json')).then(() => true, () => false);
    if (gpuInstalled) {
      check(unpackedFiles.some((p) => p.startsWith('/node_modules/@tensorflow/tfjs-node-gpu/') && p.endsWith('.node')), "tfjs-node-gpu's binding is not in app.asar.unpacked");
      check(!inAsar.some((p) => p.startsWith('/node_modules/@tensorflow/tfjs-node-gpu/') && /\.(node|so(\.\d+)*|dll|dylib)$/.test(p) && !unpackedFiles.includes(p)),
        'a tfjs-node-gpu native file is packed inside app.asar');
    }
    const packedNative = inAsar.filter((p) => /\.(node|so(\.\d+)*|dll|dylib)$/.test(p) && !unpackedFiles.includes(p));
    check(packedNative.length === 0, `native files packed inside app.asar (cannot load from there): ${packedNative.slice(0, 5).join(', ')}`);

    const extracted = join(work, 'extracted');
    asar.extractAll(asarPath, extracted);
    try {
      const result = JSON.parse(await loadSharpFromUnpacked(unpacked, extracted)) as { width: number; height: number; channels: number; pixel: number[]; loaded: string[] };
      check(result.width === 2 && result.height === 2 && result.channels === 3 && result.pixel.join() === '255,128,0', `sharp decoded the test PNG wrongly: ${JSON.stringify(result)}`);
      const fromUnpacked = (pattern: RegExp): boolean => result.loaded.some((p) => p.startsWith(unpacked) && pattern.test(p));
      check(fromUnpacked(/sharp-[^/]+\.node$/), `sharp's binding was not loaded from app.asar.unpacked: ${result.loaded.join(', ')}`);
      check(fromUnpacked(/libvips-cpp/), `libvips was not loaded from app.asar.unpacked: ${result.loaded.join(', ')}`);
    } catch (error) {
      failures.push(`sharp does not load from app.asar.unpacked: ${error instanceof Error ? error.message : String(error)}`);
    }

    // Nothing that only development needs.
    const production = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]);
    const devOnly = [...Object.keys(pkg.devDependencies ?? {}), 'vitest', 'vite', 'typescript', 'eslint', 'electron', 'playwright-core', 'esbuild', 'tsx']
      .filter((name) => !production.has(name) || name === 'tsx');
    for (const name of new Set(devOnly)) {
      check(!all.some((p) => p.startsWith(`/node_modules/${name}/`) || p.includes(`/node_modules/${name}/package.json`)), `dev dependency ${name} is in the package`);
    }
    const strays = all.filter((p) => /\.map$/.test(p) || (/\.(ts|mts|cts)$/.test(p)) || /(^|\/)(test|tests|__tests__)\//.test(p) || /^\/(main|renderer|shared|scratch|docs|\.ci)\//.test(p));
    check(strays.length === 0, `source maps, TypeScript sources, tests or sources in the package: ${strays.slice(0, 8).join(', ')}${strays.length > 8 ? ` (+${strays.length - 8})` : ''}`);

    const total = await sizeOf(appDir);
    const asarSize = await sizeOf(asarPath);
    const unpackedSize = await sizeOf(unpacked);
    const stand = await sizeOf(standIn);
    let tarGz: number | null = null;
    if (options.tar) {
      const tars = (await readdir(output)).filter((name) => name.endsWith('.tar.gz'));
      check(tars.length === 1, `expected one .tar.gz in the output, found ${tars.join(', ') || 'none'}`);
      if (tars[0]) tarGz = (await stat(join(output, tars[0]))).size;
    }
    return {
      ok: failures.length === 0,
      failures,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      appDir: options.keep ? appDir : '(removed; pass --keep)',
      bytes: { total: total.bytes, appAsar: asarSize.bytes, unpacked: unpackedSize.bytes, standInElectron: stand.bytes, tarGz },
      files: { inAsar: inAsar.length, unpacked: unpackedFiles.length },
    };
  } finally {
    if (!options.keep) await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = new Set(process.argv.slice(2));
  packCheck({ build: !args.has('--skip-build'), tar: args.has('--tar'), keep: args.has('--keep') }).then((report) => {
    for (const failure of report.failures) process.stderr.write(`pack:check: ${failure}\n`);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (!report.ok) process.exitCode = 1;
  }, (error: unknown) => {
    const detail = error as { stderr?: string; stdout?: string; message?: string };
    process.stderr.write(`pack:check failed: ${detail.message ?? String(error)}\n${detail.stdout ?? ''}${detail.stderr ?? ''}\n`);
    process.exitCode = 1;
  });
}
