/** `moco-studio train <folder>`: trains a run in a trainer process, with progress on the terminal. */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RunSummary, TrainerEvent } from '../../shared/trainer-protocol.js';
import { backendReportPath, cacheDirectory, defaultDataDirectory, runsDirectory } from '../core/data-directory.js';
import { createRun, readRunRecord, updateRunRecord } from '../core/run-store.js';
import { skippedListPath } from '../core/run-maintenance.js';
import { settingsFromFlags } from './flags.js';
import { assertFolderCanTrain, describeFolderCheck } from './train-preflight.js';
import { writeSampleDataset } from '../core/sample-dataset.js';
import { TrainerHost } from '../core/trainer-host.js';
import { settingsForInit } from './init-settings.js';
import { ProgressReporter } from './progress.js';

export const TRAIN_HELP = `Usage: moco-studio train <folder> [options]
       moco-studio train --sample [options]

Trains a MoCo encoder on the images in <folder> (recursively; subfolders name classes when present).
Unset options are chosen from the folder size and the backend; the choices are printed.

Options:
  --epochs N            training epochs
  --batch N             images per step (N)
  --image-size PX       side of the training crops
  --arch NAME           resnet18 | resnet34 | resnet50
  --width X             channel width multiplier (e.g. 0.25)
  --queue-size K        negatives in the queue (a multiple of the batch)
  --momentum m          key-encoder momentum
  --temperature T       softmax temperature
  --lr RATE             learning rate
  --preset v1|v2        MoCo v1 or v2 (MLP head, blur, cosine schedule)
  --bn-splits G         BatchNorm groups (Shuffle BN emulation)
  --crop-scale S        smallest random crop, as a fraction of the image area (v2: 0.2)
  --jitter X            colour-jitter strength, a multiple of v2's (0 = none)
  --seed N              random seed
  --checkpoint-minutes M  checkpoint every M minutes too, not only every epoch (default 5)
  --backend NAME        auto | tensorflow | wasm | cpu
  --workers W           worker threads that split each batch (wasm; default: one per core, at most 4,
                        dividing the BN groups); a resumed run may change it
  --run-dir DIR         put the run in DIR (default: <data>/runs/<time>-<folder>)
  --resume RUN          continue the run in directory RUN from its last checkpoint
  --init RUN            a new run that starts from the encoders of run RUN (e.g. moco-studio import's):
                        its architecture, width, stem, head and dim; the queue too when its shape fits
  --sample              train on the bundled sample set (written to <data>/sample on first use)
  --json                print a JSON summary on stdout when done
  -h, --help            this help

Ctrl-C stops cleanly after the current step and writes a checkpoint; press it twice to abort.`;

export { settingsFromFlags } from './flags.js';

export interface TrainOutcome {
  readonly summary: RunSummary | null;
  readonly ok: boolean;
}

