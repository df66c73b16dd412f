/**
 * The `moco-studio` command: train, embed, neighbours, knn, sample, serve, doctor, import, export. Wiring only: the work
 * happens in the app core and the trainer process, exactly as for the desktop app.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AppCore } from '../core/app-core.js';
import { backendReportPath, cacheDirectory, defaultDataDirectory } from '../core/data-directory.js';
import { readEmbeddings } from '../core/embeddings/embedding-store.js';
import { NeighbourIndex } from '../core/embeddings/neighbour-index.js';
import { runPaths } from '../core/run-store.js';
import { writeSampleDataset } from '../core/sample-dataset.js';
import { runTrainerJob } from '../core/trainer-jobs.js';
import { formatBackendReport } from '../ml/doctor.js';
import { isLoopback, startServer } from '../server/http-server.js';
import { assertFlagsOf, joinNegativeValues } from './flags.js';
import { INTEROP_HELP, INTEROP_OPTIONS, runExportCommand, runImportCommand } from './interop-commands.js';
import { describeListenError } from './listen-errors.js';
import { openBrowser } from './open-browser.js';
import { runTrainCommand, TRAIN_HELP } from './train-command.js';

const MAIN_HELP = `Usage: moco-studio <command> [options]

Self-supervised image embeddings with MoCo, on your own folder of images.

Commands:
  train <folder>               train a run (see moco-studio train --help)
  embed <run>                  embed every image of the run's folder with its newest checkpoint
  neighbours <run> <image>     most similar images of the folder to <image> (one of the folder or any file)
  knn <run> --train <folder> --test <folder>   weighted kNN accuracy of the run's encoder
  sample <dir>                 write the bundled sample data set (10 classes of shapes and textures)
  serve                        the app in a browser: headless server on 127.0.0.1 (see moco-studio serve --help)
  doctor                       which TensorFlow.js backends work here, why not, what to do, and how fast each trains
  import <file>                a PyTorch checkpoint (official MoCo, torchvision ResNet) as a run, without training
  export <run>                 the run as a PyTorch .pth (--format torch), or a main_moco.py DDP job (--for torchrun)

Data and runs live in ${defaultDataDirectory()} (set MOCO_STUDIO_HOME to change).
Run any command with --help for its options.`;

const HELP: Record<string, string> = {
  train: TRAIN_HELP,
  embed: 'Usage: moco-studio embed <run>\n\nEmbeds every image of the run\'s folder with the run\'s newest good checkpoint\n(query encoder, eval mode, resize + centre crop, L2-normalised) into <run>/embeddings.',
  neighbours: 'Usage: moco-studio neighbours <run> <image> [-k 10] [--json]\n\n<image> is a path inside the run\'s folder (relative or absolute) or any image file.\nNeeds the run\'s embeddings (made at the end of training, or by moco-studio embed).',
  knn: 'Usage: moco-studio knn <run> --train <folder> --test <folder> [--k 200] [--json]\n\nWeighted kNN (t=0.1, cosine) accuracy of the run\'s encoder: test images classified\nagainst train images; classes are the names of the subfolders.',
  serve: 'Usage: moco-studio serve [--port 0|N] [--host 127.0.0.1] [--no-open]\n\nServes the app (built renderer) and its API over a WebSocket, for a browser.\nPrints http://<host>:<port>/?token=<token>: the token is needed for every request.\n--port 0 (the default) picks a free port. Loopback only unless --host says otherwise\n(anyone who can reach the port and has the token can read your chosen folders).\nCtrl-C stops a training with a checkpoint first, then the server.',
  doctor: 'Usage: moco-studio doctor [--seconds 10] [--quick] [--cpu] [--json]\n\nChecks each TensorFlow.js backend (webgpu = Dawn on a GPU adapter, with the adapter named; tensorflow = @tensorflow/tfjs-node-gpu, wasm, cpu):\nwhether it loads, why not and what to do (install, CUDA 11.2 / cuDNN 8.1, platform,\nrebuild), then times a full MoCo training step of a tiny ResNet-18 (width 1/8, 32 px,\nbatch 16) on each that loads for about --seconds in all (--quick: 2 s). The pure-JavaScript\ncpu backend is not timed (one step takes ~30 s); --cpu times one step. The report is stored in the data directory\n(backend-report.json): training with --backend auto then prefers the fastest backend.\n--json prints the report as JSON on stdout (progress goes to stderr).',
  ...INTEROP_HELP,
  sample: 'Usage: moco-studio sample <dir> [--per-class 40] [--size 64] [--seed 2020]\n\nWrites the generated sample data set: one subfolder per class, PNG images.',
};

function fail(message: string): never {
  throw new Error(message);
}

async function neighbours(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<void> {
  const [runArgument, imageArgument] = positionals;
  if (!runArgument || !imageArgument) fail('neighbours: expected <run> <image> (see --help)');
  const k = Number(values.k ?? '10');
  if (!Number.isInteger(k) || k < 1) fail(`-k: expected a positive integer, got ${String(values.k)}`);
  const runDirectory = resolve(runArgument);
  const embeddings = await readEmbeddings(runPaths(runDirectory).embeddings).catch((error: unknown) => {
    fail(`${(error as Error).message}\nRun "moco-studio embed ${runArgument}" first.`);
  });
  const index = new NeighbourIndex(embeddings.matrix, embeddings.dim);
  const { readRunRecord } = await import('../core/run-store.js');
  const record = await readRunRecord(runDirectory);
  const absolute = resolve(imageArgument);
  const relativeToFolder = absolute.startsWith(`${record.folder}/`) ? absolute.slice(record.folder.length + 1) : imageArgument.replace(/\\/g, '/');
  const row = embeddings.items.findIndex((item) => item.relativePath === relativeToFolder);
  let results;
  let query: string;
  if (row >= 0) {
    results = index.neighboursOfRow(row, k);
    query = `${relativeToFolder} (in the run's folder)`;
  } else {
    const vectors = await runTrainerJob({ type: 'embed-files', runDirectory, files: [absolute] });
    const failure = vectors.failures[0];
    if (failure) fail(`${failure.path}: ${failure.reason}`);
    results = index.topK(Float32Array.from(vectors.vectors[0]!), k);
    query = `${absolute} (outside the folder)`;
  }
  const rows = results.map((r) => ({ path: embeddings.items[r.row]!.relativePath, className: embeddings.items[r.row]!.className, similarity: r.similarity }));
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ query, k, neighbours: rows }, null, 2)}\n`);
  } else {
    process.stdout.write(`Neighbours of ${query}:\n${rows.map((r, i) => `${String(i + 1).padStart(3)}. ${r.similarity.toFixed(4)}  ${r.path}`).join('\n')}\n`);
  }
}

/** The built renderer: dist/renderer at the project root (MOCO_STUDIO_RENDERER overrides, for tests). */
export function rendererDirectory(): string {
  return process.env.MOCO_STUDIO_RENDERER ?? fileURLToPath(new URL('../../dist/renderer', import.meta.url));
}

