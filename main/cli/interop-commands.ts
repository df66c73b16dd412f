/** `moco-studio import` and `moco-studio export` (issue 11): PyTorch checkpoints in and out, and the hand-off to main_moco.py. */
import { resolve } from 'node:path';
import { cacheDirectory, runsDirectory } from '../core/data-directory.js';
import { runTrainerJob } from '../core/trainer-jobs.js';
import { importTorchRun } from '../interop/import-run.js';
import { exportTorchRun } from '../interop/torch-export.js';
import { writeTorchrunJob } from '../interop/torchrun-job.js';
import { exportOtherFormat, EXPORT_FORMATS } from './export-command.js';

export const INTEROP_HELP = {
  import: `Usage: moco-studio import <file> [--folder DIR] [--name N] [--image-size PX] [--no-embed] [--json]

Imports a PyTorch checkpoint as a run, without training. Read in pure TypeScript, never executed:
  - official MoCo v1/v2 checkpoints (main_moco.py: state_dict with module.encoder_q/encoder_k,
    queue, queue_ptr; fc or MLP head), e.g. moco_v2_800ep_pretrain.pth.tar;
  - torchvision resnet18/34/50 state dicts (bare, or under "state_dict"/"model"; "module." optional),
    with the ImageNet stem or our 3x3 small-image stem.
Both torch.save formats (zip, since PyTorch 1.6, and the legacy format). The architecture is
inferred from the keys; float16/float64 become float32. A pickle that names any other Python
global (code) is refused.

--folder DIR     the images the run embeds (then neighbours and the map work at once)
--name N         names the run directory (default: the file name)
--image-size PX  size the encoder sees (default 32 for the small-image stem, 128 otherwise)
--no-embed       with --folder: do not embed now (moco-studio embed <run> later)
--json           print {runDirectory, architecture, ...} on stdout

Fine-tune it on a folder as a new run: moco-studio train <folder> --init <run>.`,
  export: `Usage: moco-studio export <run> --format csv|npy|tfjs|onnx|torch --out <path> [--layout torchvision|moco] [--json]
       moco-studio export <run> --for torchrun <dir> [--nodes N] [--gpus-per-node G] [--json]

--format csv     the run's embeddings (the rows Neighbours and the Map use): path, class, values
--format npy     the same as a float32 [rows, dim] .npy (rows in <run>/embeddings/embeddings.json order)
--format tfjs    the query encoder as a TensorFlow.js graph model: --out DIR gets model.json and
                 weights.bin (tf.loadGraphModel('file://DIR/model.json')), --out FILE.zip both zipped.
                 Input pixels [N, S, S, 3] NHWC, output the app's embedding [N, C]; BatchNorm folded.
--format onnx    the same model as ONNX (opset 13, onnxruntime): pixels [N, 3, S, S] NCHW -> embedding.
                 Pixels: RGB/255, resize the shorter side to round(S*256/224), centre crop S,
                 ImageNet mean/std. The embedding includes the run's folder standardisation when
                 the run has embeddings of its newest checkpoint (moco-studio embed <run> makes them).

--format torch   the run's newest checkpoint as a PyTorch .pth (zip format). --layout torchvision
                 (default): the query encoder as a torchvision ResNet state dict
                 (torchvision.models.resnet18(num_classes=dim).load_state_dict(..., strict=True));
                 --layout moco: main_moco.py's {epoch, arch, state_dict} with module.encoder_q/k,
                 queue and queue_ptr.
--for torchrun   a ready job for the official MoCo DDP training (main_moco.py): the run's folder
                 as an ImageFolder of symbolic links (images are never copied), the run's settings
                 as main_moco.py flags, single- and multi-node command lines, a README naming
                 every setting that does not carry over. Import the job's checkpoint back with
                 moco-studio import.`,
} as const;

export const INTEROP_OPTIONS = {
  name: { type: 'string' }, folder: { type: 'string' }, 'no-embed': { type: 'boolean' }, format: { type: 'string' }, out: { type: 'string' },
  layout: { type: 'string' }, for: { type: 'string' }, nodes: { type: 'string' }, 'gpus-per-node': { type: 'string' }, init: { type: 'string' },
} as const;

type Values = Record<string, string | boolean | undefined>;

function positiveInteger(values: Values, flag: string, fallback: number): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 1) throw new Error(`--${flag}: expected a positive integer, got ${String(raw)}`);
  return n;
}

