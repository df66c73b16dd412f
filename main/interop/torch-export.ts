/**
 * `moco-studio export <run> --format torch --out <file>` (issue 11): the run's newest good
 * checkpoint as a PyTorch .pth (zip format), written atomically.
 *
 * - layout `torchvision` (default): the query encoder as a torchvision ResNet state dict, fc =
 *   our head, BatchNorm num_batches_tracked = the run's steps. `torchvision.models.resnet18(
 *   num_classes=dim)` loads it with strict=True (ImageNet stem, width 1, fc head); the MLP head
 *   is fc.0/fc.2 (set `model.fc = nn.Sequential(nn.Linear(F, F), nn.ReLU(), model.fc)` first, as
 *   MoCo's builder does); the small-image stem needs conv1 = 3x3 stride 1 and maxpool = Identity.
 * - layout `moco`: main_moco.py's checkpoint {epoch, arch, state_dict} with
 *   module.encoder_q.*, module.encoder_k.*, module.queue, module.queue_ptr, which
 *   `moco.builder.MoCo` wrapped in DistributedDataParallel loads with strict=True and which
 *   main_lincls.py's --pretrained reads. No optimizer state: a continuation starts its SGD fresh.
 */
import { basename, resolve } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.js';
import { readRunRecord, runPaths } from '../core/run-store.js';
import { loadLatestCheckpoint } from '../trainer/checkpoint.js';
import type { NamedTensorData } from '../ml/training-state.js';
import { floatTensor, longTensor, torchSaveZip, type SaveValue } from './torch-save.js';
import { keyPlan, toTorchLayout, type EncoderShape } from './torch-layout.js';

export type ExportLayout = 'torchvision' | 'moco';

export interface TorchExportResult {
  readonly path: string;
  readonly layout: ExportLayout;
  readonly architecture: string;
  readonly checkpoint: string;
  readonly tensors: number;
  readonly bytes: number;
}

/** One encoder's tensors (ours, from a checkpoint) as a torchvision-named state dict, in PyTorch's key order. */
export function torchvisionStateDict(shape: EncoderShape, tensors: ReadonlyMap<string, NamedTensorData>, steps: number, prefix = ''): Map<string, SaveValue> {
  const { keys, batchNorms } = keyPlan(shape);
  const bnSet = new Set(batchNorms);
  const dict = new Map<string, SaveValue>();
  for (const plan of keys) {
    const ours = tensors.get(plan.ours);
    if (!ours) throw new Error(`the checkpoint has no tensor "${plan.ours}" (was it written by another architecture?)`);
    const expected = plan.torchShape.reduce((a, b) => a * b, 1);
    if (ours.values.length !== expected) throw new Error(`checkpoint tensor "${plan.ours}" has ${ours.values.length} values, ${plan.torch} needs ${expected}`);
    dict.set(`${prefix}${plan.torch}`, floatTensor(plan.torchShape, toTorchLayout(ours.values, plan.torchShape, plan.transform)));
    // PyTorch's BatchNorm2d state: weight, bias, running_mean, running_var, num_batches_tracked.
    const bn = plan.torch.replace(/\.running_var$/, '');
    if (bn !== plan.torch && bnSet.has(bn)) dict.set(`${prefix}${bn}.num_batches_tracked`, longTensor([], [steps]));
  }
  return dict;
}

export async function exportTorchRun(options: { runDirectory: string; out: string; layout?: ExportLayout }): Promise<TorchExportResult> {
  const runDirectory = resolve(options.runDirectory);
  const record = await readRunRecord(runDirectory);
  const settings = record.settings;
  if (!settings) throw new Error(`Run ${runDirectory} has not trained yet (no settings recorded): nothing to export`);
  const { checkpoint } = await loadLatestCheckpoint(runPaths(runDirectory).checkpoints);
  if (!checkpoint) throw new Error(`Run ${runDirectory} has no usable checkpoint to export`);
  const shape: EncoderShape = { architecture: settings.architecture, widthMultiplier: settings.widthMultiplier, smallImageStem: settings.smallImageStem, head: settings.head, dim: settings.dim };
  const part = (prefix: string): Map<string, NamedTensorData> => new Map(checkpoint.state.tensors.filter((t) => t.name.startsWith(prefix)).map((t) => [t.name.slice(prefix.length), t]));
  const steps = checkpoint.state.meta.globalStep;
  const layout = options.layout ?? 'torchvision';
  let value: SaveValue;
  if (layout === 'torchvision') {
    value = torchvisionStateDict(shape, part('query/'), steps);
  } else {
    const queue = checkpoint.state.tensors.find((t) => t.name === 'queue');
    if (!queue) throw new Error(`checkpoint ${checkpoint.path} has no queue`);
    const stateDict = new Map<string, SaveValue>([
      ...torchvisionStateDict(shape, part('query/'), steps, 'module.encoder_q.'),
      ...torchvisionStateDict(shape, part('key/'), steps, 'module.encoder_k.'),
      ['module.queue', floatTensor(queue.shape, queue.values)],
      ['module.queue_ptr', longTensor([1], [checkpoint.state.meta.moco.queuePointer])],
    ]);
    value = new Map<string, SaveValue>([['epoch', checkpoint.state.meta.epoch], ['arch', settings.architecture], ['state_dict', stateDict]]);
  }
  const bytes = torchSaveZip(value);
  const path = resolve(options.out);
  await writeFileAtomic(path, bytes);
  const count = layout === 'torchvision' ? (value as Map<string, SaveValue>).size : ((value as Map<string, SaveValue>).get('state_dict') as Map<string, SaveValue>).size;
  return { path, layout, architecture: settings.architecture, checkpoint: basename(checkpoint.path), tensors: count, bytes: bytes.length };
}