export async function runTrainCommand(folderArgumentGiven: string | undefined, values: Record<string, string | boolean | undefined>): Promise<TrainOutcome> {
  const json = values.json === true;
  let folderArgument = folderArgumentGiven;
  const out = new ProgressReporter(process.stderr);
  const say = (text: string): void => { out.line(text); };
  const dataDirectory = defaultDataDirectory();
  const initFrom = typeof values.init === 'string' ? resolve(values.init) : undefined;
  const userSettings = initFrom ? await settingsForInit(settingsFromFlags(values), initFrom) : settingsFromFlags(values);

  let runDirectory: string;
  let folder: string;
  const resume = typeof values.resume === 'string';
  if (resume) {
    runDirectory = resolve(values.resume as string);
    const record = await readRunRecord(runDirectory);
    folder = record.folder;
    if (Object.keys(userSettings).length > 0 || values.sample === true || typeof values['run-dir'] === 'string' || initFrom) {
      throw new Error('--resume continues a run with the settings it started with; drop the other options (or start a new run)');
    }
    if (folderArgument && resolve(folderArgument) !== folder) throw new Error(`--resume: run ${runDirectory} trained on ${folder}, not ${resolve(folderArgument)}`);
    // Resuming a finished run would train nothing and overwrite its summary (issue 13).
    if (record.status === 'finished') throw new Error(`--resume: run ${runDirectory} has already finished (${record.settings?.epochs ?? '?'} epochs); start a new run to train longer`);
  } else {
    if (values.sample === true) {
      if (folderArgument) throw new Error('train: give either <folder> or --sample, not both');
      folderArgument = join(dataDirectory, 'sample');
      const written = await writeSampleDataset(folderArgument);
      if (written.written > 0) say(`Wrote the sample data set (${written.images} images, ${written.classes.length} classes) to ${folderArgument}`);
    }
    if (!folderArgument) throw new Error('train: missing <folder> (see moco-studio train --help)');
    folder = resolve(folderArgument);
    const info = await stat(folder).catch(() => null);
    if (!info) throw new Error(`Folder not found: ${folder}`);
    if (!info.isDirectory()) throw new Error(`Not a folder: ${folder}`);
    await assertFolderCanTrain(folder, userSettings, cacheDirectory(dataDirectory), (progress) => { out.status(describeFolderCheck(progress), progress.done); });
    const created = await createRun({ runsRoot: runsDirectory(dataDirectory), folder, userSettings, ...(typeof values['run-dir'] === 'string' ? { runDirectory: values['run-dir'] } : {}) });
    runDirectory = created.directory;
  }
  say(`${resume ? 'Resuming' : 'Training'} on ${folder}\nRun directory: ${runDirectory}`);

  // Written by the event handler below.
  const outcome: { summary: RunSummary | null; lastLoss: number | null; failedMessage: string | null } = { summary: null, lastLoss: null, failedMessage: null };
  const onEvent = (event: TrainerEvent): void => {
    switch (event.type) {
      case 'backend':
        say(`Backend: ${event.name}${event.adapter ? ` (adapter: ${[event.adapter.vendor, event.adapter.architecture].filter(Boolean).join(' ') || event.adapter.description}${event.adapter.isFallbackAdapter ? ', fallback' : ''})` : ''}${event.attempts.filter((a) => !a.ok).map((a) => `\n  ${a.name} not used: ${a.reason}`).join('')}`);
        break;
      case 'scanning':
        if (event.done) say(event.reused ? `Folder scan reused from the check (${event.files} files, ${event.folders} folders unchanged)` : `Scanned the folder: ${event.files} files, ${event.folders} folders`);
        else out.status(`Scanning the folder: ${event.files} files, ${event.folders} folders`, false);
        break;
      case 'dataset':
        say(`Images: ${event.used} used (${event.fromCache} from cache), ${event.skipped.length} skipped${event.classes.length ? `; ${event.classes.length} classes: ${event.classes.join(', ')}` : ''}`);
        for (const s of event.skipped.slice(0, 20)) say(`  skipped ${s.path}: ${s.reason}`);
        if (event.skipped.length > 20) say(`  ... and ${event.skipped.length - 20} more`);
        if (event.skipped.length > 0) say(`  every skipped file with its reason: ${skippedListPath(runDirectory)}`);
        break;
      case 'settings': {
        const s = event.settings;
        say(`Settings: ${s.architecture} x${s.widthMultiplier}, ${s.imageSize} px, batch ${s.batchSize}, K=${s.queueSize}, m=${s.keyMomentum}, T=${s.temperature}, lr ${s.learningRate}, ${s.preset}, ${s.epochs} epochs, ${s.bnSplits} BN splits${s.workers && s.workers > 1 ? `, ${s.workers} workers` : ''}`);
        break;
      }
      case 'metrics':
        outcome.lastLoss = event.metrics.loss;
        break;
      case 'progress':
        out.update({ ...event, loss: outcome.lastLoss });
        break;
      case 'plateau':
        say(`${event.message} Press Ctrl-C to stop.`);
        break;
      case 'baselines':
        say(`kNN top-1 baselines on these images: raw pixels ${(event.knnTop1Pixels * 100).toFixed(1)} %${event.knnTop1RandomInit === null ? '' : `, random init ${(event.knnTop1RandomInit * 100).toFixed(1)} %`}`);
        break;
      case 'epoch':
        say(`epoch ${event.epoch + 1}: loss ${event.meanLoss.toFixed(4)}${event.knnTop1 === null ? '' : `, kNN top-1 ${(event.knnTop1 * 100).toFixed(1)} %`} (${event.seconds.toFixed(1)} s)`);
        break;
      case 'warning':
        say(`warning: ${event.message}`);
        break;
      case 'error':
        outcome.failedMessage = event.message;
        say(`error: ${event.message}`);
        break;
      case 'done':
        outcome.summary = event.summary;
        break;
      default:
        break;
    }
  };

  const host = TrainerHost.fork(onEvent);
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      say('Stopping after this step and writing a checkpoint (Ctrl-C again to abort)...');
      host.send({ type: 'stop' });
    } else {
      host.kill();
    }
  };
  process.on('SIGINT', onSigint);
  host.send({ type: 'start', folder, runDirectory, cacheDirectory: cacheDirectory(dataDirectory), userSettings, resume, backendReport: backendReportPath(dataDirectory), ...(initFrom ? { initFrom } : {}) });
  const exit = await host.exited;
  process.off('SIGINT', onSigint);
  // A trainer that died without a word (kill -9, out of memory) cannot say so in run.json itself.
  if (exit.crashed) await updateRunRecord(runDirectory, { status: 'crashed', message: outcome.failedMessage ?? 'the trainer process ended unexpectedly' }).catch(() => undefined);
  out.finish();

  const finalSummary = outcome.summary;
  if (finalSummary) {
    say(`Done: ${finalSummary.steps} steps, ${finalSummary.imagesPerSecond.toFixed(1)} img/s, final loss ${finalSummary.finalLoss?.toFixed(4) ?? '-'}${finalSummary.knnTop1 === null ? '' : `, kNN top-1 ${(finalSummary.knnTop1 * 100).toFixed(1)} %`}${finalSummary.knnTop1AtStart === null ? '' : ` (${(finalSummary.knnTop1AtStart * 100).toFixed(1)} % at random init)`}${typeof finalSummary.knnTop1Pixels === 'number' ? `, raw pixels ${(finalSummary.knnTop1Pixels * 100).toFixed(1)} %` : ''}`);
    say(`Run: ${finalSummary.runDirectory}`);
  }
  if (json) process.stdout.write(`${JSON.stringify({ ok: !exit.crashed && outcome.failedMessage === null, error: outcome.failedMessage, ...(finalSummary ?? { runDirectory }) }, null, 2)}\n`);
  return { summary: finalSummary, ok: !exit.crashed && outcome.failedMessage === null };
}
