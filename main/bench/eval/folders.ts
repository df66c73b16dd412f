/**
 * Labelled evaluation folders built from real image collections installed by Debian packages
 * (issue 10): nobody here drew them, they differ in character, and every machine with the same
 * packages builds the same folders. Each folder is `<root>/<name>/{train,test}/<class>/*.png`;
 * the split is a hash of the *variant group* (an icon's name across sizes, one digit scan), so
 * variants of one image never straddle train and test. Built once, reused while `.complete` holds.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

export interface EvalFolder {
  readonly name: string;
  readonly train: string;
  readonly test: string;
  readonly classes: readonly string[];
  readonly trainImages: number;
  readonly testImages: number;
  readonly description: string;
}

interface Item {
  /** Variant group: all items with the same group land on the same side of the split. */
  readonly group: string;
  readonly className: string;
  readonly fileName: string;
  /** Encoded PNG. */
  readonly render: () => Promise<Buffer>;
}

interface FolderSpec {
  readonly name: string;
  readonly description: string;
  /** The Debian package(s) that provide the collection, named in the error when it is missing. */
  readonly packages: readonly string[];
  readonly collect: () => Promise<Item[]>;
}

/** Bumped when a builder changes, so cached folders are rebuilt. */
const BUILD_VERSION = 2;

/** Deterministic side of the split: about one group in three goes to test. */
export function isTestGroup(group: string): boolean {
  return createHash('sha256').update(group).digest()[0]! % 3 === 0;
}

async function listFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => join(directory, e.name)).sort();
}

/** Keeps at most `limit` groups per class, chosen by hash (not by name order, which clusters). */
function capGroups(items: Item[], limit: number): Item[] {
  const groupsByClass = new Map<string, Set<string>>();
  for (const item of items) {
    const set = groupsByClass.get(item.className) ?? new Set<string>();
    set.add(item.group);
    groupsByClass.set(item.className, set);
  }
  const kept = new Set<string>();
  for (const groups of groupsByClass.values()) {
    const ordered = [...groups].sort((a, b) => createHash('sha256').update(a).digest('hex').localeCompare(createHash('sha256').update(b).digest('hex')));
    for (const g of ordered.slice(0, limit)) kept.add(g);
  }
  return items.filter((item) => kept.has(item.group));
}

const WHITE = { r: 255, g: 255, b: 255, alpha: 1 };

/**
 * Oxygen: glossy, colourful, shaded PNG icons (clip-art with depth), classed by context; one
 * icon name at 32 to 128 px is one variant group.
 */
async function collectOxygen(): Promise<Item[]> {
  const root = '/usr/share/icons/oxygen/base';
  const sizes = ['32x32', '48x48', '64x64', '128x128'];
  const contexts = ['actions', 'apps', 'devices', 'mimetypes', 'places', 'status'];
  const items: Item[] = [];
  for (const context of contexts) {
    for (const size of sizes) {
      for (const file of await listFiles(join(root, size, context))) {
        if (!file.endsWith('.png')) continue;
        const name = basename(file, '.png');
        items.push({ group: `oxygen/${name}`, className: context, fileName: `${name}-${size}.png`, render: () => sharp(file).flatten({ background: WHITE }).png().toBuffer() });
      }
    }
  }
  return capGroups(items, 150);
}

/** Papirus: flat, colourful SVG icons (clip-art-like), classed by context, rendered at 64 px. */
async function collectPapirus(): Promise<Item[]> {
  const root = '/usr/share/icons/Papirus/64x64';
  // Papirus 20230104's 64x64 holds these four contexts; its categories/ is a link to apps/.
  const contexts = ['apps', 'devices', 'places', 'mimetypes'];
  const items: Item[] = [];
  const seen = new Set<string>();
  for (const context of contexts) {
    for (const file of await listFiles(join(root, context))) {
      if (!file.endsWith('.svg')) continue;
      const real = await realpath(file).catch(() => null);
      // Aliases are symlinks to one drawing: keep the drawing once.
      if (real === null || seen.has(real)) continue;
      seen.add(real);
      const name = basename(real, '.svg');
      items.push({ group: `papirus/${name}`, className: context, fileName: `${name}.png`, render: () => sharp(real, { density: 96 }).resize(64, 64, { fit: 'contain', background: WHITE }).flatten({ background: WHITE }).png().toBuffer() });
    }
  }
  return capGroups(items, 300);
}

/**
 * Adwaita symbolic icons: grayscale line drawings at 16 to 96 px, classed by context. The same
 * name at different sizes is one variant group.
 */
async function collectAdwaitaSymbolic(): Promise<Item[]> {
  const root = '/usr/share/icons/Adwaita';
  const sizes = ['16x16', '24x24', '32x32', '48x48', '64x64', '96x96'];
  const contexts = ['actions', 'devices', 'status', 'places', 'mimetypes', 'emotes', 'categories', 'ui', 'emblems'];
  const items: Item[] = [];
  for (const context of contexts) {
    for (const size of sizes) {
      for (const file of await listFiles(join(root, size, context))) {
        if (!file.endsWith('.symbolic.png')) continue;
        const name = basename(file, '.symbolic.png');
        items.push({ group: `adwaita/${name}`, className: context, fileName: `${name}-${size}.png`, render: () => sharp(file).flatten({ background: WHITE }).png().toBuffer() });
      }
    }
  }
  // Merge the small contexts so every class has enough names for kNN (>= 20 test images).
  const merged = items.map((item) => (['emotes', 'categories', 'ui', 'emblems', 'places', 'mimetypes'].includes(item.className) ? { ...item, className: 'other' } : item));
  return capGroups(merged, 200);
}

