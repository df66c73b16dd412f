/**
 * `moco-studio export <run> --for torchrun <dir>` (issue 11): hands a run to the official MoCo
 * DistributedDataParallel training (facebookresearch/moco main_moco.py, launched with
 * --multiprocessing-distributed on one or many nodes) instead of a home-made distributed trainer.
 *
 *   <dir>/data/train/<class>/<image>   symbolic links to the run's images (never copies): the
 *                                      ImageFolder main_moco.py reads from <data>/train
 *   <dir>/run-single-node.sh           one node, all its GPUs
 *   <dir>/run-node.sh                  node RANK of NODES (MASTER_ADDR, RANK from the environment)
 *   <dir>/job.json                     the flags, the global batch, what did not carry over
 *   <dir>/README.md                    the same for a person
 *
 * Flags are the names of main_moco.py's argparse (read from its source, not copied; a test checks
 * them against the real parser when a copy of the script is at hand).
 */
import { chmod, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ResolvedSettings } from '../../shared/training-settings.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import { scanImageFolder } from '../core/images/scan.js';
import { readRunRecord } from '../core/run-store.js';

export interface TorchrunJobOptions {
  readonly runDirectory: string;
  readonly directory: string;
  readonly nodes: number;
  readonly gpusPerNode: number;
  /** Images per node per step (main_moco.py's -b); default 256, the reference's. */
  readonly batchPerNode?: number;
}

export interface TorchrunJob {
  readonly directory: string;
  readonly images: number;
  readonly classes: number;
  /** main_moco.py arguments shared by every node (before the distributed ones and the data path). */
  readonly flags: string[];
  readonly globalBatch: number;
  readonly singleNode: string;
  readonly multiNode: string;
  readonly unmapped: string[];
  readonly readme: string;
}

export interface FlagMapping {
  readonly flags: string[];
  readonly globalBatch: number;
  readonly unmapped: string[];
}

/** Our settings as main_moco.py flags for `nodes` nodes of `gpusPerNode` GPUs, and what does not carry over. */
export function mainMocoFlags(settings: ResolvedSettings, nodes: number, gpusPerNode: number, batchPerNode = 256): FlagMapping {
  if (batchPerNode % gpusPerNode !== 0) throw new Error(`the batch per node ${batchPerNode} must be a multiple of --gpus-per-node ${gpusPerNode} (main_moco.py splits it evenly over the GPUs)`);
  const globalBatch = batchPerNode * nodes;
  const unmapped: string[] = [];
  // Linear scaling rule (Goyal et al. 2017), as the paper's 0.03 per 256: same rate per image as our run.
  const lr = Number(((settings.learningRate * globalBatch) / settings.batchSize).toPrecision(6));
  // main_moco.py asserts K % (global batch) == 0 at every enqueue.
  let queueSize = settings.queueSize;
  if (queueSize % globalBatch !== 0) {
    queueSize = Math.max(globalBatch, Math.ceil(queueSize / globalBatch) * globalBatch);
    unmapped.push(`K: ${settings.queueSize} is not a multiple of the global batch ${globalBatch}; the job uses K=${queueSize}`);
  }
  const flags = [
    '--arch', settings.architecture, '--epochs', String(settings.epochs), '--batch-size', String(batchPerNode), '--lr', String(lr),
    '--wd', String(settings.weightDecay), '--momentum', '0.9', '--seed', String(settings.seed),
    '--moco-dim', String(settings.dim), '--moco-k', String(queueSize), '--moco-m', String(settings.keyMomentum), '--moco-t', String(settings.temperature),
  ];
  if (settings.head === 'mlp') flags.push('--mlp');
  if (settings.preset === 'v2') flags.push('--aug-plus', '--cos');
  else flags.push('--schedule', String(Math.round(settings.epochs * 0.6)), String(Math.round(settings.epochs * 0.8)));
  unmapped.push(`learning rate: ${settings.learningRate} per ${settings.batchSize} images here, scaled linearly to ${lr} for the global batch ${globalBatch}; our default rate is higher than the paper's 0.03 per 256 because our runs are short (docs/moco.md): for a long run consider --lr ${Number(((0.03 * globalBatch) / 256).toPrecision(6))}`);
  if (settings.imageSize !== 224) unmapped.push(`image size: ${settings.imageSize} px here; main_moco.py crops 224 px (RandomResizedCrop(224) is fixed in the script)`);
  if (settings.smallImageStem) unmapped.push('small-image stem (3x3 stride-1 conv1, no max-pool): main_moco.py builds torchvision\'s ImageNet stem (7x7 stride 2 + max-pool)');
  if (settings.widthMultiplier !== 1) unmapped.push(`width multiplier ${settings.widthMultiplier}: torchvision's ResNets are full width`);
  unmapped.push(`BatchNorm groups: ${settings.bnSplits} groups of ${settings.batchSize / settings.bnSplits} here; main_moco.py normalises per GPU (${nodes * gpusPerNode} groups of ${globalBatch / (nodes * gpusPerNode)}) and shuffles keys across GPUs`);
  if (settings.preset === 'v2') unmapped.push('Gaussian blur: our sigma is scaled by imageSize/224 (docs/moco.md); main_moco.py blurs 224-px crops with sigma in [0.1, 2]');
  unmapped.push('initial weights: main_moco.py starts from random initialisation (it has no flag to start from given weights; --resume expects its own optimizer state)');
  unmapped.push('random numbers: PyTorch\'s generators, not ours; the same seed gives a different run');
  unmapped.push('kNN monitor per epoch: main_moco.py has none (evaluate with main_lincls.py, or import the checkpoint back and run moco-studio knn)');
  return { flags, globalBatch, unmapped };
}