async function serve(dataDirectory: string, values: Record<string, string | boolean | undefined>): Promise<number> {
  const port = Number(values.port ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: expected 0..65535, got ${String(values.port)}`);
  const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
  const renderer = rendererDirectory();
  if (!(await stat(resolve(renderer, 'index.html')).then((s) => s.isFile(), () => false))) {
    fail(`The app is not built (${renderer}/index.html is missing): run npm run build:renderer first`);
  }
  const core = new AppCore({ dataDirectory, transport: 'websocket' });
  const server = await startServer({ port, host, core, rendererDirectory: renderer }).catch((error: unknown) => fail(describeListenError(error, host, port)));
  if (!isLoopback(host)) {
    process.stderr.write(`WARNING: listening on ${host}, not loopback: anyone who can reach port ${server.port} and learns the token can read the folders you choose and start training. Plain HTTP: the token is visible on the network.\n`);
  }
  process.stdout.write(`MoCo Studio is running at\n  ${server.url}\nData and runs: ${dataDirectory}\nCtrl-C to stop.\n`);
  if (values['no-open'] !== true) openBrowser(server.url, server.port, (text) => { process.stderr.write(text); });
  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const onSignal = (): void => {
      if (stopping) {
        process.stderr.write('Aborting.\n');
        process.exit(130);
      }
      stopping = true;
      process.stderr.write(core.activeRunId ? 'Stopping the training with a checkpoint (Ctrl-C again to abort)...\n' : 'Stopping...\n');
      void core.shutdown().finally(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        void server.close().finally(resolveStop);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${MAIN_HELP}\n`);
    return command ? 0 : 1;
  }
  const options = {
      help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' },
      epochs: { type: 'string' }, batch: { type: 'string' }, 'image-size': { type: 'string' }, arch: { type: 'string' }, width: { type: 'string' },
      'queue-size': { type: 'string' }, momentum: { type: 'string' }, temperature: { type: 'string' }, lr: { type: 'string' }, preset: { type: 'string' },
      'bn-splits': { type: 'string' }, 'crop-scale': { type: 'string' }, jitter: { type: 'string' }, seed: { type: 'string' }, backend: { type: 'string' }, 'run-dir': { type: 'string' }, resume: { type: 'string' },
      workers: { type: 'string' },
      k: { type: 'string', short: 'k' }, train: { type: 'string' }, test: { type: 'string' },
      'per-class': { type: 'string' }, size: { type: 'string' }, sample: { type: 'boolean' },
      port: { type: 'string' }, host: { type: 'string' }, 'no-open': { type: 'boolean' },
      seconds: { type: 'string' }, quick: { type: 'boolean' }, cpu: { type: 'boolean' }, 'checkpoint-minutes': { type: 'string' },
      ...INTEROP_OPTIONS,
  } as const;
  // Own keys only: "constructor" or "__proto__" is not a command (issue 13).
  if (!Object.hasOwn(HELP, command)) fail(`Unknown command "${command}"\n\n${MAIN_HELP}`);
  const valueFlags = new Set(Object.entries(options).flatMap(([name, o]) => (o.type === 'string' ? [name, ...('short' in o ? [o.short] : [])] : [])));
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(rest, valueFlags), allowPositionals: true, strict: true, options });
  } catch (error) {
    fail(`${(error as Error).message.replace(/\. To specify an option argument starting with a dash use.*$/, '')}; see moco-studio ${command} --help`);
  }
  const { values, positionals } = parsed;
  assertFlagsOf(command, values);
  if (values.help === true) {
    process.stdout.write(`${HELP[command]!}\n`);
    return 0;
  }
  const dataDirectory = defaultDataDirectory();
  switch (command) {
    case 'train': {
      const outcome = await runTrainCommand(positionals[0], values);
      return outcome.ok ? 0 : 1;
    }
    case 'embed': {
      if (!positionals[0]) fail('embed: expected <run>');
      const result = await runTrainerJob({ type: 'embed', runDirectory: resolve(positionals[0]), cacheDirectory: cacheDirectory(dataDirectory) }, (e) => {
        if (e.type === 'warning') process.stderr.write(`warning: ${e.message}\n`);
      });
      process.stdout.write(values.json === true ? `${JSON.stringify(result)}\n` : `Embedded ${result.rows} images (${result.dim} dims) into ${result.directory}\n`);
      return 0;
    }
    case 'neighbours':
      await neighbours(positionals, values);
      return 0;
    case 'knn': {
      if (!positionals[0] || typeof values.train !== 'string' || typeof values.test !== 'string') fail('knn: expected <run> --train <folder> --test <folder>');
      const k = Number(values.k ?? '200');
      if (!Number.isInteger(k) || k < 1) fail(`--k: expected a positive integer, got ${String(values.k)}`);
      const result = await runTrainerJob({ type: 'knn', runDirectory: resolve(positionals[0]), cacheDirectory: cacheDirectory(dataDirectory), trainFolder: resolve(values.train), testFolder: resolve(values.test), k }, (e) => {
        if (e.type === 'warning') process.stderr.write(`warning: ${e.message}\n`);
      });
      process.stdout.write(values.json === true ? `${JSON.stringify(result)}\n` : `kNN (k=${result.k}, ${result.classes.length} classes, ${result.trainImages} train / ${result.testImages} test images): top-1 ${(result.top1 * 100).toFixed(1)} %, top-5 ${(result.top5 * 100).toFixed(1)} %\n`);
      return 0;
    }
    case 'sample': {
      if (!positionals[0]) fail('sample: expected <dir>');
      const options: { perClass?: number; size?: number; seed?: number } = {};
      if (typeof values['per-class'] === 'string') options.perClass = Number(values['per-class']);
      if (typeof values.size === 'string') options.size = Number(values.size);
      if (typeof values.seed === 'string') options.seed = Number(values.seed);
      const result = await writeSampleDataset(resolve(positionals[0]), options);
      process.stdout.write(`Sample data set in ${result.directory}: ${result.images} images in ${result.classes.length} classes (${result.written} written)\n`);
      return 0;
    }
    case 'serve':
      return serve(dataDirectory, values);
    case 'import':
      return runImportCommand(positionals, values, dataDirectory);
    case 'export':
      return runExportCommand(positionals, values);
    case 'doctor': {
      const seconds = typeof values.seconds === 'string' ? Number(values.seconds) : values.quick === true ? 2 : 10;
      if (!Number.isFinite(seconds) || seconds < 0.5 || seconds > 300) fail(`--seconds: expected a number of seconds from 0.5 to 300, got ${String(values.seconds)}`);
      const reportPath = backendReportPath(dataDirectory);
      const { report } = await runTrainerJob({ type: 'doctor', seconds, reportPath, cpuStep: values.cpu === true }, (e) => {
        if (e.type === 'log' && values.json !== true) process.stderr.write(`${e.message}\n`);
        if (e.type === 'warning') process.stderr.write(`warning: ${e.message}\n`);
      });
      process.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : `${formatBackendReport(report)}\nReport saved to ${reportPath}\n`);
      return 0;
    }
    default:
      return fail(`Unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    process.stderr.write(`moco-studio: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