const DIGITS_CSV = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz';

/** scikit-learn's handwritten digits (UCI optdigits test set): 1797 grayscale 8x8 scans, 10 classes, shown 32 px. */
async function collectDigits(): Promise<Item[]> {
  const rows = gunzipSync(await readFile(DIGITS_CSV)).toString('utf8').trim().split('\n');
  return rows.map((row, index) => {
    const values = row.split(',').map(Number);
    const label = values[64]!;
    const pixels = Buffer.alloc(64);
    // 0 = white paper, 16 = full ink, as the scans.
    for (let i = 0; i < 64; i++) pixels[i] = 255 - Math.round((values[i]! / 16) * 255);
    return {
      group: `digits/${index}`,
      className: `digit-${label}`,
      fileName: `${String(index).padStart(4, '0')}.png`,
      render: () => sharp(pixels, { raw: { width: 8, height: 8, channels: 1 } }).resize(32, 32, { kernel: 'cubic' }).png().toBuffer(),
    };
  });
}

export const EVAL_FOLDERS: readonly FolderSpec[] = [
  { name: 'oxygen', description: 'Oxygen PNG icons (glossy, colourful, shaded), 6 contexts, 32-128 px, sizes of one icon on one side', packages: ['oxygen-icon-theme'], collect: collectOxygen },
  { name: 'papirus', description: 'Papirus SVG icons (flat, colourful clip-art), 4 contexts (apps, devices, places, mimetypes), 64 px', packages: ['papirus-icon-theme'], collect: collectPapirus },
  { name: 'adwaita-symbolic', description: 'Adwaita symbolic icons (grayscale line drawings, 16-96 px), 4 context classes, sizes of one icon on one side', packages: ['adwaita-icon-theme'], collect: collectAdwaitaSymbolic },
  { name: 'digits', description: 'scikit-learn handwritten digits (grayscale 8x8 scans shown at 32 px), 10 classes', packages: ['python3-sklearn'], collect: collectDigits },
];

function collectionPresent(spec: FolderSpec): boolean {
  const probes: Record<string, string> = { papirus: '/usr/share/icons/Papirus/64x64', oxygen: '/usr/share/icons/oxygen/base/48x48', digits: DIGITS_CSV, 'adwaita-symbolic': '/usr/share/icons/Adwaita/48x48' };
  const probe = probes[spec.name] ?? '/nonexistent';
  return existsSync(probe);
}

/** Builds (or reuses) the named folder under `root`; `limit` keeps that many variant groups per class (the CI form). */
export async function buildEvalFolder(root: string, name: string, limit?: number): Promise<EvalFolder> {
  const spec = EVAL_FOLDERS.find((s) => s.name === name);
  if (!spec) throw new Error(`--folders: unknown folder "${name}"; known: ${EVAL_FOLDERS.map((s) => s.name).join(', ')}`);
  if (!collectionPresent(spec)) throw new Error(`Folder "${name}" needs the Debian package ${spec.packages.join(', ')}: apt-get install -y ${spec.packages.join(' ')}`);
  const directory = join(root, limit === undefined ? name : `${name}-${limit}`);
  const marker = join(directory, '.complete');
  const stamp = JSON.stringify({ version: BUILD_VERSION, limit: limit ?? null });
  const describe = async (): Promise<EvalFolder> => {
    const classes = (await readdir(join(directory, 'train'))).sort();
    const count = async (side: string): Promise<number> => (await Promise.all(classes.map(async (c) => (await readdir(join(directory, side, c)).catch(() => [])).length))).reduce((a, b) => a + b, 0);
    return { name, train: join(directory, 'train'), test: join(directory, 'test'), classes, trainImages: await count('train'), testImages: await count('test'), description: spec.description };
  };
  if ((await readFile(marker, 'utf8').catch(() => '')) === stamp) return describe();

  await rm(directory, { recursive: true, force: true });
  let items = await spec.collect();
  // The CI form: the same number of groups in every class, still split by group.
  if (limit !== undefined) items = capGroups(items, limit);
  for (const item of items) {
    const side = isTestGroup(item.group) ? 'test' : 'train';
    const target = join(directory, side, item.className);
    await mkdir(target, { recursive: true });
    await writeFile(join(target, item.fileName), await item.render());
  }
  // Every class exists on both sides, so test labels are train labels.
  for (const c of new Set(items.map((i) => i.className))) {
    for (const side of ['train', 'test']) await mkdir(join(directory, side, c), { recursive: true });
  }
  await writeFile(marker, stamp);
  await stat(marker);
  return describe();
}
