/**
 * `digits data inspect`: what is in an imported dataset. Class balance, pixel statistics
 * and a grid of sample digits with their labels, drawn in the terminal with Unicode upper
 * half blocks (▀: foreground = upper pixel, background = lower pixel, ANSI 256-colour
 * greys) or, when the output is not a terminal, with shade characters (one per two
 * pixels); the same grid can be written as a PNG.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { writeFailure, writeFileAtomic } from '../atomic-file.js';
import { UserError } from '../errors.js';
import { type Dataset, type Images, type PixelDtype, type PixelScale, assertSourcesUnchanged, loadDataset } from './dataset.js';
import type { Orientation } from './orientation.js';
import { createRandom, shuffleInPlace } from './random.js';
import { listSplits, staleSplits } from './splits.js';
import { Ansis } from 'ansis';

/** 256-colour escapes for the digit grids; whether to colour at all is the caller's `color` (cli/color.ts). */
const GREYS = new Ansis(2);

export interface PixelStats {
  /** In [0, 1] units (stored values divided by the scale). */
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Share of pixels exactly 0. */
  zeroFraction: number;
  /** Share of pixels in each tenth of [0, 1] (the last bin includes 1). */
  histogram: number[];
}

export interface DatasetStats {
  datasetDir: string;
  fingerprint: string;
  width: number;
  height: number;
  dtype: PixelDtype;
  scale: PixelScale;
  orientation: Orientation;
  orientationNote: string;
  train: { rows: number; classCounts: number[]; classFractions: number[]; pixels: PixelStats | null };
  test: { rows: number; hasLabels: boolean; classCounts: number[] | null; pixels: PixelStats | null };
  splits: string[];
  /** the saved splits made for the data before a re-import (refused when used: `data split --force` makes them again) */
  staleSplits: string[];
}

export function pixelStats(images: Images, scale: number): PixelStats | null {
  if (images.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sumSquares = 0;
  let zeros = 0;
  const bins = new Array<number>(10).fill(0);
  for (let i = 0; i < images.length; i++) {
    const value = images[i] / scale;
    if (value < min) min = value;
    if (value > max) max = value;
    sum += value;
    sumSquares += value * value;
    if (value === 0) zeros++;
    bins[value >= 1 ? 9 : Math.max(0, Math.floor(value * 10))]++;
  }
  const mean = sum / images.length;
  return {
    min,
    max,
    mean,
    std: Math.sqrt(Math.max(0, sumSquares / images.length - mean * mean)),
    zeroFraction: zeros / images.length,
    histogram: bins.map((count) => count / images.length),
  };
}

function classCounts(labels: Uint8Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of labels) counts[label]++;
  return counts;
}

export function datasetStats(dataset: Dataset, splits: string[] = [], staleSplits: string[] = []): DatasetStats {
  const counts = classCounts(dataset.trainLabels);
  const rows = dataset.trainLabels.length;
  return {
    datasetDir: dataset.dir,
    fingerprint: dataset.fingerprint,
    width: dataset.width,
    height: dataset.height,
    dtype: dataset.manifest.dtype,
    scale: dataset.scale,
    orientation: dataset.orientation,
    orientationNote: dataset.manifest.orientationNote,
    train: { rows, classCounts: counts, classFractions: counts.map((count) => (rows ? count / rows : 0)), pixels: pixelStats(dataset.trainImages, dataset.scale) },
    test: {
      rows: dataset.ids.length,
      hasLabels: dataset.testLabels !== undefined,
      classCounts: dataset.testLabels ? classCounts(dataset.testLabels) : null,
      pixels: pixelStats(dataset.testImages, dataset.scale),
    },
    splits,
    staleSplits,
  };
}

/**
 * `count` row indices for a sample grid: classes in turn (0, 1, …, 9, 0, …), a seeded
 * random row of each; without labels, seeded random rows.
 */