function shellQuote(word: string): string {
  return /^[\w./:=@+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** The shell command lines: one node (all its GPUs), and node $RANK of `nodes` with node 0 at $MASTER_ADDR. */
export function mainMocoCommands(flags: readonly string[], data: string, nodes: number): { singleNode: string; multiNode: string } {
  const script = 'python main_moco.py';
  const quoted = flags.map(shellQuote).join(' ');
  return {
    singleNode: `${script} ${quoted} --dist-url tcp://localhost:10001 --multiprocessing-distributed --world-size 1 --rank 0 ${shellQuote(data)}`,
    multiNode: `${script} ${quoted} --dist-url "tcp://$MASTER_ADDR:10001" --multiprocessing-distributed --world-size ${nodes} --rank "$RANK" ${shellQuote(data)}`,
  };
}

export async function writeTorchrunJob(options: TorchrunJobOptions): Promise<TorchrunJob> {
  const record = await readRunRecord(options.runDirectory);
  const settings = record.settings;
  if (!settings) throw new Error(`Run ${options.runDirectory} has no settings yet (it never started training): nothing to hand off`);
  const directory = resolve(options.directory);
  const existing = await readdir(directory).catch(() => null);
  if (existing && existing.length > 0) throw new Error(`${directory} is not empty: choose a new folder for the job (nothing was written)`);
  const scan = await scanImageFolder(record.folder);
  if (scan.images.length === 0) throw new Error(`The run's folder ${record.folder} has no images to hand off`);
  const mapping = mainMocoFlags(settings, options.nodes, options.gpusPerNode, options.batchPerNode);
  // ImageFolder needs one subfolder per class; a folder without classes becomes one class.
  const train = join(directory, 'data', 'train');
  const classes = new Set<string>();
  for (const image of scan.images) {
    const relative = image.className === null ? `images/${image.relativePath}` : image.relativePath;
    classes.add(relative.split('/')[0]!);
    const link = join(train, ...relative.split('/'));
    await mkdir(dirname(link), { recursive: true });
    await symlink(image.path, link);
  }
  const data = join(directory, 'data');
  const { singleNode, multiNode } = mainMocoCommands(mapping.flags, data, options.nodes);
  const header = '#!/bin/sh\n# Written by MoCo Studio (moco-studio export --for torchrun). Run from a checkout of\n# https://github.com/facebookresearch/moco (main_moco.py), with PyTorch and torchvision installed.\nset -e\n';
  await writeFile(join(directory, 'run-single-node.sh'), `${header}cd "\${MOCO_DIR:-.}"\nexec ${singleNode}\n`);
  await writeFile(join(directory, 'run-node.sh'), `${header}# On each of the ${options.nodes} nodes: MASTER_ADDR=<node 0's address> RANK=<0..${options.nodes - 1}> ./run-node.sh\n: "\${MASTER_ADDR:?set MASTER_ADDR}" "\${RANK:?set RANK}"\ncd "\${MOCO_DIR:-.}"\nexec ${multiNode}\n`);
  await chmod(join(directory, 'run-single-node.sh'), 0o755);
  await chmod(join(directory, 'run-node.sh'), 0o755);
  const readme = join(directory, 'README.md');
  await writeFile(readme, `# MoCo training job for run ${record.id}

Made by \`moco-studio export --for torchrun\` for the official MoCo training script, \`main_moco.py\` of
https://github.com/facebookresearch/moco (PyTorch DistributedDataParallel, one process per GPU).

- \`data/train/\`: the run's ${scan.images.length} images as an ImageFolder of symbolic links to ${record.folder}
  (${classes.size} class folder${classes.size === 1 ? '' : 's'}); nothing was copied. Keep the links' targets where they are,
  or copy with \`cp -rL\` to another machine.
- One node (${options.gpusPerNode} GPUs): \`MOCO_DIR=/path/to/moco ./run-single-node.sh\`
- ${options.nodes} node(s): on each, \`MOCO_DIR=/path/to/moco MASTER_ADDR=<node 0> RANK=<0..${options.nodes - 1}> ./run-node.sh\`
- Global batch ${mapping.globalBatch} (\`--batch-size\` is per node: ${mapping.globalBatch / options.nodes}, ${mapping.globalBatch / options.nodes / options.gpusPerNode} per GPU).

\`\`\`sh
${singleNode}
\`\`\`

Bring the result back: \`moco-studio import checkpoint_0199.pth.tar --folder ${record.folder}\`
(the script saves \`checkpoint_%04d.pth.tar\` in its working directory every epoch).

## Settings that do not carry over
${mapping.unmapped.map((u) => `- ${u}`).join('\n')}
`);
  const job: TorchrunJob = { directory, images: scan.images.length, classes: classes.size, flags: mapping.flags, globalBatch: mapping.globalBatch, singleNode, multiNode, unmapped: mapping.unmapped, readme };
  await writeFileAtomic(join(directory, 'job.json'), `${JSON.stringify({ run: record.id, settings, ...job }, null, 2)}\n`);
  return job;
}