export async function runImportCommand(positionals: readonly string[], values: Values, dataDirectory: string): Promise<number> {
  const file = positionals[0];
  if (!file) throw new Error('import: expected <file> (see moco-studio import --help)');
  const imageSize = typeof values['image-size'] === 'string' ? Number(values['image-size']) : undefined;
  const result = await importTorchRun({
    file, runsRoot: runsDirectory(dataDirectory),
    ...(typeof values.name === 'string' ? { name: values.name } : {}),
    ...(typeof values.folder === 'string' ? { folder: values.folder } : {}),
    ...(imageSize !== undefined ? { imageSize } : {}),
  });
  let embedded: { rows: number; dim: number } | null = null;
  if (typeof values.folder === 'string' && values['no-embed'] !== true) {
    const job = await runTrainerJob({ type: 'embed', runDirectory: result.runDirectory, cacheDirectory: cacheDirectory(dataDirectory) }, (e) => {
      if (e.type === 'warning') process.stderr.write(`warning: ${e.message}\n`);
    });
    embedded = { rows: job.rows, dim: job.dim };
  }
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ ...result, embedded }, null, 2)}\n`);
  } else {
    process.stdout.write(`Imported ${result.architecture} (width x${result.widthMultiplier}, ${result.smallImageStem ? 'small-image' : 'ImageNet'} stem, ${result.head === 'mlp' ? 'MLP' : 'fc'} head, dim ${result.dim}) from a ${result.format}-format ${result.layout} checkpoint\n`
      + `  key encoder: ${result.keyEncoder}; queue: ${result.queue}\nRun: ${result.runDirectory}\n`
      + (embedded ? `Embedded ${embedded.rows} images of ${result.folder}\n` : typeof values.folder === 'string' ? '' : 'No --folder: give one to embed and browse neighbours (moco-studio import <file> --folder DIR)\n'));
  }
  return 0;
}

export async function runExportCommand(positionals: readonly string[], values: Values): Promise<number> {
  const run = positionals[0];
  if (!run) throw new Error('export: expected <run> (see moco-studio export --help)');
  if (values.for !== undefined) {
    if (values.for !== 'torchrun') throw new Error(`--for: expected "torchrun", got ${String(values.for)}`);
    const directory = positionals[1] ?? (typeof values.out === 'string' ? values.out : undefined);
    if (!directory) throw new Error('export --for torchrun: expected the job directory: moco-studio export <run> --for torchrun <dir>');
    const job = await writeTorchrunJob({ runDirectory: resolve(run), directory: resolve(directory), nodes: positiveInteger(values, 'nodes', 1), gpusPerNode: positiveInteger(values, 'gpus-per-node', 8) });
    process.stdout.write(values.json === true ? `${JSON.stringify(job, null, 2)}\n` : `Wrote the torchrun job to ${job.directory} (${job.images} images linked, ${job.classes} classes)\n  single node: ${job.singleNode}\n  see ${job.readme}\n${job.unmapped.map((u) => `  not carried over: ${u}`).join('\n')}\n`);
    return 0;
  }
  if (typeof values.format !== 'string' || !EXPORT_FORMATS.includes(values.format as never)) {
    throw new Error(`export: --format ${EXPORT_FORMATS.join('|')} or --for torchrun is required (got ${values.format === undefined ? 'no --format' : `--format ${String(values.format)}`})`);
  }
  if (typeof values.out !== 'string') throw new Error(`export --format ${values.format}: --out <${values.format === 'tfjs' ? 'dir' : 'file'}> is required`);
  if (values.format !== 'torch') {
    if (values.layout !== undefined) throw new Error(`--layout is for --format torch only (got --format ${values.format})`);
    return exportOtherFormat(run, values.format as 'csv' | 'npy' | 'tfjs' | 'onnx', values.out, values.json === true);
  }
  const layout = values.layout ?? 'torchvision';
  if (layout !== 'torchvision' && layout !== 'moco') throw new Error(`--layout: expected torchvision or moco, got ${String(layout)}`);
  const result = await exportTorchRun({ runDirectory: run, out: values.out, layout: layout });
  process.stdout.write(values.json === true ? `${JSON.stringify(result, null, 2)}\n` : `Wrote ${result.path} (${result.layout} layout, ${result.architecture}, ${result.tensors} tensors, ${(result.bytes / 1e6).toFixed(1)} MB) from ${result.checkpoint}\n`);
  return 0;
}