export function pickSamples(rows: number, labels: Uint8Array | undefined, count: number, seed: number): number[] {
  const random = createRandom(seed);
  if (!labels) return Array.from(shuffleInPlace(Uint32Array.from({ length: rows }, (_, i) => i), random).subarray(0, count));
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  labels.forEach((label, row) => byClass[label].push(row));
  byClass.forEach((rowsOfClass) => shuffleInPlace(rowsOfClass, random));
  const picked: number[] = [];
  for (let round = 0; picked.length < Math.min(count, rows); round++) {
    for (const rowsOfClass of byClass) if (round < rowsOfClass.length && picked.length < count) picked.push(rowsOfClass[round]);
  }
  return picked;
}

export interface DigitTile {
  /** size × size values in [0, 1], row-major. */
  image: Float32Array;
  /** Shown above the tile in the terminal, e.g. `#1043 label 7`. */
  caption: string;
  /** Drawn in the PNG caption strip (digits, letters, `?`, `#`, `-`, `>`). */
  label: string;
  /** `original`: the PNG frames the tile (the unaugmented row among its draws). */
  mark?: 'original';
}

export function tilesFor(dataset: Dataset, set: 'train' | 'test', rows: number[]): DigitTile[] {
  const pixels = dataset.width * dataset.height;
  const images = set === 'train' ? dataset.trainImages : dataset.testImages;
  const labels = set === 'train' ? dataset.trainLabels : dataset.testLabels;
  return rows.map((row) => {
    const image = Float32Array.from(images.subarray(row * pixels, (row + 1) * pixels), (value) => value / dataset.scale);
    const label = labels ? String(labels[row]) : '?';
    const id = set === 'test' ? `id ${dataset.ids[row]}` : `#${row}`;
    return { image, caption: labels ? `${id} label ${label}` : id, label };
  });
}

/** ANSI 256-colour index for a grey in [0, 1]: 16 (black), the 24-step ramp 232–255, 231 (white). */
export function ansiGrey(value: number): number {
  const level = Math.round(Math.min(1, Math.max(0, value)) * 25);
  if (level === 0) return 16;
  if (level === 25) return 231;
  return 231 + level;
}

const SHADES = [' ', '░', '▒', '▓', '█'];

export function shadeChar(value: number): string {
  return SHADES[Math.round(Math.min(1, Math.max(0, value)) * (SHADES.length - 1))];
}

export interface GridOptions {
  size: number;
  columns: number;
  /** ANSI colours with ▀ half blocks; false: shade characters. */
  color: boolean;
  gap?: number;
}

/** Tiles that fit across `width` terminal columns. */
export function gridColumns(width: number, size: number, count: number, gap = 2): number {
  return Math.max(1, Math.min(count, Math.floor((width + gap) / (size + gap))));
}

/** The sample grid as terminal text: a caption line, then size/2 lines per tile row. */
export function renderDigitGrid(tiles: DigitTile[], options: GridOptions): string {
  const { size, columns, color } = options;
  const gap = ' '.repeat(options.gap ?? 2);
  const lines: string[] = [];
  for (let start = 0; start < tiles.length; start += columns) {
    const row = tiles.slice(start, start + columns);
    lines.push(row.map((tile) => (tile.caption.length > size ? tile.caption.slice(0, size) : tile.caption.padEnd(size))).join(gap).trimEnd());
    for (let y = 0; y < size; y += 2) {
      const parts = row.map((tile) => {
        let text = '';
        for (let x = 0; x < size; x++) {
          const top = tile.image[y * size + x];
          const bottom = y + 1 < size ? tile.image[(y + 1) * size + x] : 0;
          // Upper half block: foreground the top pixel, background the bottom one (256-colour greys).
          text += color ? GREYS.fg(ansiGrey(top)).bg(ansiGrey(bottom))('▀') : shadeChar((top + bottom) / 2);
        }
        return text;
      });
      lines.push(color ? parts.join(gap) : parts.join(gap).trimEnd());
    }
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

// 3×5 bitmap font for PNG captions (digits; letters and '-' for `digits data practice --preview`).
export const FONT: Record<string, string[]> = {
  '0': ['###', '#.#', '#.#', '#.#', '###'],
  '1': ['.#.', '##.', '.#.', '.#.', '###'],
  '2': ['###', '..#', '###', '#..', '###'],
  '3': ['###', '..#', '###', '..#', '###'],
  '4': ['#.#', '#.#', '###', '..#', '..#'],
  '5': ['###', '#..', '###', '..#', '###'],
  '6': ['###', '#..', '###', '#.#', '###'],
  '7': ['###', '..#', '.#.', '.#.', '.#.'],
  '8': ['###', '#.#', '###', '#.#', '###'],
  '9': ['###', '#.#', '###', '..#', '###'],
  '?': ['###', '..#', '.##', '...', '.#.'],
  '#': ['#.#', '###', '#.#', '###', '#.#'],
  a: ['.#.', '#.#', '###', '#.#', '#.#'],
  b: ['##.', '#.#', '##.', '#.#', '##.'],
  c: ['.##', '#..', '#..', '#..', '.##'],
  d: ['##.', '#.#', '#.#', '#.#', '##.'],
  e: ['###', '#..', '##.', '#..', '###'],
  f: ['###', '#..', '##.', '#..', '#..'],
  g: ['.##', '#..', '#.#', '#.#', '.##'],
  h: ['#.#', '#.#', '###', '#.#', '#.#'],
  i: ['###', '.#.', '.#.', '.#.', '###'],
  j: ['..#', '..#', '..#', '#.#', '.#.'],
  k: ['#.#', '#.#', '##.', '#.#', '#.#'],
  l: ['#..', '#..', '#..', '#..', '###'],
  m: ['#.#', '###', '###', '#.#', '#.#'],
  n: ['##.', '#.#', '#.#', '#.#', '#.#'],
  o: ['.#.', '#.#', '#.#', '#.#', '.#.'],
  p: ['##.', '#.#', '##.', '#..', '#..'],
  q: ['.#.', '#.#', '#.#', '##.', '.##'],
  r: ['##.', '#.#', '##.', '#.#', '#.#'],
  s: ['.##', '#..', '.#.', '..#', '##.'],
  t: ['###', '.#.', '.#.', '.#.', '.#.'],
  u: ['#.#', '#.#', '#.#', '#.#', '###'],
  v: ['#.#', '#.#', '#.#', '#.#', '.#.'],
  w: ['#.#', '#.#', '###', '###', '#.#'],
  x: ['#.#', '#.#', '.#.', '#.#', '#.#'],
  y: ['#.#', '#.#', '.#.', '.#.', '.#.'],
  z: ['###', '..#', '.#.', '#..', '###'],
  '-': ['...', '...', '###', '...', '...'],
  '>': ['#..', '.#.', '..#', '.#.', '#..'],
};

export interface PngGridOptions {
  size: number;
  columns: number;
  /** Screen pixels per image pixel. */
  zoom?: number;
}

/** The sample grid as a greyscale PNG: each tile under a strip with its label. */
export function digitGridPng(tiles: DigitTile[], options: PngGridOptions): Buffer {
  const zoom = options.zoom ?? 4;
  const font = Math.max(1, Math.round(zoom / 2));
  const gap = 2 * zoom;
  const caption = 5 * font + 2 * font;
  const tile = options.size * zoom;
  const rows = Math.ceil(tiles.length / options.columns);
  const width = gap + options.columns * (tile + gap);
  const height = gap + rows * (caption + tile + gap);
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  const data = Buffer.alloc(width * height, 40); // dark grey background between tiles
  const set = (x: number, y: number, grey: number) => {
    if (x >= 0 && x < width && y >= 0 && y < height) data[y * width + x] = grey;
  };
  tiles.forEach((item, index) => {
    const left = gap + (index % options.columns) * (tile + gap);
    const top = gap + Math.floor(index / options.columns) * (caption + tile + gap);
    // caption: label characters in white
    [...item.label].forEach((char, position) => {
      const glyph = FONT[char];
      if (!glyph) return;
      glyph.forEach((line, gy) =>
        [...line].forEach((cell, gx) => {
          if (cell !== '#') return;
          for (let dy = 0; dy < font; dy++) for (let dx = 0; dx < font; dx++) set(left + (position * 4 + gx) * font + dx, top + gy * font + dy, 255);
        }),
      );
    });
    const imageTop = top + caption;
    if (item.mark === 'original') {
      // A white frame in the gap around the tile, one zoom step wide.
      for (let i = -zoom; i < tile + zoom; i++) {
        for (let w = 1; w <= zoom; w++) {
          set(left + i, imageTop - w, 255);
          set(left + i, imageTop + tile - 1 + w, 255);
          set(left - w, imageTop + i, 255);
          set(left + tile - 1 + w, imageTop + i, 255);
        }
      }
    }
    for (let y = 0; y < options.size; y++) {
      for (let x = 0; x < options.size; x++) {
        const grey = Math.round(Math.min(1, Math.max(0, item.image[y * options.size + x])) * 255);
        for (let dy = 0; dy < zoom; dy++) for (let dx = 0; dx < zoom; dx++) set(left + x * zoom + dx, imageTop + y * zoom + dy, grey);
      }
    }
  });
  png.data = data;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}

export interface InspectOptions {
  /** Competition or dataset folder. */
  data: string;
  set: 'train' | 'test';
  count: number;
  seed: number;
}

export interface Inspection {
  dataset: Dataset;
  stats: DatasetStats;
  set: 'train' | 'test';
  samples: number[];
  tiles: DigitTile[];
}

/** Loads a dataset and gathers its statistics and a sample of digits. */
export async function inspectDataset(options: InspectOptions): Promise<Inspection> {
  if (!Number.isInteger(options.count) || options.count < 0) {
    throw new UserError(`the sample count must be a whole number ≥ 0, not ${options.count}`, { where: { flag: 'count' }, hint: 'For example --count 20.' });
  }
  await assertSourcesUnchanged(options.data);
  const dataset = await loadDataset(options.data);
  // (a split made for the data before a re-import was listed as any other until session 49)
  const stats = datasetStats(dataset, await listSplits(dataset.dir), await staleSplits(dataset.dir, dataset.fingerprint));
  const rows = options.set === 'train' ? dataset.trainLabels.length : dataset.ids.length;
  if (rows === 0 && options.count > 0) {
    throw new UserError(`the dataset has no ${options.set} rows to show`, { where: { flag: 'set' }, hint: 'Show the other set with --set train.' });
  }
  const labels = options.set === 'train' ? dataset.trainLabels : dataset.testLabels;
  const samples = pickSamples(rows, labels, options.count, options.seed);
  return { dataset, stats, set: options.set, samples, tiles: tilesFor(dataset, options.set, samples) };
}

export async function writeDigitGridPng(file: string, tiles: DigitTile[], options: PngGridOptions): Promise<void> {
  await writePngFile(file, digitGridPng(tiles, options), 'png');
}

/**
 * A PNG the user named (`--png`, `--preview`): refused unless the name ends in .png (an image
 * viewer goes by the extension, and `a.jpg` holding PNG bytes is a trap), then written
 * atomically, so a failed write leaves no half a file.
 */
export async function writePngFile(file: string, png: Uint8Array, flag: string): Promise<void> {
  assertPngName(file, flag);
  await writeFileAtomic(file, png).catch((error: Error) => {
    throw new UserError(`cannot write ${file}: ${writeFailure(error, file)}`, { where: { file, flag }, hint: 'Check that the folder exists and is writable.' });
  });
}

/** Refuses a PNG's file name that does not end in .png (checked before the work that makes the image). */
export function assertPngName(file: string, flag: string, suggested = 'grid.png'): void {
  // A folder is said to be one, with a file in it to give instead (until session 43 "afolder
  // would hold a PNG image under another name", and for `afolder/` the hint "Name it afolder/.png").
  // (a stat that fails, e.g. ENOTDIR under a file, is "not a folder": the write names that failure)
  const isFolder = (() => {
    try {
      return statSync(file, { throwIfNoEntry: false })?.isDirectory() === true;
    } catch {
      return false;
    }
  })();
  if (/[/\\]$/.test(file) || isFolder) {
    throw new UserError(`cannot write ${file}: it is a folder`, { where: { file: resolve(file), flag }, hint: `Give a file in it, e.g. --${flag} ${join(file, suggested)}.` });
  }
  if (!/\.png$/i.test(file)) {
    const stem = file.replace(/\.[^./\\]*$/, '');
    throw new UserError(`${file} would hold a PNG image under another name`, { where: { flag }, hint: `Name it ${stem}.png.` });
  }
}
